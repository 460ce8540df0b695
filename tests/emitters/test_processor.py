"""The batch processor behind `Emitter`: delivery in emit order, shedding by severity, bounded retries that
isolate a poisoned event instead of retrying its batch forever, and a clean start in a forked child."""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import pytest

from mcpdiag.emitters import Emitter, MemorySink, Severity
from mcpdiag.emitters.processor import BatchProcessor, next_seq
from mcpdiag.emitters.sinks import CallableSink, Outcome, SinkResult
from tests.emitters.support import GatedSink, JudgingSink
from tests.forking import ran_without_faketime, wait_child

DROPS = "mcpdiag.dropped_events"
MIXED = [  # (code, severity): every severity, in an order that is not sorted by it
    ("MCP_CONNECTED", None),  # info
    ("MCP_TOOL_ERROR", None),  # warning
    ("MCP_TIMEOUT", None),  # error
    ("MCP_TIMEOUT", "critical"),
    ("MCP_CONNECTED", "debug"),
    ("MCP_DISCONNECTED", None),  # info
]


def emit_mixed(emitter: Emitter, count: int, **fields: Any) -> list[tuple[str, str]]:
    """Emit `count` events cycling through every severity; (trace id, severity) of each, in emit order."""
    emitted = []
    for n, (code, severity) in zip(range(count), itertools.cycle(MIXED), strict=False):
        trace_id = emitter.emit(
            code, server="s", touchpoint="connect", severity=severity, attrs={"n": n}, **fields
        )
        emitted.append(
            (
                trace_id,
                severity or ("info" if "CONNECT" in code else "warning" if "TOOL" in code else "error"),
            )
        )
    return emitted


def stuck_emitter(sink: GatedSink, **options: Any) -> Emitter:
    """An emitter whose worker is inside `sink.send` with one event: whatever is emitted now waits queued."""
    sink.hang.set()
    emitter = Emitter(sink, service="host", flush_interval=0.01, coalesce_window=0, **options)
    emitter.emit("MCP_CONNECTED", server="first", touchpoint="lifecycle")
    assert sink.entered.wait(10)
    return emitter


def test_events_of_every_severity_are_delivered_in_emit_order() -> None:
    sink = GatedSink()
    emitter = stuck_emitter(sink)
    emitted = emit_mixed(emitter, 300)
    sink.release.set()
    assert emitter.flush(10)
    assert [e["traceId"] for e in sink.events[1:]] == [trace_id for trace_id, _ in emitted]
    emitter.close()


def test_a_full_queue_sheds_the_lowest_severity_and_keeps_emit_order_among_the_kept() -> None:
    sink = GatedSink()
    emitter = stuck_emitter(sink, queue_size=40)
    emitted = emit_mixed(emitter, 200)
    sink.release.set()
    assert emitter.flush(10)
    kept = [e["traceId"] for e in sink.events[1:]]
    severity = dict(emitted)
    assert kept == [trace_id for trace_id, _ in emitted if trace_id in set(kept)]
    dropped = [s for trace_id, s in emitted if trace_id not in set(kept)]
    assert len(kept) == 40 and len(dropped) == 160
    rank = {s.value: s.rank for s in Severity}
    assert max(rank[s] for s in dropped) <= min(rank[severity[t]] for t in kept)
    assert emitter.stats().dropped_total == 160
    emitter.close()


def test_events_a_down_sink_handed_back_keep_their_order_when_it_recovers() -> None:
    sink = GatedSink()
    sink.up.clear()
    emitter = Emitter(sink, service="host", flush_interval=0.01, batch_size=64, coalesce_window=0)
    emitted = emit_mixed(emitter, 300)
    while emitter.stats().retried_batches < 2:
        threading.Event().wait(0.01)
    sink.up.set()
    assert emitter.flush(20)
    assert [e["traceId"] for e in sink.events] == [trace_id for trace_id, _ in emitted]
    assert emitter.stats().dropped_total == 0
    emitter.close()


