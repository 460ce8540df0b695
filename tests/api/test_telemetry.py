"""The service's own traces and logs reach an OTLP/HTTP endpoint (a real loopback receiver) when
`MCPDIAG_OTLP_ENDPOINT` is set, without touching the OpenTelemetry globals."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from mcpdiag.api import create_app
from mcpdiag.api.telemetry import TracingMiddleware
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import asgi_client
from tests.waiting import HTTP_PATIENCE


@dataclass
class OtlpReceiver:
    """What a loopback OTLP/HTTP endpoint received, decoded."""

    url: str
    spans: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    logs: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)


def _values(attributes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in attributes:
        assert isinstance(kv, KeyValue)
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return out


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    received = OtlpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.content_types.add(self.headers["Content-Type"])
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    resource = _values(resource_spans.resource.attributes)
                    for scope in resource_spans.scope_spans:
                        received.spans.extend((resource, span) for span in scope.spans)
            elif self.path == "/v1/logs":
                logs = ExportLogsServiceRequest.FromString(body)
                for resource_logs in logs.resource_logs:
                    resource = _values(resource_logs.resource.attributes)
                    for scope in resource_logs.scope_logs:
                        received.logs.extend((resource, record) for record in scope.log_records)
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


async def test_request_spans_and_log_lines_are_exported_over_otlp(tmp_path: Path, otlp: OtlpReceiver) -> None:
    tokens = Tokens()
    acl = {"servers": {"payroll": {"users": ["paula"]}}}
    app = create_app(
        api_settings(tokens, acl, tmp_path, otlp_endpoint=otlp.url + "/"), collector_settings(tmp_path)
    )
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with asgi_client(app) as client:
        # First (the last "request refused" line below is the probe's): a token typed into a path.
        secret = "ghp_" + secrets.token_hex(18)
        in_path = await client.get(f"/api/diagnostics/{secret}", headers=tokens.header(tokens.mint("ursula")))
        assert in_path.status_code in (400, 404)
        refused = await client.get(
            "/api/mcp/payroll/diagnostics",
            headers={
                **tokens.header(tokens.mint("ursula")),
                "X-Request-ID": "otel-probe-1",
                "traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01",
            },
        )
        assert refused.status_code == 404
        logging.getLogger("mcpdiag.tests.stdlib").warning("a stdlib warning for %s", "otlp")
        logging.getLogger("some.library").warning("token %s refused", secret)
    # Leaving the lifespan shut the providers down, which exported everything buffered.

    assert otlp.content_types == {"application/x-protobuf"}
    requests = [(res, s) for res, s in otlp.spans if s.name == "GET /api/mcp/{server}/diagnostics"]
    assert len(requests) == 1, [s.name for _, s in otlp.spans]
    resource, span = requests[0]
    assert resource["service.name"] == "mcpdiag"
    assert span.kind == span.SPAN_KIND_SERVER
    assert span.trace_id.hex() == parent_trace  # the incoming traceparent is continued
    attributes = _values(span.attributes)
    assert attributes["mcpdiag.request_id"] == "otel-probe-1"
    assert attributes["http.route"] == "/api/mcp/{server}/diagnostics"
    assert attributes["http.response.status_code"] == 404
    assert attributes["url.path"] == "/api/mcp/payroll/diagnostics"
    # What a caller typed reaches the OTel backend redacted, in spans and in log records alike.
    exported = repr(otlp.spans) + repr(otlp.logs)
    assert secret not in exported and "[REDACTED" in exported

    bodies = {record.body.string_value: (res, record) for res, record in otlp.logs}
    assert "collector started" in bodies  # structlog lines of the lifespan
    resource, line = bodies["request refused"]
    assert resource["service.name"] == "mcpdiag"
    assert line.trace_id.hex() == parent_trace and line.span_id == span.span_id
    assert _values(line.attributes)["request_id"] == "otel-probe-1"
    assert line.severity_text == "INFO"
    _, stdlib = bodies["a stdlib warning for otlp"]
    assert (
        stdlib.severity_text == "WARNING" and _values(stdlib.attributes)["logger"] == "mcpdiag.tests.stdlib"
    )

    # A local provider: the process-wide one is untouched (the emitters and other apps may own it).
    assert not hasattr(trace.get_tracer_provider(), "add_span_processor")


async def test_without_an_endpoint_nothing_is_traced_or_forwarded(tmp_path: Path) -> None:
    app = create_app(api_settings(Tokens()), collector_settings(tmp_path))
    assert all(m.cls is not TracingMiddleware for m in app.user_middleware)
    root_handlers = list(logging.getLogger().handlers)
    async with asgi_client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert logging.getLogger().handlers == root_handlers


def test_the_endpoint_must_be_an_http_url() -> None:
    with pytest.raises(ValueError, match="otlp_endpoint"):
        api_settings(Tokens(), otlp_endpoint="otel-collector:4318")


async def test_an_exception_reaches_the_span_redacted(otlp: OtlpReceiver) -> None:
    """The SDK would record an exception's message and traceback on the span as they are: the middleware
    records them itself, redacted, with the status."""
    import httpx

    from mcpdiag.api.telemetry import Telemetry

    secret = "ghp_" + secrets.token_hex(18)

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError(f"upstream said Authorization: Bearer {secret}")

    telemetry = Telemetry(otlp.url)
    telemetry.start()
    try:
        transport = httpx.ASGITransport(app=TracingMiddleware(failing, telemetry), raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app", timeout=HTTP_PATIENCE
        ) as client:
            await client.get("/boom")
    finally:
        telemetry.shutdown()
    [span] = [s for _, s in otlp.spans]
    exported = repr(otlp.spans)
    assert secret not in exported and "[REDACTED" in exported
    assert span.status.code == span.status.STATUS_CODE_ERROR and "RuntimeError" in span.status.message
    assert [event.name for event in span.events] == ["exception"]
