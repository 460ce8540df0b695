"""`POST /v1/logs`: OTLP/HTTP logs from the official OpenTelemetry exporter become the right events."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from mcpdiag.collector import create_collector_app
from mcpdiag.store import EventQuery, SQLiteEventStore
from tests.collector.support import asgi_client, new_key, serve, settings_for
from tests.factories import DAY, NOW
from tests.waiting import HTTP_PATIENCE

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TS_NS = int((NOW - timedelta(hours=1)).timestamp()) * 10**9 + 123_000_000  # an hour before NOW, .123 s
RESOURCE = Resource.create({"service.name": "node-host", "host.name": "web-7", "service.version": "3.2.1"})


@dataclass
class Collector:
    url: str
    key: str
    store: SQLiteEventStore
    client: httpx.AsyncClient

    async def events(self, server: str) -> list[dict[str, Any]]:
        return (await self.store.page(EventQuery(server=server, limit=100, oldest_first=True))).items


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    key = new_key()
    store = SQLiteEventStore(tmp_path / "events.db")
    app = create_collector_app(settings_for(tmp_path, key), store)
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE) as client,
    ):
        yield Collector(url, key, store, client)
    await store.close()


def emit_records(provider: LoggerProvider, secret: str) -> None:
    logger = provider.get_logger("mcpdiag.test")
    logger.emit(
        LogRecord(
            timestamp=TS_NS,
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            severity_number=SeverityNumber.ERROR,
            body=f"upstream said 401; Authorization: Bearer {secret}",
            attributes={
                "mcp.server.name": "github",
                "mcp.diag.code": "MCP_AUTH_REQUIRED",
                "mcp.touchpoint": "oauth",
                "mcp.event.id": "otel-evt-1",
                "enduser.id": "alice",
                "mcp.transport": "streamable-http",
                "http.response.status_code": 401,
                "mcp.duration_ms": 12.5,
                "mcp.retryable": False,
                "mcp.attr.attempt": 2,
                "mcp.attr.endpoint": "/mcp",
                "unrelated.attribute": "ignored",
            },
        )
    )
    # No trace id and no timestamp: a fresh trace id and the observed time; no code: the fallback.
    logger.emit(LogRecord(severity_number=SeverityNumber.INFO, attributes={"mcp.server.name": "linear"}))
    # No server name: rejected and counted in partial_success.
    logger.emit(LogRecord(body="orphan", attributes={"mcp.diag.code": "MCP_TIMEOUT"}))


def check_first(event: dict[str, Any], secret: str) -> None:
    assert event["id"] == "otel-evt-1"
    assert event["traceId"] == f"{TRACE_ID:032x}" and event["spanId"] == f"{SPAN_ID:016x}"
    assert event["ts"] == f"{DAY}T11:00:00.123Z"
    assert (event["code"], event["touchpoint"], event["severity"]) == ("MCP_AUTH_REQUIRED", "oauth", "error")
    assert (event["userId"], event["transport"], event["httpStatus"]) == ("alice", "streamable-http", 401)
    assert event["durationMs"] == 12.5 and event["retryable"] is False
    assert event["attrs"] == {"attempt": 2, "endpoint": "/mcp"}
    assert event["source"] == {"service": "node-host", "host": "web-7", "version": "3.2.1"}
    assert event["detail"].startswith("upstream said 401") and secret not in event["detail"]
    assert "github" in event["messageSafe"]  # from the catalog


def check_second(event: dict[str, Any]) -> None:
    assert event["code"] == "MCP_INTERNAL_ERROR" and event["severity"] == "info"
    assert len(event["traceId"]) == 32 and event["traceId"] != "0" * 32 and event["spanId"] is None
    assert event["id"]


async def test_the_official_exporter_sends_protobuf_that_becomes_events(collector: Collector) -> None:
    secret = "sk-" + "a1" * 20
    exporter = OTLPLogExporter(
        endpoint=f"{collector.url}/v1/logs",
        headers={"x-api-key": collector.key},
        compression=Compression.Gzip,
    )
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    # The exporter is synchronous (requests): run it off the loop the server is serving on.
    await asyncio.to_thread(emit_records, provider, secret)
    await asyncio.to_thread(provider.force_flush)
    await asyncio.to_thread(provider.shutdown)
    [first] = await collector.events("github")
    check_first(first, secret)
    [second] = await collector.events("linear")
    check_second(second)


def otlp_json(records: Sequence[Any]) -> dict[str, Any]:
    """The OTLP/JSON form of records, from the exporter's own encoder (ids as hex, as OTLP/JSON wants)."""
    document: dict[str, Any] = json_format.MessageToDict(encode_logs(records))
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    return document


