"""The emitter a host embeds: `emit()` on the hot path, `capture()` for exceptions, `flush()` and `close()`.

`Emitter` is the facade. What happens after `emit()` returns — the queue, the worker thread, batches,
retries, drop counts — is its `BatchProcessor` (`mcpdiag.emitters.processor`); how a record becomes a valid
wire event is its `Finalizer` (`mcpdiag.emitters.finalize`). No method here raises into the host: the
emitter guards its own code and every host object it reads (`__str__`, `__iter__`, ... may raise); it never
wraps a call the host makes itself, so the host's own exceptions are never swallowed.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import random
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mcpdiag.emitters.coalesce import DEFAULT_WINDOW, Coalescer
from mcpdiag.emitters.codes import CATALOG, FALLBACK_CODE, SEVERITY_RANK
from mcpdiag.emitters.finalize import WIRE_NAMES, Finalizer, bounded_attrs, debug_id
from mcpdiag.emitters.processor import BatchProcessor, next_seq, seconds
from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.sinks import Sink, WireEvent
from mcpdiag.emitters.stats import EmitterStats
from mcpdiag.emitters.text import to_text, type_name

__all__ = ["Emitter", "EmitterStats"]

logger = logging.getLogger("mcpdiag.emitters")

try:  # Optional: with an OpenTelemetry SDK configured, the Debug ID is the current span's trace id.
    from opentelemetry.trace import INVALID_SPAN as _INVALID_SPAN
    from opentelemetry.trace import get_current_span as _get_current_span
except ImportError:  # pragma: no cover - exercised by the base-install test
    _get_current_span = None  # type: ignore[assignment]
    _INVALID_SPAN = None  # type: ignore[assignment]

_CODE_RANK = {code: info.severity.rank for code, info in CATALOG.items()}
_CLASSIFY_HINTS = ("http", "session_established", "proxy_in_use", "stderr_tail")
_time_ns = time.time_ns
EXIT_FLUSH_S = 2.0
"""How long the interpreter's exit may wait for the emitters still open to deliver what they hold, in all."""
_open: weakref.WeakSet[Emitter] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    """A host that simply ends (a script, a CLI) never called `close()`: its worker is a daemon thread,
    killed at exit with the events it held, and the Debug IDs the user was shown never resolved (found by a
    pass as an embedding developer; the Node emitter drains on `beforeExit`). Bounded: a collector that is
    down costs the exit `EXIT_FLUSH_S` at most."""
    deadline = time.monotonic() + EXIT_FLUSH_S
    for emitter in list(_open):
        emitter.close(max(0.0, deadline - time.monotonic()))


_getrandbits = random.getrandbits


def _current_ids() -> tuple[str | None, str | None]:
    if _get_current_span is None:
        return None, None
    try:
        ctx = _get_current_span().get_span_context()
        if ctx.is_valid:
            return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    except Exception:  # a broken tracer must not break the host
        logger.debug("mcpdiag emitter could not read the current span", exc_info=True)
    return None, None