def marked(batch: list[dict[str, Any]]) -> bool:
    return any(e["attrs"].get("poison") for e in batch)


def one_batch_emitter(sink: Any, **options: Any) -> Emitter:
    """An emitter whose worker only wakes on `flush()`, so everything emitted before it is one batch."""
    return Emitter(sink, service="host", flush_interval=3600, coalesce_window=0, **options)


@pytest.mark.parametrize(
    "refusal",
    [
        SinkResult(Outcome.RETRY, error="HTTP 500", isolate=True),
        SinkResult(Outcome.FAILED, error="HTTP 400", isolate=True),
    ],
    ids=["retry", "failed"],
)
def test_a_batch_refused_for_one_event_is_split_until_only_that_event_is_dropped(refusal: SinkResult) -> None:
    sink = JudgingSink(lambda batch: refusal if marked(batch) else None)
    emitter = one_batch_emitter(sink, batch_size=500)
    ids = [
        emitter.emit("MCP_TIMEOUT", server="s", touchpoint="connect", attrs={"poison": n == 137})
        for n in range(300)
    ]
    assert emitter.flush(30)
    emitter.emit("MCP_CONNECTED", server="s", touchpoint="lifecycle")  # carries a drop not yet reported
    assert emitter.flush(30)
    stats = emitter.stats()
    assert [e["traceId"] for e in sink.events[:299]] == ids[:137] + ids[138:]
    assert stats.poisoned == 1 and stats.dropped["error"] == 1 and stats.sent == 300
    assert sum(e["attrs"].get(DROPS, 0) for e in sink.events) == 1
    # Bisection, not one request per event: a handful of retries, then two sends per halving.
    assert len(sink.batches) <= 4 + 2 * 9 + 4 + 1, len(sink.batches)
    emitter.close()


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_max_retries_bounds_how_often_a_failing_event_is_sent_before_it_is_dropped(max_retries: int) -> None:
    refusal = SinkResult(Outcome.RETRY, error="HTTP 500", isolate=True)
    sink = JudgingSink(lambda batch: refusal)
    emitter = one_batch_emitter(sink, max_retries=max_retries)
    emitter.emit("MCP_TIMEOUT", server="s", touchpoint="connect")
    assert emitter.flush(30)
    assert len(sink.batches) == 1 + max_retries
    assert emitter.stats().poisoned == 1 and emitter.pending == 0
    emitter.close()


def test_a_refusal_not_about_the_batch_drops_it_whole_without_splitting() -> None:
    sink = JudgingSink(lambda batch: SinkResult(Outcome.FAILED, error="HTTP 401"))
    emitter = one_batch_emitter(sink)
    for _ in range(50):
        emitter.emit("MCP_TIMEOUT", server="s", touchpoint="connect")
    assert emitter.flush(10)
    stats = emitter.stats()
    assert len(sink.batches) == 1 and stats.failed_batches == 1 and stats.dropped["error"] == 50
    assert stats.poisoned == 0
    emitter.close()


def test_an_outage_is_never_mistaken_for_a_poisoned_batch() -> None:
    """A sink that is down (RETRY, nothing about the batch) keeps every event, however often it fails."""
    calls = itertools.count(1)
    sink = JudgingSink(
        lambda batch: SinkResult(Outcome.RETRY, error="connection refused") if next(calls) <= 12 else None
    )
    processor = BatchProcessor(
        sink,
        finalize=lambda record: {"n": record[1], "attrs": {}},
        max_retries=1,
        retry_backoff=(0.001, 0.002),
    )
    for n in range(100):
        processor.enqueue((next_seq(), n), 3)
    assert processor.flush(30)
    assert [e["n"] for e in sink.events] == list(range(100))
    assert processor.stats().dropped_total == 0 and processor.stats().retried_batches == 12
    processor.close()