async def test_otlp_json_becomes_the_same_events_and_the_answer_is_json(collector: Collector) -> None:
    secret = "sk-" + "b2" * 20
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    emit_records(provider, secret)
    document = otlp_json(memory.get_finished_logs())
    response = await collector.client.post("/v1/logs", json=document)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 1 and "mcp.server.name" in partial["errorMessage"]
    [first] = await collector.events("github")
    check_first(first, secret)
    check_second((await collector.events("linear"))[0])


async def test_rejected_records_are_counted_in_a_protobuf_partial_success(collector: Collector) -> None:
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    emit_records(provider, "irrelevant-secret")
    body = encode_logs(memory.get_finished_logs()).SerializeToString()
    response = await collector.client.post(
        "/v1/logs", content=body, headers={"content-type": "application/x-protobuf"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 1
    assert answer.partial_success.error_message.startswith(
        "record 2: mcpdiag.server.name (or mcp.server.name, server.address): Field required"
    )


async def test_an_empty_protobuf_request_is_a_valid_export(collector: Collector) -> None:
    response = await collector.client.post(
        "/v1/logs",
        content=ExportLogsServiceRequest().SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"\xff\xff\xff\xff", "application/x-protobuf", 400, "invalid_protobuf"),
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "empty_body"),
        (b'{"resourceLogs": 5}', "application/json", 400, "invalid_body"),
        (b"x", "text/plain", 415, "unsupported_media_type"),
    ],
)
async def test_bad_otlp_bodies_get_a_4xx(
    tmp_path: Path, content: bytes, content_type: str, status: int, code: str
) -> None:
    key = new_key()
    app = create_collector_app(settings_for(tmp_path, key))
    async with asgi_client(app, key) as client:
        response = await client.post("/v1/logs", content=content, headers={"content-type": content_type})
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


async def test_otlp_needs_the_same_ingest_key(tmp_path: Path) -> None:
    app = create_collector_app(settings_for(tmp_path, new_key()))
    async with asgi_client(app, "wrong-key") as client:
        body = ExportLogsServiceRequest().SerializeToString()
        response = await client.post(
            "/v1/logs", content=body, headers={"content-type": "application/x-protobuf"}
        )
    assert response.status_code == 401


async def test_the_emitters_otlp_sink_round_trips_every_field(collector: Collector) -> None:
    """An event sent by the emitters' OtlpLogSink is stored as the event the emitter built."""
    from mcpdiag.emitters import Emitter, OtlpLogSink

    sink = OtlpLogSink(collector.url, headers={"x-api-key": collector.key})
    emitter = Emitter(sink, service="py-host", flush_interval=0.01, version="1.2.3")
    debug_id = emitter.emit(
        "MCP_TOOL_ERROR",
        server="notion",
        touchpoint="tool_call",
        user_id="alice",
        tool="search",
        transport="streamable-http",
        http_status=500,
        duration_ms=12.5,
        detail="tool raised ValueError",
        attrs={"attempt": 2, "cached": False},
    )
    assert await emitter.aflush(10)
    [stored] = await collector.events("notion")
    assert stored["traceId"] == debug_id
    expected = {
        "code": "MCP_TOOL_ERROR",
        "severity": "warning",
        "touchpoint": "tool_call",
        "userId": "alice",
        "tool": "search",
        "transport": "streamable-http",
        "httpStatus": 500,
        "durationMs": 12.5,
        "detail": "tool raised ValueError",
        "attrs": {"attempt": 2, "cached": False},
    }
    assert {k: stored[k] for k in expected} == expected
    assert stored["source"]["service"] == "py-host" and stored["source"]["version"] == "1.2.3"
    await emitter.aclose()


