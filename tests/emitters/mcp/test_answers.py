"""The 1.x answer watch: which request an HTTP body answers, and an operation ended at once (StreamCutError,
chained to what broke) when its event stream ends or breaks before the answer, not when it closes early."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from mcpdiag.emitters.errors import StreamCutError
from mcpdiag.emitters.mcp.answers import AnswerWatch, request_id_of
from mcpdiag.emitters.mcp.sdk import http
from mcpdiag.emitters.mcp.tracing import current_operation, forget_sent_trace_id


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b'{"jsonrpc": "2.0", "id": 4, "method": "tools/call"}', 4),
        (b'{"jsonrpc": "2.0", "id": "a", "method": "ping"}', "a"),
        (b'{"jsonrpc": "2.0", "method": "notifications/initialized"}', None),
        (b'{"jsonrpc": "2.0", "id": 4, "result": {}}', None),
        (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_the_request_id_of_a_body(body: bytes, found: object) -> None:
    assert request_id_of(body) == found


class Chunks(http.AsyncByteStream):
    def __init__(self, *chunks: bytes, fail: Exception | None = None) -> None:
        self._chunks, self._fail = chunks, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._fail is not None:
            raise self._fail


def sse(stream: http.AsyncByteStream) -> http.Response:
    return http.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)


async def read_in_operation(
    watch: AnswerWatch, response: http.Response, request_id: int
) -> StreamCutError | None:
    forget_sent_trace_id()
    current_operation().request_id = request_id
    request = http.Request("POST", "http://127.0.0.1:9/mcp")
    with watch.watching() as watching:
        watched = watch.watched(response, request, request_id)
        async for _ in watched.aiter_raw():
            pass
        await anyio.sleep(5)  # what a 1.x request does after its stream ended: wait for the read timeout
    return watching.lost


async def test_a_stream_that_ends_without_the_answer_ends_its_operation() -> None:
    lost = await read_in_operation(AnswerWatch(), sse(Chunks(b": keep-alive\n\n")), 3)
    assert isinstance(lost, StreamCutError) and "request 3" in str(lost)


async def test_a_stream_that_breaks_keeps_the_cause() -> None:
    broken = http.RemoteProtocolError("peer closed connection without sending complete message body")
    with pytest.raises(http.RemoteProtocolError):
        await read_in_operation(AnswerWatch(), sse(Chunks(b"event: message\n", fail=broken)), 3)


async def test_a_resumable_stream_is_left_to_the_sdk() -> None:
    """An event with an id: 1.x resumes the stream with Last-Event-ID, so nothing is lost yet."""
    with anyio.move_on_after(0.2) as scope:
        await read_in_operation(AnswerWatch(), sse(Chunks(b"id: 1\ndata: \n\n")), 3)
    assert scope.cancelled_caught


async def test_only_the_operation_of_that_request_is_ended() -> None:
    with anyio.move_on_after(0.2) as scope:
        watch = AnswerWatch()
        forget_sent_trace_id()
        current_operation().request_id = 8
        with watch.watching():
            watch.lose(3, "another request's answer")
            await anyio.sleep(5)
    assert scope.cancelled_caught
