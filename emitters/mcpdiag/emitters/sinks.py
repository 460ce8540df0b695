"""Where the emitter's worker ships batches: memory, a callable, the collector over HTTP, OTLP logs."""

from __future__ import annotations

import enum
import gzip
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mcpdiag.emitters.codes import SEVERITY_RANK, Severity
from mcpdiag.emitters.otel import (
    ATTRS_PREFIX,
    FIELD_NAMES,
    NETWORK_TRANSPORTS,
    RESOURCE_FIELDS,
    SEMCONV_ATTRS,
    SEVERITY_NUMBERS,
)

logger = logging.getLogger("mcpdiag.emitters")

WireEvent = dict[str, Any]


class Outcome(enum.Enum):
    """What happened to a batch."""

    SENT = "sent"
    RETRY = "retry"
    """Not delivered, worth retrying (collector down, 429/503, timeout): the emitter keeps the batch."""
    FAILED = "failed"
    """Not delivered and never will be as-is (rejected, misconfigured): the emitter discards the batch."""


_CONTENT_REFUSALS = frozenset({400, 413, 422})
"""Statuses that may be about one event of the batch (malformed, too large, unprocessable)."""
_UNAVAILABLE = frozenset({408, 429, 502, 503, 504})
"""Statuses that say the collector (or the proxy in front of it) cannot take anything right now."""


@dataclass(frozen=True, slots=True)
class SinkResult:
    """A sink's report on one batch; sinks report, they do not raise."""

    outcome: Outcome
    retry_after: float | None = None
    error: str | None = None
    rejected: int = 0
    isolate: bool = False
    """The failure may be caused by an event of the batch, not by the receiver being unavailable (it
    answered, and refused or failed on this content): the emitter retries the batch at most `max_retries`
    times, then splits it until the event at fault is alone, and drops only that one."""

    @classmethod
    def sent(cls, rejected: int = 0) -> SinkResult:
        """The batch was delivered (`rejected` events of it were refused by the receiver)."""
        return cls(Outcome.SENT, rejected=rejected)


class Sink(Protocol):
    """Receives batches of wire events from the emitter's worker thread."""

    def send(self, events: Sequence[WireEvent]) -> SinkResult | None:
        """Deliver a batch; None means sent."""

    def close(self) -> None:
        """Release resources."""


class MemorySink:
    """Keeps every event in `.events` (camelCase wire dicts): for tests, demos and in-process use."""

    def __init__(self) -> None:
        self.events: list[WireEvent] = []
        self._lock = threading.Lock()

    def send(self, events: Sequence[WireEvent]) -> SinkResult:
        """Append the batch."""
        with self._lock:
            self.events.extend(events)
        return SinkResult.sent()

    def close(self) -> None:
        """Nothing to release."""