async def test_the_otlp_sink_carries_every_field_of_the_contract(collector: Collector) -> None:
    """Every field of `DiagnosticEvent`, set to a value that is not its default, is stored as sent: what fails
    when a field added to the contract has no carrier in a log record (`mcpdiag.emitters.otel`)."""
    from mcpdiag.emitters import DiagnosticEvent, OtlpLogSink, format_ts

    sent = DiagnosticEvent.model_validate(
        {
            "id": "01J000000000000000000OTLP1",
            "ts": NOW - timedelta(minutes=5, milliseconds=-123),  # milliseconds a float of ns cannot hold
            "server": "notion",
            "userId": "alice",
            "conversationId": "conv-1",
            "runId": "run-1",
            "touchpoint": "tool_call",
            "code": "MCP_TOOL_ERROR",
            "severity": "critical",
            "messageSafe": "notion's search tool failed",
            "detail": "tool raised ValueError",
            "retryable": True,
            "traceId": "ab" * 16,
            "spanId": "cd" * 8,
            "transport": "streamable-http",
            "tool": "search",
            "httpStatus": 502,
            "durationMs": 12.5,
            "attrs": {"attempt": 2, "cached": False},
            "source": {"service": "py-host", "host": "web-3", "version": "1.2.3"},
            "count": 7,
            "firstTs": NOW - timedelta(minutes=9, milliseconds=-1),
            "lastTs": NOW - timedelta(minutes=5, milliseconds=-123),
        }
    ).to_wire()
    defaults = DiagnosticEvent.model_construct().model_dump(mode="json", by_alias=True)
    unset = [f for f in sent if sent[f] in (defaults.get(f), None, {}) or sent[f] == {"service": None}]
    assert not unset, f"set these fields too: {unset}"
    # The same event at consecutive milliseconds (about a third of which a float of nanoseconds misses).
    start = datetime.fromisoformat(sent["ts"])
    batch = [
        {**sent, "id": f"{sent['id'][:-2]}{n:02d}", "ts": format_ts(start + timedelta(milliseconds=n))}
        for n in range(20)
    ]
    sink = OtlpLogSink(collector.url, headers={"x-api-key": collector.key})
    try:
        # The collector answers from this test's event loop: send from a thread, as the emitter's worker does.
        assert (await asyncio.to_thread(sink.send, batch)).outcome.value == "sent"
    finally:
        sink.close()
    assert await collector.events("notion") == batch


async def test_the_emitters_http_sink_delivers_to_the_collector(collector: Collector) -> None:
    """HttpSink → POST /v1/events → store: the emitter's events arrive exactly as built."""
    from mcpdiag.emitters import Emitter, HttpSink

    emitter = Emitter(
        HttpSink(collector.url, api_key=collector.key),
        service="py-host",
        flush_interval=0.01,
        coalesce_window=0,
    )
    ids = [emitter.emit("MCP_TIMEOUT", server="jira", touchpoint="connect", user_id="bob") for _ in range(25)]
    assert await emitter.aflush(10)
    stored = await collector.events("jira")
    assert sorted(e["traceId"] for e in stored) == sorted(ids)
    assert emitter.stats().sent == 25
    await emitter.aclose()


