"""The emitter never slows down or breaks its host, and what it ships is valid, redacted and complete."""

from __future__ import annotations

import os
import secrets
import threading
import time
from typing import Any

import pytest

from mcpdiag.emitters import DiagnosticEvent, Emitter, MemorySink
from mcpdiag.emitters.sinks import CallableSink
from tests.emitters.support import GatedSink
from tests.forking import ran_without_faketime, wait_child
from tests.waiting import loop_ticks


def test_emit_returns_the_debug_id_and_ships_a_valid_event_with_catalog_defaults() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, service="chat-host", flush_interval=0.01)
    debug_id = emitter.emit("MCP_DNS_FAILURE", server="github", touchpoint="connect", user_id="alice")
    assert emitter.flush(5)
    [event] = sink.events
    assert event["traceId"] == debug_id and len(debug_id) == 32
    assert event["severity"] == "error" and event["retryable"] is False
    assert event["messageSafe"].startswith("The server address for github can't be found")
    assert event["source"]["service"] == "chat-host"
    DiagnosticEvent.model_validate(event)
    emitter.close()


def test_emitted_text_and_attrs_are_redacted_with_known_and_registered_secrets() -> None:
    known, later = secrets.token_hex(12), secrets.token_urlsafe(16)
    sink = MemorySink()
    emitter = Emitter(sink, service="host", known_secrets=[known], flush_interval=0.01)
    emitter.register_secret(later)
    emitter.emit(
        "MCP_AUTH_REQUIRED",
        server="github",
        touchpoint="connect",
        detail=f"GET https://api.example.com/mcp?token={secrets.token_hex(8)} failed; key {known}",
        attrs={"apiKey": later, "note": f"value {later}", "nested": {"a": 1}},
        message_safe=f"Token {known} rejected",
    )
    assert emitter.flush(5)
    [event] = sink.events
    text = repr(event)
    assert known not in text and later not in text and "token=[REDACTED" in event["detail"]
    assert event["attrs"]["nested"] == "{'a': 1}"
    DiagnosticEvent.model_validate(event)
    emitter.close()


def test_oversized_fields_are_bounded_so_the_event_stays_valid() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, service="host", flush_interval=0.01)
    emitter.emit(
        "VENDOR_THING",
        server="s" * 300,
        touchpoint="transport",
        message_safe="m" * 900,
        detail="d" * 9000,
        attrs={f"k{i}": "v" * 2000 for i in range(40)},
    )
    assert emitter.flush(5)
    event = DiagnosticEvent.model_validate(sink.events[0])
    assert len(event.server) == 128 and len(event.message_safe) == 500 and len(event.attrs) == 32
    assert event.code == "VENDOR_THING" and event.retryable is False
    emitter.close()


def test_a_raising_sink_is_counted_and_never_reaches_the_host() -> None:
    def explode(events: list[dict[str, Any]]) -> None:
        raise RuntimeError("sink is broken")

    emitter = Emitter(CallableSink(explode), service="host", flush_interval=0.01, coalesce_window=0)
    for _ in range(5):
        emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect")
    assert emitter.flush(5)
    stats = emitter.stats()
    assert stats.failed_batches >= 1 and stats.dropped["error"] == 5 and stats.sent == 0
    emitter.close()


def test_a_hanging_sink_keeps_emit_fast_and_flush_bounded() -> None:
    sink = GatedSink()
    sink.hang.set()
    emitter = Emitter(sink, service="host", queue_size=100, batch_size=10, flush_interval=0.01)
    emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect")
    deadline = time.monotonic() + 5
    while sink.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # The worker is stuck inside the sink: emit() still returns at once and memory stays bounded.
    ids = [emitter.emit("MCP_CONNECTED", server="a", touchpoint="lifecycle") for _ in range(1000)]
    assert len(set(ids)) == 1000 and emitter.pending <= 100 + 1
    assert emitter.flush(timeout=0.2) is False
    assert emitter.stats().dropped_total >= 900
    sink.release.set()
    assert emitter.flush(timeout=5)
    emitter.close(timeout=1)


