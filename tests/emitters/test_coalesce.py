"""Coalescing at the emitter: identical failures within a window are one first event sent at once plus one
follow-up with `count`, `firstTs` and `lastTs`; nothing is lost at flush or close, counts are exact."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from mcpdiag.emitters import DiagnosticEvent, Emitter, MemorySink
from mcpdiag.emitters.coalesce import Coalescer
from mcpdiag.emitters.processor import BatchProcessor
from tests.emitters.support import GatedSink

WINDOW = 10.0


class Monotonic:
    """The windows' clock, moved by the test (the worker thread reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for the worker thread (generous bound: this is not a timing assertion)."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def emitter_with(sink: Any, clock: Monotonic, **options: Any) -> Emitter:
    options = {"flush_interval": 0.01, **options}
    return Emitter(sink, service="host", coalesce_window=WINDOW, monotonic=clock, **options)


def fail(emitter: Emitter, **fields: Any) -> str:
    values = {"server": "jira", "touchpoint": "connect", "user_id": "alice", **fields}
    return emitter.emit(values.pop("code", "MCP_CONNECTION_REFUSED"), **values)


def occurrences(events: list[dict[str, Any]]) -> int:
    return sum(e.get("count", 1) for e in events)


def test_the_first_failure_is_sent_at_once_and_its_repeats_arrive_as_one_follow_up_when_the_window_ends() -> (
    None
):
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock)
    first = fail(emitter)
    wait_until(lambda: len(sink.events) == 1, "the first occurrence")
    assert sink.events[0]["traceId"] == first and "count" not in sink.events[0]
    repeats = [fail(emitter, attrs={"attempt": n}) for n in range(4)]
    wait_until(lambda: emitter.stats().held == 4, "the repeats to be held")
    assert len(sink.events) == 1, "repeats wait for the window to end"
    clock.advance(WINDOW)
    wait_until(lambda: len(sink.events) == 2, "the follow-up")
    follow_up = sink.events[1]
    assert follow_up["count"] == 4
    # The follow-up is the last repeat: its Debug ID (the one the user saw last), id, ts and attrs.
    assert follow_up["traceId"] == repeats[-1] and follow_up["attrs"]["attempt"] == 3
    assert follow_up["lastTs"] == follow_up["ts"] and follow_up["firstTs"] <= follow_up["lastTs"]
    DiagnosticEvent.model_validate(follow_up)  # a valid wire event for the collector
    assert emitter.stats().coalesced == 4 and emitter.stats().held == 0 and emitter.pending == 0
    emitter.close()


def test_after_a_window_ends_the_next_failure_is_a_new_first_sent_at_once_after_the_old_follow_up() -> None:
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock)
    fail(emitter)
    wait_until(lambda: len(sink.events) == 1, "the first occurrence")
    fail(emitter)
    fail(emitter)
    wait_until(lambda: emitter.stats().held == 2, "the repeats to be held")
    clock.advance(WINDOW + 1)
    again = fail(emitter)
    wait_until(lambda: len(sink.events) == 3, "the follow-up and the new first")
    assert [e.get("count", 1) for e in sink.events] == [1, 2, 1]
    assert sink.events[2]["traceId"] == again
    emitter.close()


FIELDS = {
    "server": "confluence",
    "user_id": "bob",
    "code": "MCP_TIMEOUT",
    "touchpoint": "tool_call",
    "tool": "search",
    "severity": "critical",
}


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_failures_that_differ_in_one_identity_field_are_never_folded_together(field: str) -> None:
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock)
    ids = [fail(emitter), fail(emitter, **{field: FIELDS[field]})]
    assert emitter.flush(10)
    assert sorted(e["traceId"] for e in sink.events) == sorted(ids)
    assert all("count" not in e for e in sink.events)
    emitter.close()


@pytest.mark.parametrize(
    ("code", "severity"),
    [("MCP_CONNECTED", None), ("MCP_OAUTH_STARTED", None), ("MCP_TIMEOUT", "info"), ("MCP_TIMEOUT", "debug")],
)
def test_lifecycle_events_and_anything_below_warning_pass_through_one_by_one(
    code: str, severity: str | None
) -> None:
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock)
    ids = [fail(emitter, code=code, severity=severity) for _ in range(5)]
    assert emitter.flush(10)
    assert [e["traceId"] for e in sink.events] == ids and all("count" not in e for e in sink.events)
    emitter.close()


