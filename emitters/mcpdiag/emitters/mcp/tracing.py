"""The W3C trace context each MCP request carries: the Debug ID of an event is the trace the server received.

The 2.x SDK opens a span per request and injects its context into the request's `_meta.traceparent` when
an OpenTelemetry SDK is configured. 1.x has no OpenTelemetry at all, and 2.x injects nothing without an SDK:
then the session's write stream gives the request a traceparent itself (the current span's trace when the
host has one, a fresh trace otherwise), and the HTTP hook copies it into the `traceparent` header.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from mcpdiag.emitters.ids import new_trace_id

try:  # optional: mcp 1.x does not depend on it
    from opentelemetry.trace import get_current_span as _get_current_span
except ImportError:  # pragma: no cover - exercised by the 1.x light-install test
    _get_current_span = None  # type: ignore[assignment]

logger = logging.getLogger("mcpdiag.emitters")

_T_contra = TypeVar("_T_contra", contravariant=True)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(eq=False)
class Operation:
    """What the last request of one host operation (a call, a listing, initialize) carried."""

    trace_id: str | None = None
    request_id: int | str | None = None


# A holder rather than the id itself: a task started from the operation's task (fastmcp sends each call
# from a task of its own) copies the context, and so shares the holder, and what it records comes back.
_operation: ContextVar[Operation | None] = ContextVar("mcpdiag_operation", default=None)


def current_operation() -> Operation:
    """The operation this task is in (one is started if there is none)."""
    if (operation := _operation.get()) is None:
        _operation.set(operation := Operation())
    return operation


def sent_trace_id() -> str | None:
    """The trace id the last request of this task's current operation carried to the server, if any."""
    operation = _operation.get()
    return operation.trace_id if operation is not None else None


def forget_sent_trace_id() -> None:
    """Start a new operation in this task: `sent_trace_id()` is None until its request is sent."""
    _operation.set(Operation())


def new_traceparent() -> str:
    """A W3C traceparent: the host's current span as the parent when there is one, else a fresh trace."""
    trace_id, parent = new_trace_id(), secrets.token_hex(8)
    if _get_current_span is not None:
        context = _get_current_span().get_span_context()
        if context.is_valid:
            trace_id, parent = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    return f"00-{trace_id}-{parent}-01"


def trace_id_of(traceparent: object) -> str | None:
    """The trace id of a W3C traceparent value; None if it is not one (or is all zeros)."""
    found = _TRACEPARENT.match(traceparent) if isinstance(traceparent, str) else None
    if found is None or not found.group(1).strip("0"):
        return None
    return found.group(1)


def _meta_trace_id(meta: object) -> str | None:
    return trace_id_of(meta.get("traceparent")) if isinstance(meta, dict) else None


def body_trace_id(content: bytes) -> str | None:
    """The trace id in the `_meta.traceparent` of a JSON-RPC request body (an HTTP POST's content)."""
    return trace_id_of(body_traceparent(content))


def json_message(content: bytes) -> dict[str, Any] | None:
    """The JSON-RPC message (a JSON object) an HTTP body holds; None for anything else (a batch, not JSON)."""
    if not content.startswith(b"{"):
        return None
    try:
        message = json.loads(content)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def body_traceparent(content: bytes) -> str | None:
    """The `_meta.traceparent` of a JSON-RPC request body, if it has a valid one."""
    message = json_message(content)
    params = message.get("params") if message is not None else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    value = meta.get("traceparent") if isinstance(meta, dict) else None
    return value if trace_id_of(value) is not None else None


def ensure_traceparent(item: object) -> str | None:
    """The trace id of an outgoing request's `_meta.traceparent`, after giving it one if it had none.

    Anything that is not a request (a notification, a response) is left alone and gives None.
    """
    message: Any = getattr(item, "message", None)
    message = getattr(message, "root", message)  # 1.x wraps each message in a RootModel
    if not isinstance(getattr(message, "method", None), str) or getattr(message, "id", None) is None:
        return None
    params = getattr(message, "params", None)
    if (found := _meta_trace_id(params.get("_meta") if isinstance(params, dict) else None)) is not None:
        return found
    traceparent = new_traceparent()
    try:
        if params is None:
            params = {}
            message.params = params
        meta = params.setdefault("_meta", {}) if isinstance(params, dict) else None
        if not isinstance(meta, dict):
            return None
        meta["traceparent"] = traceparent
    except Exception:  # an SDK never breaks its host: the request goes out as it was
        logger.debug("mcpdiag could not add a traceparent to a request", exc_info=True)
        return None
    return trace_id_of(traceparent)


class _WriteStream(Protocol[_T_contra]):
    async def send(self, item: _T_contra, /) -> None: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None: ...


class TraceRecordingStream(Generic[_T_contra]):
    """Wraps a session's write stream: each request leaves with a traceparent, whose trace id is remembered.

    The SDK writes from the task that made the call, so after `call_tool()` returns or raises,
    `sent_trace_id()` in that task is the trace id of that call, whatever other tasks sent meanwhile.
    """

    def __init__(self, inner: _WriteStream[_T_contra]) -> None:
        self._inner = inner

    async def send(self, item: _T_contra, /) -> None:
        """Give the request a traceparent if it has none, record its trace id, then forward it."""
        if (trace_id := ensure_traceparent(item)) is not None:
            operation = current_operation()
            operation.trace_id = trace_id
            message = getattr(item, "message", None)
            operation.request_id = getattr(getattr(message, "root", message), "id", None)
        await self._inner.send(item)

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc, tb)