def test_full_queue_drops_lowest_severity_first_and_keeps_errors() -> None:
    sink = GatedSink()
    sink.up.clear()
    emitter = Emitter(
        sink, service="host", queue_size=50, batch_size=50, flush_interval=0.01, coalesce_window=0
    )
    errors = [emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect") for _ in range(20)]
    for _ in range(200):
        emitter.emit("MCP_CONNECTED", server="a", touchpoint="lifecycle")
    for _ in range(10):
        emitter.emit("MCP_TOOL_ERROR", server="a", touchpoint="tool_call")
    stats = emitter.stats()
    assert stats.dropped["error"] == 0 and stats.dropped["warning"] == 0
    # At most a queue and one batch the blocked worker holds are kept, errors and warnings first: of the
    # 200 infos at least 200 - (50 + 50 - 30) are dropped, however soon the worker took its batch.
    assert stats.dropped["info"] >= 200 - (50 + 50 - 30)
    sink.up.set()
    assert emitter.flush(5)
    delivered = {e["traceId"] for e in sink.events if e["code"] == "MCP_TIMEOUT"}
    assert delivered == set(errors)
    assert sum(e["code"] == "MCP_TOOL_ERROR" for e in sink.events) == 10
    # The drop count travels in a later event, so the collector side can see that something was shed.
    reported = [
        e["attrs"]["mcpdiag.dropped_events"] for e in sink.events if "mcpdiag.dropped_events" in e["attrs"]
    ]
    assert sum(reported) == emitter.stats().dropped_total
    emitter.close()


def test_batches_survive_a_sink_outage_and_arrive_after_recovery() -> None:
    sink = GatedSink()
    sink.up.clear()
    emitter = Emitter(
        sink, service="host", queue_size=10_000, batch_size=100, flush_interval=0.01, coalesce_window=0
    )
    ids = [emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect") for _ in range(500)]
    time.sleep(0.2)
    assert emitter.stats().retried_batches >= 1 and not sink.events
    sink.up.set()
    assert emitter.flush(10)
    assert sorted(e["traceId"] for e in sink.events) == sorted(ids)
    emitter.close()


def test_emit_after_close_is_counted_not_raised() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, service="host")
    emitter.close()
    debug_id = emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect")
    assert len(debug_id) == 32
    assert emitter.stats().dropped["error"] == 1 and sink.events == []
    emitter.close()  # closing twice is harmless


def test_eight_threads_emitting_concurrently_lose_and_duplicate_nothing() -> None:
    sink = MemorySink()
    emitter = Emitter(
        sink, service="host", queue_size=20_000, batch_size=64, flush_interval=0.005, coalesce_window=0
    )
    results: list[list[str]] = [[] for _ in range(8)]

    def work(slot: int) -> None:
        for i in range(2000):
            results[slot].append(
                emitter.emit("MCP_TOOL_ERROR", server=f"s{slot}", touchpoint="tool_call", attrs={"i": i})
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert emitter.flush(10)
    sent = [e["traceId"] for e in sink.events]
    assert len(sent) == 16_000 and set(sent) == {i for r in results for i in r}
    assert len({e["id"] for e in sink.events}) == 16_000
    emitter.close()


def test_debug_id_is_the_current_opentelemetry_trace_id_when_a_span_is_active() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    sink = MemorySink()
    emitter = Emitter(sink, service="host", flush_interval=0.01)
    with tracer.start_as_current_span("tool call") as span:
        debug_id = emitter.emit("MCP_TIMEOUT", server="a", touchpoint="tool_call")
        context = span.get_span_context()
    outside = emitter.emit("MCP_TIMEOUT", server="a", touchpoint="tool_call")
    assert emitter.flush(5)
    assert debug_id == format(context.trace_id, "032x")
    assert sink.events[0]["spanId"] == format(context.span_id, "016x")
    assert outside != debug_id and sink.events[1]["spanId"] is None
    emitter.close()


async def test_aflush_and_aclose_do_not_block_the_event_loop() -> None:
    sink = GatedSink()
    sink.hang.set()
    emitter = Emitter(sink, service="host", flush_interval=0.01)
    emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect")
    async with loop_ticks() as ticks:
        assert await emitter.aflush(timeout=0.3) is False
    assert ticks() >= 3  # the loop kept running while flush waited on the hung sink
    sink.release.set()
    await emitter.aclose(timeout=1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_gets_a_working_emitter(request: pytest.FixtureRequest) -> None:
    if ran_without_faketime(request):
        return
    read_end, write_end = os.pipe()
    sink = CallableSink(lambda events: os.write(write_end, f"{len(events)}\n".encode()))
    emitter = Emitter(sink, service="host", flush_interval=0.01)
    emitter.emit("MCP_CONNECTED", server="a", touchpoint="lifecycle")
    assert emitter.flush(5)
    pid = os.fork()
    if pid == 0:  # the child: its parent's worker thread does not exist here
        try:
            emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect")
            os._exit(0 if emitter.flush(5) else 3)
        except BaseException:
            os._exit(4)
    exit_code = wait_child(pid)
    os.close(write_end)
    assert exit_code == 0
    with os.fdopen(read_end) as pipe:
        assert pipe.read().split() == ["1", "1"]
    emitter.close()
