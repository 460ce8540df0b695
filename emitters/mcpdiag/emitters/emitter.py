"""The emitter: `emit()` on the host's hot path enqueues a small dict; a worker thread batches to a sink."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcpdiag.emitters.codes import CATALOG, SEVERITY_RANK, Severity, code_info
from mcpdiag.emitters.event import MAX_ATTRS, MAX_DETAIL, MAX_EVENT_BYTES, MAX_MESSAGE_SAFE, format_ts
from mcpdiag.emitters.ids import new_event_id
from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.sinks import Outcome, Sink, SinkResult, WireEvent

logger = logging.getLogger("mcpdiag.emitters")

_SEVERITIES = tuple(Severity)
_RETRY_PAUSE = (0.05, 2.0)
_DROPPED_EVENTS_ATTR = "mcpdiag.dropped_events"
"""The attr on a delivered event that counts the events dropped since the previous report."""

try:  # Optional: with an OpenTelemetry SDK configured, the Debug ID is the current span's trace id.
    from opentelemetry.trace import get_current_span as _get_current_span
except ImportError:  # pragma: no cover - exercised by the base-install test
    _get_current_span = None  # type: ignore[assignment]

Record = tuple[Any, ...] | dict[str, Any]
"""A queued event: a raw tuple from `emit()` (see `_RECORD_FIELDS`) or a finished wire dict."""
_RECORD_FIELDS = (
    "server",
    "touchpoint",
    "code",
    "severity",
    "messageSafe",
    "detail",
    "retryable",
    "userId",
    "conversationId",
    "runId",
    "tool",
    "transport",
    "httpStatus",
    "durationMs",
    "attrs",
    "traceId",
    "spanId",
)
_CODE_RANK = {code: info.severity.rank for code, info in CATALOG.items()}
_time_ns = time.time_ns
_getrandbits = random.getrandbits
_live: weakref.WeakSet[Emitter] = weakref.WeakSet()


def _current_ids() -> tuple[str | None, str | None]:
    if _get_current_span is None:
        return None, None
    ctx = _get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def _fresh_trace_id() -> str:
    return f"{_getrandbits(128) or 1:032x}"


def _reinit_after_fork() -> None:
    for emitter in list(_live):
        emitter._after_fork()


os.register_at_fork(after_in_child=_reinit_after_fork)


@dataclass(slots=True)
class EmitterStats:
    """Counters of an emitter since it was created."""

    queued: int = 0
    """Events waiting in the queue or in the batch being sent."""
    sent: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Severity})
    failed_batches: int = 0
    retried_batches: int = 0
    rejected: int = 0

    @property
    def dropped_total(self) -> int:
        """Events dropped for any reason (full queue, closed emitter, a sink that refused them)."""
        return sum(self.dropped.values())


class Emitter:
    """Turns diagnostics into wire events without ever slowing down or breaking the host."""

    def __init__(
        self,
        sink: Sink,
        *,
        service: str,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        known_secrets: Iterable[str] = (),
        version: str | None = None,
    ) -> None:
        self.sink = sink
        self.queue_size = max(1, queue_size)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self._source = {"service": service[:128], "host": socket.gethostname()[:256], "version": version}
        self._secrets = {s for s in known_secrets if s}
        self._redactor = Redactor(self._secrets)
        self._stats = EmitterStats()
        self._closed = False
        self._reset_state()
        _live.add(self)

    def _reset_state(self) -> None:
        # One deque per severity: a full queue sheds the lowest severity first in O(1).
        self._queues: tuple[deque[Record], ...] = tuple(deque() for _ in _SEVERITIES)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._unreported_drops = 0
        self._worker: threading.Thread | None = None
        self._closing_deadline = 0.0

    # -- the hot path -----------------------------------------------------------------------------------

    def emit(
        self,
        code: str,
        *,
        server: str,
        touchpoint: str,
        severity: str | None = None,
        message_safe: str | None = None,
        detail: str | None = None,
        retryable: bool | None = None,
        user_id: str | None = None,
        conversation_id: str | None = None,
        run_id: str | None = None,
        tool: str | None = None,
        transport: str | None = None,
        http_status: int | None = None,
        duration_ms: float | None = None,
        attrs: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
    ) -> str:
        """Queue one event and return its Debug ID (its trace id). Never raises, never does I/O."""
        span_id = None
        if trace_id is None:
            if _get_current_span is not None:
                try:
                    ctx = _get_current_span().get_span_context()
                    if ctx.is_valid:
                        trace_id, span_id = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
                except Exception:  # a broken tracer must not break the host
                    span_id = None
            if trace_id is None:
                trace_id = f"{_getrandbits(128) or 1:032x}"
        # A tuple is the cheapest record to build; the worker turns it into the wire dict.
        record = (
            _time_ns(),
            server,
            touchpoint,
            code,
            severity,
            message_safe,
            detail,
            retryable,
            user_id,
            conversation_id,
            run_id,
            tool,
            transport,
            http_status,
            duration_ms,
            attrs,
            trace_id,
            span_id,
        )
        self._enqueue(record, _CODE_RANK.get(code, 3) if severity is None else SEVERITY_RANK.get(severity, 3))
        return trace_id

    def _enqueue(self, record: Record, rank: int) -> None:
        try:
            queues = self._queues
            # Lock-free fast path: deque.append is atomic; the lock is only taken to shed or refuse.
            if (
                self._closed
                or len(queues[0]) + len(queues[1]) + len(queues[2]) + len(queues[3]) + len(queues[4])
                >= self.queue_size
            ):
                self._enqueue_contended(record, rank)
                return
            queues[rank].append(record)
            if self._worker is None:
                self._start_worker()
            if len(queues[rank]) >= self.batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:
            logger.debug("mcpdiag emitter failed to enqueue an event", exc_info=True)

    def _enqueue_contended(self, record: Record, rank: int) -> None:
        with self._lock:
            if self._closed or (self._size >= self.queue_size and not self._shed_below(rank)):
                self._drop(rank)
                return
            self._queues[rank].append(record)

    @property
    def _size(self) -> int:
        return sum(len(queue) for queue in self._queues)

    def _shed_below(self, rank: int) -> bool:
        """Drop the oldest queued event of a lower severity than `rank`; False if there is none."""
        for lower in range(rank):
            if self._queues[lower]:
                self._queues[lower].popleft()
                self._drop(lower)
                return True
        return False

    def _drop(self, rank: int) -> None:
        self._stats.dropped[_SEVERITIES[rank].value] += 1
        self._unreported_drops += 1

    # -- context-rich entry points ------------------------------------------------------------------------

    def capture(self, exc: BaseException, *, server: str, touchpoint: str, **context: Any) -> str:
        """Classify `exc`, redact what it says, emit the event; returns the Debug ID."""
        return str(self.capture_event(exc, server=server, touchpoint=touchpoint, **context)[0]["traceId"])

    def capture_event(
        self, exc: BaseException, *, server: str, touchpoint: str, **context: Any
    ) -> tuple[WireEvent, Any]:
        """Like `capture`, returning the emitted wire event and the `Classification`."""
        from mcpdiag.emitters.classifier import classify

        hints = {k: context.pop(k) for k in _CLASSIFY_HINTS if k in context}
        if context.get("transport") is not None:
            hints["transport"] = context["transport"]
        found = classify(exc, touchpoint=touchpoint, server=server, redactor=self._redactor, **hints)
        attrs = {**found.attrs, **(context.pop("attrs", None) or {})}
        event = self.emit_event(
            found.code,
            server=server,
            touchpoint=touchpoint,
            severity=found.severity.value,
            message_safe=found.message_safe,
            detail=found.detail,
            retryable=found.retryable,
            http_status=context.pop("http_status", None) or found.http_status,
            attrs=attrs,
            **context,
        )
        return event, found

    def emit_event(self, code: str, *, server: str, touchpoint: str, **fields: Any) -> WireEvent:
        """Emit like `emit`, but build the final wire event now and return it (not for hot paths)."""
        trace_id = fields.pop("trace_id", None)
        span_id = None
        if trace_id is None:
            trace_id, span_id = _current_ids()
            trace_id = trace_id or _fresh_trace_id()
        record = {
            "server": server,
            "touchpoint": touchpoint,
            "code": code,
            "traceId": trace_id,
            "spanId": span_id,
            **{_CAMEL.get(k, k): v for k, v in fields.items()},
        }
        event = self._finalize_fields(time.time_ns(), record)
        self._enqueue(event, _rank_of(event))
        return dict(event)

    def register_secret(self, value: str) -> None:
        """Redact `value` (a token, a password the host knows) from every later event."""
        if value and value not in self._secrets:
            self._secrets.add(value)
            self._redactor = Redactor(self._secrets)

    # -- the worker -----------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is not None or self._closed:
                return
            self._worker = threading.Thread(target=self._run, name="mcpdiag-emitter", daemon=True)
            self._worker.start()

    def _after_fork(self) -> None:
        # In a forked child the parent's worker thread does not exist and the lock may be held: start over.
        pending = [r for q in self._queues for r in q]
        self._reset_state()
        for record in pending:
            self._queues[_rank_of(record)].append(record)
        if pending:
            self._start_worker()

    def _take(self) -> list[Record]:
        with self._lock:
            batch: list[Record] = []
            for queue in reversed(self._queues):
                while queue and len(batch) < self.batch_size:
                    batch.append(queue.popleft())
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        pause = _RETRY_PAUSE[0]
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            while True:
                batch = self._take()
                if not batch:
                    with self._lock:
                        self._in_flight = 0
                        self._idle.notify_all()
                        if self._closed:
                            return
                    break
                unsent = self._ship(batch)
                if unsent is None:
                    pause = _RETRY_PAUSE[0]
                    continue
                # The sink is down: keep the batch (as queue room allows) and try again later.
                self._requeue(unsent)
                time.sleep(pause)
                pause = min(pause * 2, _RETRY_PAUSE[1])
                with self._lock:
                    if self._closed and self._closing_deadline < time.monotonic():
                        self._in_flight = 0
                        self._idle.notify_all()
                        return

    def _ship(self, batch: list[Record]) -> list[WireEvent] | None:
        """Send one batch; the finalized events to keep if the sink asked for a retry, else None."""
        events: list[WireEvent] = []
        report: tuple[WireEvent, int] | None = None
        try:
            events = [self._finalize(r) if isinstance(r, tuple) else r for r in batch]
            report = self._report_drops(events)
            result = self.sink.send(events) or SinkResult.sent()
        except Exception as exc:
            logger.warning("mcpdiag sink %s raised %s", type(self.sink).__name__, type(exc).__name__)
            result = SinkResult(Outcome.FAILED, error=repr(exc))
        with self._lock:
            if report is not None and result.outcome is not Outcome.SENT:
                # Not delivered: take the count back, so the batch that does get through reports it (a
                # retried batch would otherwise overwrite it, a discarded one lose it).
                carrier, dropped = report
                carrier["attrs"].pop(_DROPPED_EVENTS_ATTR, None)
                self._unreported_drops += dropped
            if result.outcome is Outcome.SENT:
                self._stats.sent += len(batch) - result.rejected
                self._stats.rejected += result.rejected
                return None
            if result.outcome is Outcome.RETRY and len(events) == len(batch):
                self._stats.retried_batches += 1
                return events
            self._stats.failed_batches += 1
            for record in batch:
                self._drop(_rank_of(record))
            return None

    def _requeue(self, batch: list[WireEvent]) -> None:
        with self._lock:
            for event in reversed(batch):
                rank = _rank_of(event)
                if self._size >= self.queue_size and not self._shed_below(rank):
                    self._drop(rank)
                    continue
                self._queues[rank].appendleft(event)
            self._in_flight = 0

    def _report_drops(self, events: list[WireEvent]) -> tuple[WireEvent, int] | None:
        """Put the count of drops not yet reported on the first event with room; that event and the count."""
        with self._lock:
            dropped, self._unreported_drops = self._unreported_drops, 0
        if not dropped:
            return None
        for event in events:
            if len(event["attrs"]) < MAX_ATTRS:
                event["attrs"][_DROPPED_EVENTS_ATTR] = dropped
                return event, dropped
        with self._lock:
            self._unreported_drops += dropped
        return None

    def _finalize(self, record: tuple[Any, ...]) -> WireEvent:
        """The valid wire event of a queued record: ids, defaults, bounds and redaction."""
        return self._finalize_fields(record[0], dict(zip(_RECORD_FIELDS, record[1:], strict=True)))

    def _finalize_fields(self, ns: int, record: dict[str, Any]) -> WireEvent:
        info = code_info(record["code"])
        known = record["code"] == info.code
        server = str(record["server"])[:128] or "unknown"
        severity = record.get("severity") or info.severity.value
        retryable = record.get("retryable")
        event: WireEvent = {
            "id": new_event_id(ns // 1_000_000),
            "ts": format_ts(datetime.fromtimestamp(ns / 1e9, UTC)),
            **record,
            "server": server,
            "severity": severity,
            "retryable": bool(info.retryable and known if retryable is None else retryable),
            "source": self._source,
        }
        event["messageSafe"] = str(record.get("messageSafe") or info.render(server))
        event["attrs"] = _bounded_attrs(record.get("attrs"))
        for name in _ALL_FIELDS:
            event.setdefault(name, None)
        redacted, _ = self._redactor.event(
            {"messageSafe": event["messageSafe"], "detail": event["detail"], "attrs": event["attrs"]}
        )
        event["messageSafe"] = redacted["messageSafe"][:MAX_MESSAGE_SAFE]
        event["detail"] = redacted["detail"][:MAX_DETAIL] if redacted["detail"] else None
        event["attrs"] = redacted["attrs"]
        _fit(event)
        return event

    # -- flushing and closing ---------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was handed to the sink; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._lock:
            while self._size or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._worker is None:
                    return not (self._size or self._in_flight)
                self._idle.wait(min(remaining, 0.05))
                self._wake.set()
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (up to `timeout`), stop the worker and close the sink."""
        if self._closed:
            return
        self._closing_deadline = time.monotonic() + timeout
        flushed = self.flush(timeout)
        with self._lock:
            self._closed = True
            leftover = self._size
            for queue in self._queues:
                for record in queue:
                    self._drop(_rank_of(record))
                queue.clear()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(max(0.0, self._closing_deadline - time.monotonic()) + 0.1)
        if not flushed:
            logger.warning("mcpdiag emitter closed with %d event(s) not delivered", leftover)
        try:
            self.sink.close()
        except Exception:
            logger.debug("mcpdiag sink close failed", exc_info=True)

    async def aflush(self, timeout: float = 5.0) -> bool:
        """`flush` without blocking the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float = 5.0) -> None:
        """`close` without blocking the event loop."""
        await asyncio.to_thread(self.close, timeout)

    def stats(self) -> EmitterStats:
        """A snapshot of the counters."""
        with self._lock:
            snapshot = EmitterStats(
                queued=self._size + self._in_flight,
                sent=self._stats.sent,
                dropped=dict(self._stats.dropped),
                failed_batches=self._stats.failed_batches,
                retried_batches=self._stats.retried_batches,
                rejected=self._stats.rejected,
            )
        return snapshot

    @property
    def pending(self) -> int:
        """Events queued and not yet handed to the sink."""
        return self._size + self._in_flight


def _rank_of(record: Record) -> int:
    if isinstance(record, tuple):
        severity, code = record[4], record[3]
    else:
        severity, code = record.get("severity"), record.get("code")
    if severity is None:
        return _CODE_RANK.get(code, Severity.ERROR.rank)
    return SEVERITY_RANK.get(severity, Severity.ERROR.rank)


def _fit(event: WireEvent) -> None:
    """Shrink attrs, then detail, until the event encodes within the wire limit."""
    size = len(json.dumps(event, default=str))
    if size <= MAX_EVENT_BYTES:
        return
    attrs = event["attrs"]
    for key in sorted(attrs, key=lambda k: -len(str(attrs[k]))):
        if size <= MAX_EVENT_BYTES:
            return
        value = attrs[key]
        if isinstance(value, str) and len(value) > 64:
            attrs[key] = value[:64]
            size -= len(value) - 64
    if size > MAX_EVENT_BYTES and event["detail"]:
        event["detail"] = event["detail"][: max(0, len(event["detail"]) - (size - MAX_EVENT_BYTES) - 64)]


def _bounded_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attrs:
        return {}
    bounded: dict[str, Any] = {}
    for key, value in list(attrs.items())[:MAX_ATTRS]:
        if value is not None and not isinstance(value, str | bool | int | float):
            value = str(value)
        if isinstance(value, str):
            value = value[:1024]
        bounded[str(key)[:64] or "_"] = value
    return bounded


_CAMEL = {
    "message_safe": "messageSafe",
    "user_id": "userId",
    "conversation_id": "conversationId",
    "run_id": "runId",
    "http_status": "httpStatus",
    "duration_ms": "durationMs",
}
_ALL_FIELDS = (
    "userId",
    "conversationId",
    "runId",
    "detail",
    "tool",
    "transport",
    "httpStatus",
    "durationMs",
    "spanId",
)
_CLASSIFY_HINTS = ("http", "session_established", "proxy_in_use", "stderr_tail")