def _bytes_record(body: bytes, attribute: bytes, key: str) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.time_unix_nano = TS_NS
    record.body.bytes_value = body
    for name, value in (
        ("mcp.server.name", b"github"),
        ("mcp.attr.raw", attribute),
        (f"mcp.attr.{key}", b"x"),
    ):
        attr = record.attributes.add()
        attr.key = name
        if name == "mcp.server.name":
            attr.value.string_value = value.decode()
        else:
            attr.value.bytes_value = value
    nested = record.attributes.add()
    nested.key = "mcp.attr.list"
    nested.value.array_value.values.add().bytes_value = attribute
    return request


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_bytes_values_are_redacted_as_the_text_they_hold(collector: Collector, encoding: str) -> None:
    """OTLP `bytesValue` (body, attributes, array items, and an attribute named by a token) reaches the
    redactor as its text, not as hex no rule can read; binary bytes keep a readable escaped form."""
    token, github = "sk-ant-api03-" + secrets.token_urlsafe(40), "ghp_" + secrets.token_hex(18)
    body = f"upstream said 401; Authorization: Bearer {secrets.token_urlsafe(30)}".encode()
    request = _bytes_record(body + b"\xff\x00", f"key={token}".encode(), github)
    if encoding == "protobuf":
        response = await collector.client.post(
            "/v1/logs",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
    else:
        response = await collector.client.post("/v1/logs", json=json_format.MessageToDict(request))
    assert response.status_code == 200, response.text
    [event] = await collector.events("github")
    stored = json.dumps(event)
    for secret in (token, github, body.decode().rsplit(" ", 1)[1]):
        assert secret not in stored and secret.encode().hex() not in stored
    assert event["detail"].startswith("upstream said 401; Authorization: Bearer [REDACTED:")
    assert event["detail"].endswith("\\xff\x00")
    assert event["attrs"]["raw"] == "key=[REDACTED:anthropic_key]"
    assert event["attrs"]["list"] == json.dumps(["key=[REDACTED:anthropic_key]"])
    assert sorted(event["attrs"]) == ["[REDACTED:github_token]", "list", "raw"]


def otlp_record(server: str, body: str = "hello") -> dict[str, Any]:
    return {
        "body": {"stringValue": body},
        "attributes": [
            {"key": "mcp.server.name", "value": {"stringValue": server}},
            {"key": "mcp.attr.path", "value": {"stringValue": "/srv/\udcff"}},
        ],
    }


async def test_otlp_json_with_lone_surrogates_is_stored_with_replacement_characters(
    collector: Collector,
) -> None:
    request = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc-\udcff"}}]},
                "scopeLogs": [
                    {"logRecords": [otlp_record("github", "read /srv/\udcff"), otlp_record("plain")]}
                ],
            }
        ]
    }
    body = json.dumps(request).encode()  # `\udcff` escapes
    response = await collector.client.post(
        "/v1/logs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json()
    [event] = await collector.events("github")
    assert event["detail"] == "read /srv/\ufffd" and event["attrs"] == {"path": "/srv/\ufffd"}
    assert event["source"]["service"] == "svc-\ufffd"
    assert len(await collector.events("plain")) == 1


def protobuf_request(*resources: list[str]) -> bytes:
    """An ExportLogsServiceRequest with one resource per argument and a record per server name in it."""
    request = ExportLogsServiceRequest()
    for servers in resources:
        resource_logs = request.resource_logs.add()
        attribute = resource_logs.resource.attributes.add()
        attribute.key, attribute.value.string_value = "service.name", "node-host"
        records = resource_logs.scope_logs.add().log_records
        for server in servers:
            record = records.add()
            attribute = record.attributes.add()
            attribute.key, attribute.value.string_value = "mcp.server.name", server
            record.body.string_value = f"body of {server}"
    return request.SerializeToString()


@pytest.mark.parametrize(
    ("bad", "replacement"),
    [(b"\xff\xfe", "invalid byte"), (b"\xed\xb3\xbf", "CESU-8 surrogate"), (b"\xc3", "cut sequence")],
)
async def test_a_protobuf_record_whose_text_is_not_utf8_is_rejected_by_index_and_the_rest_stored(
    collector: Collector, bad: bytes, replacement: str
) -> None:
    body = protobuf_request(["good-a", "poison", "good-b"], ["good-c"])
    body = body.replace(b"body of poison", b"body of " + bad + b"poison"[len(bad) :])
    response = await collector.client.post(
        "/v1/logs", content=body, headers={"content-type": "application/x-protobuf"}
    )
    assert response.status_code == 200, response.text
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 1
    assert answer.partial_success.error_message.startswith("record 1: ")
    assert "UTF-8" in answer.partial_success.error_message or "utf-8" in answer.partial_success.error_message
    for server in ("good-a", "good-b", "good-c"):
        assert len(await collector.events(server)) == 1, server


async def test_a_protobuf_resource_whose_text_is_not_utf8_rejects_its_own_records_only(
    collector: Collector,
) -> None:
    body = protobuf_request(["first"], ["second-a", "second-b"], ["third"])
    marker = b"node-host"
    second = body.index(marker, body.index(marker) + 1)
    body = body[:second] + b"node\xffhost" + body[second + len(marker) :]
    response = await collector.client.post(
        "/v1/logs", content=body, headers={"content-type": "application/x-protobuf"}
    )
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_log_records == 2
    assert answer.partial_success.error_message.startswith("record 1: ")
    assert "record 2: " in answer.partial_success.error_message
    assert [len(await collector.events(s)) for s in ("first", "second-a", "second-b", "third")] == [
        1,
        0,
        0,
        1,
    ]


def export_one(collector_url: str, key: str, attributes: dict[str, Any], **record: Any) -> None:
    """One log record through the official OTLP/HTTP exporter (protobuf)."""
    exporter = OTLPLogExporter(endpoint=f"{collector_url}/v1/logs", headers={"x-api-key": key})
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("mcpdiag.test").emit(
        LogRecord(timestamp=TS_NS, severity_number=SeverityNumber.ERROR, attributes=attributes, **record)
    )
    provider.shutdown()


SEMCONV = {
    "mcp.method.name": "tools/call",
    "mcp.session.id": "191c4850af6c49e08843a3f6c80e5046",
    "mcp.protocol.version": "2025-06-18",
    "jsonrpc.request.id": "42",
    "rpc.response.status_code": "-32602",
    "server.address": "mcp.example.com",
    "server.port": 443,
}


async def test_vendor_names_and_semantic_conventions_become_the_event(collector: Collector) -> None:
    first, last = f"{DAY}T10:59:50.000Z", f"{DAY}T11:00:00.123Z"
    attributes = {
        **SEMCONV,
        "mcpdiag.server.name": "github",
        "mcpdiag.code": "MCP_TOOL_ERROR",
        "mcpdiag.severity": "warning",
        "mcpdiag.event.id": "otel-vendor-1",
        "mcpdiag.conversation.id": "conv-9",
        "mcpdiag.run.id": "run-3",
        "mcpdiag.transport": "streamable-http",
        "mcpdiag.duration_ms": 8.25,
        "mcpdiag.retryable": False,
        "mcpdiag.message_safe": "The search tool on github reported an error.",
        "mcpdiag.count": 7,
        "mcpdiag.first_ts": first,
        "mcpdiag.last_ts": last,
        "mcpdiag.attr.attempt": 3,
        "gen_ai.tool.name": "search",
        "user.id": "alice",
        "error.type": "tool_error",
        "network.transport": "tcp",
        "http.response.status_code": 200,
    }
    await asyncio.to_thread(export_one, collector.url, collector.key, attributes)
    [event] = await collector.events("github")
    assert (event["id"], event["code"], event["severity"], event["touchpoint"]) == (
        "otel-vendor-1",
        "MCP_TOOL_ERROR",
        "warning",
        "tool_call",  # from mcp.method.name
    )
    assert (event["tool"], event["userId"], event["conversationId"], event["runId"]) == (
        "search",
        "alice",
        "conv-9",
        "run-3",
    )
    assert (event["transport"], event["durationMs"], event["httpStatus"]) == ("streamable-http", 8.25, 200)
    assert event["messageSafe"] == "The search tool on github reported an error."
    assert (event["count"], event["firstTs"], event["lastTs"]) == (7, first, last)
    # What the event has no field for stays in attrs, under the conventions' names.
    assert event["attrs"] == {"attempt": 3, "error.type": "tool_error", **SEMCONV}


async def test_a_record_with_only_semantic_conventions_is_understood(collector: Collector) -> None:
    attributes = {
        "server.address": "files.internal",
        "mcp.method.name": "initialize",
        "error.type": "MCP_PROCESS_EXITED",
        "network.transport": "pipe",
        "enduser.id": "bob",
    }
    await asyncio.to_thread(export_one, collector.url, collector.key, attributes)
    [event] = await collector.events("files.internal")
    assert (event["code"], event["touchpoint"], event["transport"], event["userId"]) == (
        "MCP_PROCESS_EXITED",
        "connect",
        "stdio",
        "bob",
    )
    assert event["attrs"] == {"server.address": "files.internal", "mcp.method.name": "initialize"}


@pytest.mark.parametrize(
    ("old", "new", "field", "old_value", "new_value"),
    [
        ("mcp.server.name", "mcpdiag.server.name", "server", "old-name", "new-name"),
        ("mcp.diag.code", "mcpdiag.code", "code", "MCP_TIMEOUT", "MCP_DNS_FAILURE"),
        ("mcp.touchpoint", "mcpdiag.touchpoint", "touchpoint", "oauth", "transport"),
        ("mcp.severity", "mcpdiag.severity", "severity", "warning", "critical"),
        ("mcp.event.id", "mcpdiag.event.id", "id", "old-id-1", "new-id-1"),
        ("mcp.tool.name", "gen_ai.tool.name", "tool", "old_tool", "new_tool"),
        ("enduser.id", "user.id", "userId", "old-user", "new-user"),
        ("mcp.transport", "mcpdiag.transport", "transport", "sse", "websocket"),
        ("mcp.duration_ms", "mcpdiag.duration_ms", "durationMs", 1.5, 2.5),
        ("mcp.attr.k", "mcpdiag.attr.k", "attrs", "old", "new"),
    ],
)
async def test_the_new_name_wins_over_an_earlier_releases_name_in_either_order(
    collector: Collector, old: str, new: str, field: str, old_value: Any, new_value: Any
) -> None:
    base = {"mcpdiag.server.name": "order-test"} if field != "server" else {}
    for n, pairs in enumerate([[(old, old_value), (new, new_value)], [(new, new_value), (old, old_value)]]):
        attributes = (
            {**base, "mcpdiag.event.id": f"order-{n}", **dict(pairs)}
            if field != "id"
            else {
                **base,
                **dict(pairs),
            }
        )
        await asyncio.to_thread(export_one, collector.url, collector.key, attributes)
    server = "new-name" if field == "server" else "order-test"
    events = await collector.events(server)
    assert len(events) == 2 if field != "id" else len(events) == 1
    for event in events:
        got = event["attrs"]["k"] if field == "attrs" else event[field]
        assert got == new_value, (field, event)


def test_the_otlp_sink_sends_our_attributes_and_the_conventions_beside_them() -> None:
    from mcpdiag.emitters.sinks import log_attributes

    event = {
        "id": "e1",
        "server": "github",
        "code": "MCP_TIMEOUT",
        "severity": "error",
        "touchpoint": "tool_call",
        "userId": "alice",
        "tool": "search",
        "transport": "stdio",
        "httpStatus": None,
        "count": 3,
        "firstTs": "2026-11-21T10:00:00.000Z",
        "lastTs": "2026-11-21T10:00:09.000Z",
        "attrs": {"mcp.session.id": "abc", "attempt": 2},
    }
    attributes = log_attributes(event)
    assert {k: v for k, v in attributes.items() if k.startswith("mcpdiag.")} == {
        "mcpdiag.event.id": "e1",
        "mcpdiag.server.name": "github",
        "mcpdiag.code": "MCP_TIMEOUT",
        "mcpdiag.severity": "error",
        "mcpdiag.touchpoint": "tool_call",
        "mcpdiag.transport": "stdio",
        "mcpdiag.count": 3,
        "mcpdiag.first_ts": "2026-11-21T10:00:00.000Z",
        "mcpdiag.last_ts": "2026-11-21T10:00:09.000Z",
        "mcpdiag.attr.attempt": 2,
    }
    assert {k: v for k, v in attributes.items() if not k.startswith("mcpdiag.")} == {
        "gen_ai.tool.name": "search",
        "user.id": "alice",
        "enduser.id": "alice",
        "error.type": "MCP_TIMEOUT",
        "network.transport": "pipe",
        "mcp.session.id": "abc",
    }
    lifecycle = log_attributes({**event, "code": "MCP_CONNECTED", "severity": "info", "count": 1})
    assert "error.type" not in lifecycle and "mcpdiag.count" not in lifecycle


def test_error_type_names_the_code_of_every_event_at_warning_or_worse_and_of_no_other() -> None:
    """The convention's `error.type`: the class of error an operation ended with. Every code at every
    severity: a warning or worse carries its code (a connection a host reported dropped at error included,
    and a tool's own error, which ended the call in error); an informational event carries none."""
    from mcpdiag.emitters import CATALOG, SEVERITY_RANK
    from mcpdiag.emitters.sinks import log_attributes

    for code in [*CATALOG, "MCP_SOMETHING_NEW"]:
        for severity, rank in SEVERITY_RANK.items():
            attributes = log_attributes({"code": code, "severity": severity, "server": "github"})
            expected = code if rank >= SEVERITY_RANK["warning"] else None
            assert attributes.get("error.type") == expected, (code, severity)


async def test_a_coalesced_follow_up_round_trips_through_the_otlp_sink(collector: Collector) -> None:
    from mcpdiag.emitters import Emitter, OtlpLogSink

    sink = OtlpLogSink(collector.url, headers={"x-api-key": collector.key})
    emitter = Emitter(sink, service="py-host", flush_interval=0.01)
    attrs = {"mcp.session.id": "s-1", "mcp.protocol.version": "2025-06-18", "attempt": 1}
    ids = [
        emitter.emit("MCP_TIMEOUT", server="jira", touchpoint="tool_call", tool="search", attrs=attrs)
        for _ in range(6)
    ]
    assert await emitter.aflush(10)
    await emitter.aclose()
    stored = sorted(await collector.events("jira"), key=lambda e: e["count"])
    assert [(e["count"], e["traceId"]) for e in stored] == [(1, ids[0]), (5, ids[-1])]
    assert stored[1]["firstTs"] <= stored[1]["lastTs"] == stored[1]["ts"]
    assert all(e["attrs"] == attrs for e in stored)  # nothing added on the way: the round trip is exact


def _many_records(count: int, *, broken: bool = False) -> ExportLogsServiceRequest | bytes:
    """`count` minimal records spread over two resources and three scopes (the limit counts them all);
    `broken`: one record's body is not UTF-8, so the request is read record by record (`_salvage`)."""
    request = ExportLogsServiceRequest()
    scopes = [request.resource_logs.add().scope_logs.add() for _ in range(2)]
    scopes.append(request.resource_logs[1].scope_logs.add())
    for i in range(count):
        record = scopes[i % 3].log_records.add()
        record.time_unix_nano = TS_NS
        attr = record.attributes.add()
        attr.key, attr.value.string_value = "mcp.server.name", "many"
    if broken:
        raw = bytearray(request.SerializeToString())
        # The first record's server name, "many" → "m\xffny": invalid UTF-8 in a string field.
        at = raw.index(b"many")
        raw[at + 1] = 0xFF
        return bytes(raw)
    return request


@pytest.mark.parametrize("encoding", ["protobuf", "json", "salvaged protobuf"])
async def test_an_otlp_request_of_more_records_than_an_ingest_request_takes_is_refused_whole(
    collector: Collector, encoding: str
) -> None:
    """`/v1/logs` takes at most `MAX_EVENTS` records, as `/v1/events` takes at most as many events: one
    more is 413 `too_many_events` before any record becomes an event (a body of 200,000 small records cost
    600 MB and 16 s), and a request at the limit is stored whole."""
    from mcpdiag.collector import MAX_EVENTS

    for count, status in ((MAX_EVENTS + 1, 413), (MAX_EVENTS, 200)):
        request = _many_records(count, broken=encoding == "salvaged protobuf")
        if isinstance(request, ExportLogsServiceRequest) and encoding == "json":
            response = await collector.client.post("/v1/logs", json=json_format.MessageToDict(request))
        else:
            body = request if isinstance(request, bytes) else request.SerializeToString()
            response = await collector.client.post(
                "/v1/logs", content=body, headers={"content-type": "application/x-protobuf"}
            )
        assert response.status_code == status, response.text[:300]
        if status == 413:
            error = response.json()["error"]
            assert error["code"] == "too_many_events" and "log records" in error["message"], error
            assert not await collector.events("many")
    stored = [event async for event in collector.store.iter(EventQuery(server="many"))]
    # Past the storm budget the rest are merged into summaries that count them: none is lost.
    assert sum(event.get("count") or 1 for event in stored) == MAX_EVENTS - (encoding == "salvaged protobuf")


async def test_a_non_finite_double_attribute_is_kept_as_its_text(collector: Collector) -> None:
    """OTLP doubles may be NaN or infinite, which JSON (and so the store) cannot hold: kept as text, the
    record stored, not refused nor written as null."""
    request = ExportLogsServiceRequest()
    record = request.resource_logs.add().scope_logs.add().log_records.add()
    record.time_unix_nano = TS_NS
    for key, value in (
        ("mcp.attr.ratio", float("nan")),
        ("mcp.attr.limit", float("-inf")),
        ("mcp.attr.ok", 0.5),
    ):
        attr = record.attributes.add()
        attr.key, attr.value.double_value = key, value
    name = record.attributes.add()
    name.key, name.value.string_value = "mcp.server.name", "doubles"
    response = await collector.client.post(
        "/v1/logs", content=request.SerializeToString(), headers={"content-type": "application/x-protobuf"}
    )
    assert response.status_code == 200, response.text
    assert not ExportLogsServiceResponse.FromString(response.content).HasField("partial_success")
    [event] = await collector.events("doubles")
    assert event["attrs"] == {"ratio": "nan", "limit": "-inf", "ok": 0.5}, event["attrs"]
