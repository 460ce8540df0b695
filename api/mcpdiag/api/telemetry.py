"""The service's own traces and logs, exported over OTLP/HTTP when `MCPDIAG_OTLP_ENDPOINT` is set.

`Telemetry` owns a `TracerProvider` and a `LoggerProvider` of its own and never installs them as the
OpenTelemetry globals: a process can only set those once, and a host embedding the emitters (or a test
run creating many apps) may own them already. `TracingMiddleware` opens one server span per request with
the local tracer; structlog lines and stdlib log records reach the local logger provider through a
structlog processor and a logging handler that forward to every started `Telemetry`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.context import get_current
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcpdiag.collector.logging import REDACTION

SERVICE_NAME = "mcpdiag"
# Each export (retries included) gives up after this long, so shutting down with the endpoint unreachable
# takes seconds, not the exporters' default of 10 s per signal.
EXPORT_TIMEOUT_S = 5.0
REQUEST_ID_ATTRIBUTE = "mcpdiag.request_id"

_SEVERITIES = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "warn": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "exception": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}
# Keys structlog adds to every line; the OTLP record carries them as its own fields instead.
_STRUCTLOG_FIELDS = frozenset({"event", "level", "timestamp"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
_propagator = TraceContextTextMapPropagator()


class Telemetry:
    """The service's tracer and logger providers, exporting to `{endpoint}/v1/traces` and `/v1/logs`."""

    def __init__(self, endpoint: str, *, service_version: str = "0.1.0") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.service_version = service_version
        self.tracer: trace.Tracer | None = None
        self._logger: Logger | None = None
        self._tracer_provider: TracerProvider | None = None
        self._logger_provider: LoggerProvider | None = None

    @property
    def started(self) -> bool:
        """Whether the providers are up (between `start` and `shutdown`)."""
        return self.tracer is not None

    def start(self) -> None:
        """Create the providers and their batch processors, and start forwarding log lines."""
        if self.started:
            return
        # Resource.create also merges OTEL_RESOURCE_ATTRIBUTES (deployment.environment, k8s.pod.name, …).
        resource = Resource.create({"service.name": SERVICE_NAME, "service.version": self.service_version})
        self._tracer_provider = TracerProvider(resource=resource)
        self._tracer_provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"{self.endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S)
            )
        )
        self._logger_provider = LoggerProvider(resource=resource)
        self._logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                OTLPLogExporter(endpoint=f"{self.endpoint}/v1/logs", timeout=EXPORT_TIMEOUT_S)
            )
        )
        self.tracer = self._tracer_provider.get_tracer("mcpdiag.api", self.service_version)
        self._logger = self._logger_provider.get_logger("mcpdiag", self.service_version)
        _forwarding.attach(self)

    def shutdown(self) -> None:
        """Stop forwarding, export what is buffered, and shut the providers down (blocks on the network)."""
        _forwarding.detach(self)
        self.tracer = None
        self._logger = None
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
            self._tracer_provider = None
        if self._logger_provider is not None:
            self._logger_provider.shutdown()
            self._logger_provider = None

    def emit_log(
        self,
        body: str,
        level: str,
        attributes: dict[str, str | bool | int | float],
        *,
        timestamp_ns: int | None = None,
    ) -> None:
        """Hand one log record to the logger provider, tied to the current span (if any)."""
        logger = self._logger
        if logger is None:
            return
        now = time.time_ns()
        logger.emit(
            timestamp=timestamp_ns or now,
            observed_timestamp=now,
            context=get_current(),
            severity_number=_SEVERITIES.get(level.lower(), SeverityNumber.INFO),
            severity_text=level.upper(),
            body=body,
            attributes=attributes,
        )


