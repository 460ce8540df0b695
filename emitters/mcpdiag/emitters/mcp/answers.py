"""Requests whose answer the 1.x SDK dropped: end them at once instead of after the read timeout.

On 1.x, a POST answered 200 with something that is not MCP (an HTML login page), or whose response stream
ends or breaks before the answer arrived, leaves the request waiting until the session's read timeout (2.x
fails it at once with -32000 "SSE stream ended without a response"). The HTTP hook tells which request lost
its answer; the operation that sent it is cancelled and raises `StreamCutError`, chained to what broke.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio

from mcpdiag.emitters.errors import StreamCutError
from mcpdiag.emitters.mcp.sdk import http
from mcpdiag.emitters.mcp.tracing import Operation, current_operation, json_message

_EVENT_ID = re.compile(rb"(?:^|\n)id:")

RequestId = int | str


@dataclass(eq=False)
class Watch:
    """One operation waiting for its answer; `lost` is set when the hook saw that answer go missing."""

    operation: Operation
    scope: anyio.CancelScope
    lost: StreamCutError | None = None


class AnswerWatch:
    """Which operations wait for which request's answer, and how to end one whose answer was lost."""

    def __init__(self) -> None:
        self._watches: list[Watch] = []

    @contextmanager
    def watching(self) -> Iterator[Watch]:
        """Run the block as one operation; it is cancelled if the answer to its request is lost."""
        with anyio.CancelScope() as scope:
            watch = Watch(current_operation(), scope)
            self._watches.append(watch)
            try:
                yield watch
            finally:
                self._watches.remove(watch)

    def lose(self, request_id: RequestId, reason: str, cause: BaseException | None = None) -> None:
        """The answer to `request_id` will never come: end the operation that waits for it."""
        for watch in self._watches:
            if watch.operation.request_id == request_id and watch.lost is None:
                watch.lost = StreamCutError(reason)
                watch.lost.__cause__ = cause
                watch.scope.cancel()

    def watched(self, response: http.Response, request: http.Request, request_id: RequestId) -> http.Response:
        """`response` whose body reports its request's answer lost if it breaks, or (an event stream
        that never announced an event id, so the SDK will not resume it) ends before the SDK stopped
        reading it: the SDK stops reading an event stream as soon as the answer is in."""
        sse = response.headers.get("content-type", "").lower().startswith("text/event-stream")
        if not isinstance(response.stream, http.AsyncByteStream):
            return response

        def lost(cause: BaseException | None) -> None:
            what = "event stream" if sse else "response body"
            self.lose(request_id, f"the {what} ended before the answer to request {request_id!r}", cause)

        return http.Response(
            response.status_code,
            headers=response.headers,
            stream=_WatchedBody(response.stream, lost, sse),
            request=request,
            extensions=response.extensions,
        )


def request_id_of(content: bytes) -> RequestId | None:
    """The id of the JSON-RPC request in an HTTP body; None for a notification, a response or no JSON-RPC."""
    message = json_message(content)
    if message is None or not isinstance(message.get("method"), str):
        return None
    found = message.get("id")
    return found if isinstance(found, int | str) and not isinstance(found, bool) else None


class _WatchedBody(http.AsyncByteStream):
    def __init__(
        self, inner: http.AsyncByteStream, lost: Callable[[BaseException | None], None], sse: bool
    ) -> None:
        self._inner = inner
        self._lost = lost
        self._sse = sse

    async def __aiter__(self) -> AsyncIterator[bytes]:
        resumable, tail = False, b""
        try:
            async for chunk in self._inner:
                if self._sse and not resumable:
                    resumable, tail = bool(_EVENT_ID.search(tail + chunk)), chunk[-1:]
                yield chunk
        except Exception as exc:  # the stream broke (e.g. the server died): no answer will follow
            if not resumable:
                self._lost(exc)
            raise
        if self._sse and not resumable:
            self._lost(None)

    async def aclose(self) -> None:
        await self._inner.aclose()