def test_flush_hands_over_what_the_window_holds_and_the_counts_stay_exact() -> None:
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock)
    for _ in range(3):
        for n in range(50):
            fail(emitter, user_id=f"user-{n % 5}")
        assert emitter.flush(10)
        assert emitter.stats().held == 0
    assert occurrences(sink.events) == 150
    # Per user: one first occurrence, then one follow-up per flush (the window never ended).
    assert len(sink.events) == 5 * 4 and emitter.stats().coalesced == 145
    emitter.close()


def test_close_delivers_every_held_repeat() -> None:
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock)
    for _ in range(1000):
        fail(emitter)
    emitter.close()
    assert occurrences(sink.events) == 1000 and len(sink.events) == 2
    assert emitter.stats().dropped_total == 0


def test_a_window_of_zero_turns_coalescing_off() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, service="host", flush_interval=0.01, coalesce_window=0)
    ids = [fail(emitter) for _ in range(20)]
    assert emitter.flush(10)
    assert [e["traceId"] for e in sink.events] == ids and emitter.coalesce_window == 0
    emitter.close()


def test_the_default_window_is_ten_seconds() -> None:
    emitter = Emitter(MemorySink(), service="host")
    assert emitter.coalesce_window == 10.0
    emitter.close()


def test_what_the_sink_hands_back_is_delivered_once_and_never_folded_again() -> None:
    sink, clock = GatedSink(), Monotonic()
    sink.up.clear()
    emitter = emitter_with(sink, clock, batch_size=8)
    first = fail(emitter)
    for _ in range(39):
        fail(emitter)
        fail(emitter, user_id="bob")
    wait_until(lambda: emitter.stats().retried_batches >= 2, "retries")
    clock.advance(WINDOW)  # windows end while the sink is down: their follow-ups are handed back, queued
    wait_until(lambda: emitter.stats().coalesced > 0, "a follow-up")
    for _ in range(10):
        fail(emitter)
    sink.up.set()
    assert emitter.flush(20)
    assert occurrences(sink.events) == 89 and emitter.stats().dropped_total == 0
    assert len({e["id"] for e in sink.events}) == len(sink.events), "nothing is delivered twice"
    alice = [e for e in sink.events if e["userId"] == "alice"]
    assert alice[0]["traceId"] == first and "count" not in alice[0]
    assert occurrences(alice) == 50 and len(alice) >= 3
    emitter.close()


def test_eight_threads_failing_the_same_way_are_counted_exactly() -> None:
    sink, clock = MemorySink(), Monotonic()
    emitter = emitter_with(sink, clock, queue_size=50_000)

    def work() -> None:
        for n in range(2000):
            fail(emitter)
            if n % 500 == 0:
                clock.advance(WINDOW / 2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    emitter.close()
    assert occurrences(sink.events) == 16_000 and len(sink.events) < 200
    assert len({e["id"] for e in sink.events}) == len(sink.events)


def test_past_its_key_bound_the_stage_lets_new_failures_through_instead_of_dropping_them() -> None:
    sink, clock = MemorySink(), Monotonic()
    processor = BatchProcessor(
        sink,
        finalize=lambda record: record[1],
        flush_interval=0.01,
        stages=[Coalescer(WINDOW, clock=clock, max_keys=3)],
    )
    emitter = Emitter(MemorySink(), service="host", coalesce_window=0)
    events = [
        emitter.emit_event("MCP_TIMEOUT", server="s", touchpoint="connect", user_id=f"u{n % 6}")
        for n in range(60)
    ]
    emitter.close()
    for n, event in enumerate(events):
        processor.enqueue((n, event), 3)
    processor.close()
    assert occurrences(sink.events) == 60
    counts = {e["userId"]: e.get("count", 1) for e in sink.events if e.get("count", 1) > 1}
    assert set(counts) == {"u0", "u1", "u2"}  # three windows; the other users' failures went one by one
    assert sum(e["userId"] in {"u3", "u4", "u5"} for e in sink.events) == 30


def test_a_forked_child_forgets_the_repeats_its_parent_holds() -> None:
    sink, clock = MemorySink(), Monotonic()
    stage = Coalescer(WINDOW, clock=clock)
    processor = BatchProcessor(sink, finalize=lambda record: record[1], flush_interval=0.01, stages=[stage])
    emitter = Emitter(MemorySink(), service="host", coalesce_window=0)
    for n in range(5):
        processor.enqueue((n, emitter.emit_event("MCP_TIMEOUT", server="s", touchpoint="connect")), 3)
    emitter.close()
    wait_until(lambda: stage.held == 4, "the repeats to be held")
    processor.after_fork()
    assert stage.held == 0 and processor.pending == 0
    processor.close()
    assert occurrences(sink.events) == 1