class CallableSink:
    """Hands each batch to `fn`; an exception from `fn` counts as a failed batch."""

    def __init__(self, fn: Callable[[list[WireEvent]], object]) -> None:
        self.fn = fn

    def send(self, events: Sequence[WireEvent]) -> SinkResult:
        """Call `fn` with the batch."""
        try:
            self.fn(list(events))
        except Exception as exc:
            return SinkResult(Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
        return SinkResult.sent()

    def close(self) -> None:
        """Nothing to release."""


class HttpSink:
    """POSTs gzip JSON batches to the collector's `/v1/events`, retrying with backoff.

    An unavailable collector (connection refused, a timeout, 408, 429, 502-504) is retried `max_attempts`
    times, then reported as `RETRY`: the emitter keeps the batch for later. An answer that may be about the
    batch's content (400, 413, 422, another 5xx) is reported at once with `isolate`, so the emitter can
    find the event at fault; other refusals (401, 403, 404, 415: misconfiguration) are `FAILED`.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.url = url if url.rstrip("/").endswith("/v1/events") else url.rstrip("/") + "/v1/events"
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self._headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-API-Key": api_key,
            "User-Agent": "mcpdiag-emitter",
        }

    def send(self, events: Sequence[WireEvent]) -> SinkResult:
        """POST the batch; retry transient failures a few times, then hand the batch back for later."""
        body = gzip.compress(json.dumps({"events": list(events)}).encode(), 5)
        result = SinkResult(Outcome.RETRY, error="not attempted")
        for attempt in range(self.max_attempts):
            result = self._post(body)
            if result.outcome is not Outcome.RETRY or result.isolate:
                return result  # a refusal about the content: the emitter narrows it down, not us
            if attempt + 1 < self.max_attempts:
                delay = result.retry_after if result.retry_after is not None else self.backoff * 2**attempt
                time.sleep(min(delay, 5.0))
        return result

    def _post(self, body: bytes) -> SinkResult:
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
                rejected = len(answer.get("rejected") or ()) if isinstance(answer, dict) else 0
                if rejected:
                    logger.warning("collector rejected %d event(s): %s", rejected, answer["rejected"][:3])
                return SinkResult.sent(rejected)
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            if status in _UNAVAILABLE:
                return SinkResult(Outcome.RETRY, retry_after=retry_after, error=f"HTTP {status}")
            if status >= 500:  # it answered, but failed on this batch: maybe one event is the cause
                return SinkResult(
                    Outcome.RETRY, retry_after=retry_after, error=f"HTTP {status}", isolate=True
                )
            return SinkResult(
                Outcome.FAILED,
                error=f"HTTP {status}: {exc.read(300)!r}",
                isolate=status in _CONTENT_REFUSALS,
            )
        except (OSError, ValueError) as exc:
            return SinkResult(Outcome.RETRY, error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Nothing to release (one connection per request)."""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class OtlpLogSink:
    """Exports events as OpenTelemetry log records (OTLP/HTTP), with the attributes `/v1/logs` expects:
    mcpdiag's own under `mcpdiag.*` and, beside them, the OpenTelemetry semantic conventions an event
    matches (`gen_ai.tool.name`, `user.id`/`enduser.id`, `http.response.status_code`, `error.type` of a
    failure, `network.transport`, and semantic-convention attrs such as `mcp.session.id` under their names).

    Needs `opentelemetry-sdk` and `opentelemetry-exporter-otlp-proto-http` (extra `server`).
    """

    def __init__(self, endpoint: str, *, headers: dict[str, str] | None = None, timeout: float = 5.0) -> None:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        self.endpoint = (
            endpoint if endpoint.rstrip("/").endswith("/v1/logs") else endpoint.rstrip("/") + "/v1/logs"
        )
        self._exporter = OTLPLogExporter(endpoint=self.endpoint, headers=headers or {}, timeout=timeout)

    def send(self, events: Sequence[WireEvent]) -> SinkResult:
        """Export the batch as one OTLP request."""
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        records = [_log_record(event) for event in events]
        result = self._exporter.export(records)
        if result is LogRecordExportResult.SUCCESS:
            return SinkResult.sent()
        return SinkResult(Outcome.RETRY, error="OTLP export failed")

    def close(self) -> None:
        """Shut the exporter down."""
        self._exporter.shutdown()  # type: ignore[no-untyped-call]


_FIELD_ATTRIBUTES = {field: names[0] for field, names in FIELD_NAMES.items()}
_FAILURE_RANK = SEVERITY_RANK["warning"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def log_attributes(event: WireEvent) -> dict[str, Any]:
    """The log-record attributes of a wire event: ours (`mcpdiag.*`) and the semantic conventions'."""
    attributes: dict[str, Any] = {}
    for field, name in _FIELD_ATTRIBUTES.items():
        value = event.get(field)
        if value is not None and not (field == "count" and value == 1):
            attributes[name] = value
    if event.get("userId") is not None:
        attributes["enduser.id"] = event["userId"]  # the convention's earlier name, for older backends
    transport = NETWORK_TRANSPORTS.get(event.get("transport") or "")
    if transport is not None:
        attributes["network.transport"] = transport
    if SEVERITY_RANK.get(str(event.get("severity")), 0) >= _FAILURE_RANK:
        # The class of error the operation ended with: any event a host sent as warning or worse (a dropped
        # connection included; a tool's own error ended its call in error too).
        attributes["error.type"] = event.get("code")
    for key, value in (event.get("attrs") or {}).items():
        if value is not None:
            attributes[key if key in SEMCONV_ATTRS else ATTRS_PREFIX + key] = value
    return attributes


def _log_record(event: WireEvent) -> Any:
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource

    attributes = log_attributes(event)
    span_id = event.get("spanId")
    context = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(
                trace_id=int(event["traceId"], 16),
                span_id=int(span_id, 16) if span_id else 0,
                is_remote=False,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
        )
    )
    # Integer arithmetic: a float of nanoseconds since 1970 cannot hold the milliseconds exactly.
    since_epoch = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")) - _EPOCH
    timestamp = since_epoch // timedelta(microseconds=1) * 1000
    severity = Severity(event["severity"])
    record = LogRecord(
        timestamp=timestamp,
        observed_timestamp=time.time_ns(),
        context=context,
        severity_text=severity.value.upper(),
        severity_number=SeverityNumber(SEVERITY_NUMBERS[severity]),
        body=event.get("detail") or "",
        attributes=attributes,
    )
    source = event.get("source") or {}
    resource = Resource.create(
        {name: source[field] for name, field in RESOURCE_FIELDS.items() if source.get(field)}
    )
    return ReadableLogRecord(log_record=record, resource=resource)