class _Forwarding:
    """The started `Telemetry` objects log lines go to, and the hooks that feed them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active: tuple[Telemetry, ...] = ()
        self._handler = _OtlpLogHandler(self)
        self._hooked_loggers = (logging.getLogger(), logging.getLogger("uvicorn"))

    def attach(self, telemetry: Telemetry) -> None:
        with self._lock:
            self.active = (*self.active, telemetry)
            if len(self.active) == 1:
                for logger in self._hooked_loggers:
                    logger.addHandler(self._handler)
        _install_structlog_processor()

    def detach(self, telemetry: Telemetry) -> None:
        with self._lock:
            self.active = tuple(t for t in self.active if t is not telemetry)
            if not self.active:
                for logger in self._hooked_loggers:
                    logger.removeHandler(self._handler)


class _OtlpLogHandler(logging.Handler):
    """Forwards stdlib log records (uvicorn, pymongo, …) to the started `Telemetry` objects."""

    def __init__(self, forwarding: _Forwarding) -> None:
        super().__init__()
        self._forwarding = forwarding

    def emit(self, record: logging.LogRecord) -> None:
        # The exporters log their own failures; forwarding those would feed the failure back into itself.
        if record.name.startswith("opentelemetry"):
            return
        try:
            body = REDACTION.text(record.getMessage())  # any library's record, as every log line is
            attributes: dict[str, str | bool | int | float] = {"logger": record.name}
            for telemetry in self._forwarding.active:
                telemetry.emit_log(body, record.levelname, attributes, timestamp_ns=int(record.created * 1e9))
        except Exception:
            self.handleError(record)


def _forward_structlog(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor handing each line to the started `Telemetry` objects (a no-op without any)."""
    active = _forwarding.active
    if active:
        body = str(event_dict.get("event", ""))
        level = str(event_dict.get("level", method_name))
        attributes = {
            key: value if isinstance(value, str | bool | int | float) else str(value)
            for key, value in event_dict.items()
            if key not in _STRUCTLOG_FIELDS and value is not None
        }
        for telemetry in active:
            telemetry.emit_log(body, level, attributes)
    return event_dict


def _install_structlog_processor() -> None:
    processors = structlog.get_config()["processors"]
    if _forward_structlog in processors or not isinstance(processors, list):
        return
    # In place, just before the renderer: loggers cached on first use keep a reference to this very list,
    # so a new list passed to `structlog.configure` would not reach them.
    processors.insert(max(len(processors) - 1, 0), _forward_structlog)


_forwarding = _Forwarding()


class TracingMiddleware:
    """One server span per HTTP request, named `METHOD route`, continuing an incoming `traceparent`.

    Sits inside `RequestIdMiddleware`, so the span carries the request id and every log line of the
    request carries the trace id (in the JSON logs and on the exported log records).
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = self.telemetry.tracer
        if scope["type"] != "http" or tracer is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        # The path is what the caller typed (a token in it would reach the OTel backend): redacted, as logs.
        attributes: dict[str, str] = {
            "http.request.method": method,
            "url.path": REDACTION.text(scope["path"]),
        }
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            attributes[REQUEST_ID_ATTRIBUTE] = request_id
        # An exception is recorded by hand: the SDK would put its message and traceback on the span raw.
        with tracer.start_as_current_span(
            method,
            context=_propagator.extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            trace_id = format(span.get_span_context().trace_id, "032x")
            try:
                with structlog.contextvars.bound_contextvars(trace_id=trace_id):
                    await self.app(scope, receive, send_with_status)
            except Exception as exc:
                message = REDACTION.text(str(exc))
                span.record_exception(
                    exc,
                    attributes={
                        "exception.message": message,
                        "exception.stacktrace": REDACTION.text("".join(traceback.format_exception(exc))),
                    },
                )
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
                raise
            finally:
                # The route is known only once the router matched it (FastAPI puts it in the scope).
                route = getattr(scope.get("route"), "path", None)
                if route:
                    route = _CONVERTOR.sub(r"{\1}", route)  # `{server:path}` is `{server}` to a reader
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
