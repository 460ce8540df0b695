"""Hooks that see what the MCP SDK hides: a transport wrapper for the SDK's HTTP client (httpx2 on 2.x,
httpx on 1.x), a stdio stderr file, a TCP probe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from typing import IO, TextIO
from urllib.parse import urlsplit

from mcpdiag.emitters.classifier import HttpObservation
from mcpdiag.emitters.mcp.answers import AnswerWatch, request_id_of
from mcpdiag.emitters.mcp.sdk import SDK_KEEPS_REDIRECTS_IN_ORIGIN, SDK_LINE, http
from mcpdiag.emitters.mcp.tracing import body_traceparent
from mcpdiag.emitters.text import word_cut

_SNIPPET_BYTES = 512
_MAX_READ = 64 * 1024
_STDERR_TAIL = 2000
_MCP_TYPES = ("application/json", "text/event-stream")


class ObservingTransport(http.AsyncBaseTransport):
    """Wraps a real transport and keeps the last unexpected HTTP response and the last raw exception.

    It is a transport of the installed SDK line's HTTP library (httpx2 on 2.x, httpx on 1.x). A JSON-RPC
    request whose `_meta` carries a traceparent also gets it as its `traceparent` header. On 1.x it also
    tells `answers` which request lost its answer (see `mcpdiag.emitters.mcp.answers`).
    """

    def __init__(
        self,
        inner: http.AsyncBaseTransport | None = None,
        *,
        proxy_in_use: bool = False,
        legacy_sse: bool = False,
    ) -> None:
        self._inner = inner or http.AsyncHTTPTransport()
        self.proxy_in_use = proxy_in_use
        self.legacy_sse = legacy_sse
        """Legacy SSE: a message's POST is only acknowledged; its answer comes on the event stream."""
        self.last: HttpObservation | None = None
        self.last_exception: BaseException | None = None
        self.answers: AnswerWatch | None = AnswerWatch() if SDK_LINE == 1 else None
        """Set on 1.x only: 2.x fails a request whose answer was lost by itself."""

    async def handle_async_request(self, request: http.Request) -> http.Response:
        """Forward the request; record the response when it is not what an MCP client expects."""
        content = _json_rpc_body(request)
        traceparent = body_traceparent(content) if content is not None else None
        if traceparent is not None and "traceparent" not in request.headers:
            request.headers["traceparent"] = traceparent
        request_id = request_id_of(content) if content is not None and self.answers is not None else None
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            self.last_exception = exc
            raise
        ctype = response.headers.get("content-type", "")
        acknowledged = self.legacy_sse and request.method == "POST" and 200 <= response.status_code < 300
        if acknowledged and "html" not in ctype.lower():
            # An acknowledgement (202), whatever its content type says: Go's net/http labels any body it
            # writes text/plain. The answer comes on the stream, which this hook watches as ever. (A page
            # of HTML is a proxy's or a login's, and is looked at below.)
            self.last = None
            return response
        ok = 200 <= response.status_code < 300 and (not ctype or ctype.lower().startswith(_MCP_TYPES))
        # A GET answered 405 only means the server offers no standalone SSE stream: the spec allows it.
        if ok or (request.method == "GET" and response.status_code == 405) or request.method == "DELETE":
            if ok and request.method == "POST":
                self.last = None
            if ok and self.answers is not None and request_id is not None and ctype:
                return self.answers.watched(response, request, request_id)
            return response
        snippet, rpc, truncated = None, None, False
        json_error = response.status_code >= 400 and ctype.lower().startswith("application/json")
        if json_error or "html" in ctype.lower() or not ctype.lower().startswith(_MCP_TYPES):
            body = await _read_capped(response)
            truncated = len(body) >= _MAX_READ
            if json_error and not truncated:
                rpc = _jsonrpc_error(body)
            else:
                snippet = word_cut(body[: 4 * _SNIPPET_BYTES].decode("utf-8", "replace"), _SNIPPET_BYTES)
            response = http.Response(
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
            jsonrpc_code=rpc[0] if rpc is not None else None,
            jsonrpc_message=rpc[1] if rpc is not None else None,
            body_truncated=truncated,
        )
        if not SDK_KEEPS_REDIRECTS_IN_ORIGIN and _leaves_origin(request, response):
            # 1.28/1.29 would follow it with the MCP request; later SDKs refuse: so does the session.
            response.headers.pop("location", None)
        if self.answers is not None and request_id is not None and 200 <= response.status_code < 300:
            # The 1.x SDK drops such an answer (it logs "Unexpected content type") and keeps waiting.
            answered = ctype or "no content type"
            self.answers.lose(request_id, f"request {request_id!r} was answered with {answered}")
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def _leaves_origin(request: http.Request, response: http.Response) -> bool:
    """Whether `response` redirects to another origin (scheme, host or port) than `request`'s."""
    location = response.headers.get("location") if 300 <= response.status_code < 400 else None
    if not location:
        return False
    target, sent = request.url.join(location), request.url
    return (target.scheme, target.host, target.port) != (sent.scheme, sent.host, sent.port)


def _json_rpc_body(request: http.Request) -> bytes | None:
    """The body of a POST that may carry a JSON-RPC message; None for anything else."""
    if request.method != "POST" or not request.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return request.content
    except http.RequestNotRead:  # a streamed body: not a message of the SDK's
        return None


def _jsonrpc_error(body: bytes) -> tuple[int, str] | None:
    """`(code, message)` of a JSON-RPC error that answers a request (it has an id); None otherwise.

    An error without an id ("Session not found") is about the transport: the HTTP status says more.
    """
    try:
        message = json.loads(body)
    except ValueError:
        return None
    error = message.get("error") if isinstance(message, dict) and message.get("id") is not None else None
    code = error.get("code") if isinstance(error, dict) else None
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    text = error.get("message") if isinstance(error, dict) else None
    return code, text if isinstance(text, str) else ""


MAX_READ_BYTES = _MAX_READ
"""How much of a body that is not MCP the hook reads (the rest is left unread)."""


async def _read_capped(response: http.Response) -> bytes:
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
