"""Hooks that see what the MCP SDK hides: an httpx2 transport wrapper, the trace id each request carries,
a stdio stderr file, a TCP probe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
from contextvars import ContextVar
from types import TracebackType
from typing import IO, Any, Generic, Protocol, Self, TextIO, TypeVar
from urllib.parse import urlsplit

import httpx2

from mcpdiag.emitters.classifier import HttpObservation

_SNIPPET_BYTES = 512
_MAX_READ = 64 * 1024
_STDERR_TAIL = 2000
_MCP_TYPES = ("application/json", "text/event-stream")


class ObservingTransport(httpx2.AsyncBaseTransport):
    """Wraps a real transport and keeps the last unexpected HTTP response and the last raw exception."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None, *, proxy_in_use: bool = False) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()
        self.proxy_in_use = proxy_in_use
        self.last: HttpObservation | None = None
        self.last_exception: BaseException | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Forward the request; record the response when it is not what an MCP client expects."""
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            self.last_exception = exc
            raise
        ctype = response.headers.get("content-type", "")
        ok = 200 <= response.status_code < 300 and (not ctype or ctype.lower().startswith(_MCP_TYPES))
        # A GET answered 405 only means the server offers no standalone SSE stream: the spec allows it.
        if ok or (request.method == "GET" and response.status_code == 405) or request.method == "DELETE":
            if ok and request.method == "POST":
                self.last = None
            return response
        snippet = None
        if "html" in ctype.lower() or not ctype.lower().startswith(_MCP_TYPES):
            body = await _read_capped(response)
            snippet = body[:_SNIPPET_BYTES].decode("utf-8", "replace")
            response = httpx2.Response(
                response.status_code,
                headers=response.headers,
                content=body,
                request=request,
                extensions=response.extensions,
            )
        self.last = HttpObservation(
            status=response.status_code,
            content_type=ctype or None,
            www_authenticate=response.headers.get("www-authenticate"),
            proxy_authenticate=response.headers.get("proxy-authenticate"),
            location=response.headers.get("location"),
            retry_after=response.headers.get("retry-after"),
            method=request.method,
            url=str(request.url.copy_with(query=None, username=None, password=None)),
            via_proxy=self.proxy_in_use,
            body_snippet=snippet,
        )
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


async def _read_capped(response: httpx2.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _MAX_READ:
                break
    finally:
        await response.aclose()
    return b"".join(chunks)


_T_contra = TypeVar("_T_contra", contravariant=True)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_sent_trace_id: ContextVar[str | None] = ContextVar("mcpdiag_sent_trace_id", default=None)


class _WriteStream(Protocol[_T_contra]):
    async def send(self, item: _T_contra, /) -> None: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None: ...


class TraceRecordingStream(Generic[_T_contra]):
    """Wraps a session's write stream; remembers the trace id of each request's `_meta.traceparent`.

    The 2.x SDK opens a span per request and injects its context into the message itself, so the id is
    taken from there: it is exactly what the server receives. It is kept in a context variable, because
    the SDK writes from the calling task: after `call_tool()` returns or raises, `sent_trace_id()` in that
    task is the trace id of that call, whatever other tasks sent meanwhile.
    """

    def __init__(self, inner: _WriteStream[_T_contra]) -> None:
        self._inner = inner

    async def send(self, item: _T_contra, /) -> None:
        """Record the request's trace id, then forward it."""
        if (trace_id := _request_trace_id(item)) is not None:
            _sent_trace_id.set(trace_id)
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


def sent_trace_id() -> str | None:
    """The trace id the last request sent from this task carried to the server (None without OTel)."""
    return _sent_trace_id.get()


def forget_sent_trace_id() -> None:
    """Start a new operation in this task: `sent_trace_id()` is None until its request is sent."""
    _sent_trace_id.set(None)


def body_trace_id(content: bytes) -> str | None:
    """The trace id in the `_meta.traceparent` of a JSON-RPC request body (an HTTP POST's content)."""
    try:
        message = json.loads(content)
    except ValueError:
        return None
    params = message.get("params") if isinstance(message, dict) else None
    return _trace_id_in(params.get("_meta") if isinstance(params, dict) else None)


def _request_trace_id(item: object) -> str | None:
    message = getattr(item, "message", None)
    message = getattr(message, "root", message)  # 1.x wraps the request in a RootModel
    params = getattr(message, "params", None)
    return _trace_id_in(params.get("_meta") if isinstance(params, dict) else None)


def _trace_id_in(meta: object) -> str | None:
    traceparent = meta.get("traceparent") if isinstance(meta, dict) else None
    found = _TRACEPARENT.match(traceparent) if isinstance(traceparent, str) else None
    if found is None or not found.group(1).strip("0"):
        return None
    return found.group(1)


def stderr_file() -> TextIO:
    """A real temporary file for `stdio_client(errlog=...)`: the SDK needs a file descriptor."""
    return tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")


def stderr_tail(errlog: IO[str] | None) -> str | None:
    """The last lines the stdio server wrote to stderr, or None when it wrote nothing."""
    if errlog is None:
        return None
    try:
        errlog.flush()
        errlog.seek(0)
        text = errlog.read()
    except (OSError, ValueError):
        return None
    return text[-_STDERR_TAIL:] or None


async def tcp_reachable(url: str, timeout: float = 1.0) -> bool | None:
    """Whether something accepts TCP connections at the URL's host and port; None if it cannot be told."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    if not parts.hostname or port is None:
        return None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout)
    except (ConnectionRefusedError, ConnectionResetError):
        return False
    except (OSError, TimeoutError):
        return None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
