"""The trace context of each request, on the installed SDK line's own message objects: every request leaves
with a traceparent (the SDK's when it set one, else the host's current span's trace, else a fresh one), the
HTTP hook copies it into the `traceparent` header, and `sent_trace_id()` reports it to the caller's task
even when the request was sent from a task the caller started (as fastmcp's Client does)."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp.shared.message import SessionMessage
from opentelemetry.sdk.trace import TracerProvider

from mcpdiag.emitters.mcp import SDK_LINE, ObservingTransport, TraceRecordingStream, sent_trace_id
from mcpdiag.emitters.mcp.sdk import http, types
from mcpdiag.emitters.mcp.tracing import ensure_traceparent, forget_sent_trace_id, trace_id_of

KNOWN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request(method: str = "tools/list", params: dict[str, Any] | None = None, request_id: int = 7) -> Any:
    """A request as the installed SDK line hands it to the write stream."""
    message: Any = types.JSONRPCRequest(jsonrpc="2.0", id=request_id, method=method, params=params)
    if SDK_LINE == 1:
        message = types.JSONRPCMessage(message)
    return SessionMessage(message)


def params_of(item: Any) -> Any:
    message = item.message
    return getattr(message, "root", message).params


def test_a_request_without_a_traceparent_gets_one() -> None:
    item = request("ping")
    trace_id = ensure_traceparent(item)
    assert trace_id is not None and trace_id.strip("0")
    assert trace_id_of(params_of(item)["_meta"]["traceparent"]) == trace_id


def test_a_traceparent_the_sdk_set_is_kept() -> None:
    item = request(params={"_meta": {"traceparent": KNOWN, "progressToken": 1}})
    assert ensure_traceparent(item) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert params_of(item)["_meta"] == {"traceparent": KNOWN, "progressToken": 1}


def test_an_all_zero_traceparent_is_replaced() -> None:
    zero = "00-" + "0" * 32 + "-" + "0" * 16 + "-00"
    item = request(params={"_meta": {"traceparent": zero}})
    trace_id = ensure_traceparent(item)
    assert trace_id is not None and params_of(item)["_meta"]["traceparent"] != zero


def test_notifications_and_responses_are_left_alone() -> None:
    notification: Any = types.JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized")
    if SDK_LINE == 1:
        notification = types.JSONRPCMessage(notification)
    item = SessionMessage(notification)
    assert ensure_traceparent(item) is None
    assert getattr(item.message, "root", item.message).params is None


def test_the_hosts_current_span_is_the_parent() -> None:
    tracer = TracerProvider().get_tracer("host")
    with tracer.start_as_current_span("host request") as span:
        item = request()
        trace_id = ensure_traceparent(item)
        context = span.get_span_context()
    assert trace_id == f"{context.trace_id:032x}"
    assert params_of(item)["_meta"]["traceparent"].split("-")[2] == f"{context.span_id:016x}"


class Sink:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, item: Any) -> None:
        self.sent.append(item)

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> Sink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_request_sent_from_a_task_the_caller_started_reports_back() -> None:
    stream = TraceRecordingStream(Sink())
    forget_sent_trace_id()
    assert sent_trace_id() is None
    await asyncio.create_task(stream.send(request()))
    assert sent_trace_id() is not None
    forget_sent_trace_id()
    assert sent_trace_id() is None


async def test_the_http_hook_copies_the_traceparent_into_the_header() -> None:
    seen: list[http.Request] = []

    def answer(sent: http.Request) -> http.Response:
        seen.append(sent)
        return http.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": {}})

    body = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": {"traceparent": KNOWN}}}
    async with http.AsyncClient(transport=ObservingTransport(http.MockTransport(answer))) as client:
        await client.post("http://127.0.0.1:9/mcp", json=body)
        await client.post("http://127.0.0.1:9/mcp", json={"jsonrpc": "2.0", "method": "notifications/x"})
    assert seen[0].headers["traceparent"] == KNOWN
    assert "traceparent" not in seen[1].headers