def test_a_record_that_cannot_be_finalised_is_dropped_alone_counted_and_reported() -> None:
    def finalize(record: tuple[Any, ...]) -> dict[str, Any]:
        if record[1] == 3:
            raise ValueError("cannot be made into a wire event")
        return {"n": record[1], "attrs": {}}

    sink = MemorySink()
    processor = BatchProcessor(sink, finalize=finalize, flush_interval=3600)
    for n in range(10):
        processor.enqueue((next_seq(), n), 2)
    assert processor.flush(10)
    assert [e["n"] for e in sink.events] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    stats = processor.stats()
    assert stats.poisoned == 1 and stats.dropped["warning"] == 1 and stats.failed_batches == 0
    assert [e["attrs"].get(DROPS) for e in sink.events] == [1] + [None] * 8  # reported by the same batch
    processor.close()


def test_a_stage_between_the_queue_and_the_batch_sees_events_in_emit_order_and_may_merge_them() -> None:
    """The seam for coalescing: a stage gets the finalised items of a batch and returns the ones to send."""
    seen: list[list[int]] = []

    def merge_pairs(items: list[tuple[int, int, dict[str, Any]]]) -> list[tuple[int, int, dict[str, Any]]]:
        seen.append([item[2]["n"] for item in items])
        merged = []
        for first, second in itertools.zip_longest(items[::2], items[1::2]):
            if second is not None:
                first[2]["count"] = 2
            merged.append(first)
        return merged

    sink = MemorySink()
    processor = BatchProcessor(
        sink, finalize=lambda r: {"n": r[1], "attrs": {}}, stages=[merge_pairs], flush_interval=3600
    )
    for n in range(10):
        processor.enqueue((next_seq(), n), n % 5)
    assert processor.flush(10)
    assert seen == [list(range(10))]
    assert [(e["n"], e.get("count")) for e in sink.events] == [(n, 2) for n in range(0, 10, 2)]
    processor.close()


def test_close_counts_every_event_it_could_not_deliver() -> None:
    sink = GatedSink()
    sink.up.clear()
    emitter = Emitter(sink, service="host", flush_interval=0.01, batch_size=10, coalesce_window=0)
    for _ in range(100):
        emitter.emit("MCP_TIMEOUT", server="s", touchpoint="connect")
    emitter.close(timeout=0.3)
    stats = emitter.stats()
    assert stats.dropped["error"] == 100 and stats.sent == 0 and emitter.pending == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_does_not_resend_what_its_parent_still_holds(request: pytest.FixtureRequest) -> None:
    if ran_without_faketime(request):
        return
    read_end, write_end = os.pipe()
    entered, gate = threading.Event(), threading.Event()

    def send(events: list[dict[str, Any]]) -> None:
        entered.set()
        gate.wait(10)  # the parent's worker holds its batch here while more events queue up
        os.write(write_end, "".join(f"{os.getpid()} {e['server']}\n" for e in events).encode())

    emitter = Emitter(CallableSink(send), service="host", flush_interval=0.01, coalesce_window=0)
    emitter.emit("MCP_CONNECTED", server="parent-in-flight", touchpoint="lifecycle")
    assert entered.wait(10)
    for _ in range(5):
        emitter.emit("MCP_TIMEOUT", server="parent-queued", touchpoint="connect")
    pid = os.fork()
    if pid == 0:  # the child: the parent's events are the parent's to deliver
        try:
            gate.set()
            emitter.emit("MCP_TIMEOUT", server="child", touchpoint="connect")
            os._exit(0 if emitter.flush(5) else 3)
        except BaseException:
            os._exit(4)
    assert wait_child(pid) == 0
    gate.set()
    assert emitter.flush(10)
    emitter.close()
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        sent = [line.split() for line in pipe.read().splitlines()]
    assert [server for who, server in sent if int(who) == pid] == ["child"]
    assert [server for who, server in sent if int(who) != pid] == ["parent-in-flight"] + ["parent-queued"] * 5