class Emitter:
    """Turns diagnostics into wire events without ever slowing down or breaking the host.

    `coalesce_window` (seconds, default 10; 0 turns it off): identical failures of a user within the window
    are sent as the first occurrence at once plus one follow-up event with `count`, `firstTs` and `lastTs`
    (`mcpdiag.emitters.coalesce`), timed by `monotonic`.
    """

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
        max_retries: int = 3,
        coalesce_window: float = DEFAULT_WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._finalizer = Finalizer(service=service, version=version, known_secrets=known_secrets)
        window = seconds(coalesce_window, DEFAULT_WINDOW)
        self._processor = BatchProcessor(
            sink,
            finalize=self._finalizer.record,
            queue_size=queue_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_retries=max_retries,
            stages=[Coalescer(window, clock=monotonic)] if window > 0 else [],
        )
        self._enqueue = self._processor.enqueue
        _open.add(self)

    @property
    def redactor(self) -> Redactor:
        """The redactor with every secret registered so far (what the emitter redacts events with)."""
        return self._finalizer.redactor

    @property
    def sink(self) -> Sink:
        """Where the batches go."""
        return self._processor.sink

    @property
    def queue_size(self) -> int:
        """The most events held at once; beyond it the lowest severity is dropped first."""
        return self._processor.queue_size

    @property
    def batch_size(self) -> int:
        """The most events handed to the sink at once."""
        return self._processor.batch_size

    @property
    def coalesce_window(self) -> float:
        """Seconds identical failures are folded into one follow-up event (0: every failure is sent)."""
        return next((s.window for s in self._processor.stages if isinstance(s, Coalescer)), 0.0)

    @property
    def flush_interval(self) -> float:
        """How long the worker waits for a batch to fill up."""
        return self._processor.flush_interval

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
            if _get_current_span is not None:  # inline, not `_current_ids()`: this is the hot path
                try:
                    span = _get_current_span()
                    if span is not _INVALID_SPAN:  # no span active: skip reading its context
                        ctx = span.get_span_context()
                        if ctx.is_valid:
                            trace_id, span_id = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
                except Exception:  # a broken tracer must not break the host
                    span_id = None
            if trace_id is None:
                trace_id = f"{_getrandbits(128) or 1:032x}"
        else:
            trace_id = debug_id(trace_id)  # the Debug ID returned is the one stored
        try:
            rank = _CODE_RANK.get(code, 3) if severity is None else SEVERITY_RANK.get(severity, 3)
        except Exception:  # an unhashable code or severity: the worker turns it into a valid event
            rank = 3
        # A tuple is the cheapest record to build; the worker makes it the wire dict (`Finalizer.record`).
        self._enqueue(
            (
                next_seq(),
                _time_ns(),
                server,  # then the other `RECORD_FIELDS`, in the contract's order
                user_id,
                conversation_id,
                run_id,
                touchpoint,
                code,
                severity,
                message_safe,
                detail,
                retryable,
                trace_id,
                span_id,
                transport,
                tool,
                http_status,
                duration_ms,
                attrs,
            ),
            rank,
        )
        return trace_id

    # -- context-rich entry points ------------------------------------------------------------------------

    def capture(self, exc: BaseException, *, server: str, touchpoint: str, **context: Any) -> str:
        """Classify `exc`, redact what it says, emit the event; returns the Debug ID."""
        return str(self.capture_event(exc, server=server, touchpoint=touchpoint, **context)[0]["traceId"])

    def capture_event(
        self, exc: BaseException, *, server: str, touchpoint: str, **context: Any
    ) -> tuple[WireEvent, Any]:
        """Like `capture`, returning the emitted wire event and the `Classification`."""
        from mcpdiag.emitters.classifier import Classification, classification_for, classify

        hints = {k: context.pop(k) for k in _CLASSIFY_HINTS if k in context}
        if context.get("transport") is not None:
            hints["transport"] = to_text(context["transport"])
        found: Any = None
        try:
            found = classify(
                exc,
                touchpoint=to_text(touchpoint),
                server=to_text(server),
                redactor=self._finalizer.redactor,
                **hints,
            )
        except Exception as failure:  # never expected: `classify` guards itself
            logger.warning("mcpdiag emitter could not classify %s: %s", type_name(exc), type_name(failure))
        if not isinstance(found, Classification):
            detail = f"classifier failed on {type_name(exc)}"
            found = classification_for(FALLBACK_CODE, server=to_text(server), detail=detail)
        if "code" in context:  # the classifier chose the code; what the host asked for travels as an attr
            context["requested_code"] = context.pop("code")
        extra = context.pop("attrs", None)
        status = context.pop("http_status", None)
        fields: dict[str, Any] = {
            "severity": found.severity.value,
            "message_safe": found.message_safe,
            "detail": found.detail,
            "retryable": found.retryable,
            "http_status": found.http_status if status is None else status,
            **context,  # what the host says explicitly wins over what the classifier derived
            "attrs": {**found.attrs, **bounded_attrs(extra)},
        }
        return self.emit_event(found.code, server=server, touchpoint=touchpoint, **fields), found

    def emit_event(self, code: str, *, server: str, touchpoint: str, **fields: Any) -> WireEvent:
        """Emit like `emit`, but build the final wire event now and return it (not for hot paths).

        Keyword fields are those of `emit` (snake_case or camelCase); any other keyword travels as an attr.
        """
        ns = _time_ns()
        trace_id = fields.pop("trace_id", fields.pop("traceId", None))
        span_id = None
        if trace_id is None:
            trace_id, span_id = _current_ids()
        record: dict[str, Any] = {
            "code": code,
            "server": server,
            "touchpoint": touchpoint,
            "traceId": trace_id,
        }
        extra: dict[str, Any] = {}
        for name, value in fields.items():
            wire = WIRE_NAMES.get(name)
            if wire is None or wire in record:  # unknown, or given twice (snake_case and camelCase)
                extra[name] = value
            else:
                record[wire] = value
        record.setdefault("spanId", span_id)
        if extra:
            record["attrs"] = {**bounded_attrs(record.get("attrs")), **bounded_attrs(extra)}
        try:
            event = self._finalizer.fields(ns, record)
        except Exception as failure:  # never expected; keep the event, without what could not be built
            logger.warning("mcpdiag emitter could not build an event: %s", type_name(failure))
            event = self._finalizer.fields(
                ns, {k: record[k] for k in ("code", "server", "touchpoint", "traceId")}
            )
        self._enqueue((next_seq(), event), SEVERITY_RANK[event["severity"]])
        return {**event, "attrs": dict(event["attrs"])}

    def register_secret(self, value: str) -> None:
        """Redact `value` (a token, a password the host knows) from every later event."""
        try:
            self._finalizer.register_secret(value)
        except Exception:
            logger.debug("mcpdiag emitter could not register a secret", exc_info=True)

    # -- flushing and closing ---------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was handed to the sink; False if `timeout` passed first."""
        return self._processor.flush(seconds(timeout))

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (up to `timeout`), stop the worker and close the sink."""
        _open.discard(self)
        self._processor.close(seconds(timeout))

    async def aflush(self, timeout: float = 5.0) -> bool:
        """`flush` without blocking the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float = 5.0) -> None:
        """`close` without blocking the event loop."""
        await asyncio.to_thread(self.close, timeout)

    def stats(self) -> EmitterStats:
        """A snapshot of the counters."""
        return self._processor.stats()

    @property
    def pending(self) -> int:
        """Events queued and not yet handed to the sink."""
        return self._processor.pending
