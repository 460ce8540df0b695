"""The host's emitter while the collector is down (its port closed) for a while, through a real `HttpSink`
and a real collector on loopback: `emit()` keeps returning a Debug ID and never raises, the queue stays
bounded, the overflow is dropped and counted, and after the collector is back every event that was not
dropped arrives, with the drop count reported on later events."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from mcpdiag.collector import create_collector_app
from mcpdiag.emitters import Emitter, HttpSink
from tests.collector.support import settings_for
from tests.e2e.loopback import serve_on
from tests.e2e.servers import free_port

QUEUE_SIZE = 200
BATCH_SIZE = 50
DROPS_ATTR = "mcpdiag.dropped_events"


def stored_events(db: Path) -> list[dict[str, Any]]:
    """Every stored event document (read with plain sqlite3)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT doc FROM events")]


def emit_steadily(emitter: Emitter, count: int, rate: float, server: str) -> tuple[list[str], int]:
    """Emit `count` events at about `rate` per second from this (the host's) thread; their trace ids and
    the most events the emitter held at once."""
    trace_ids: list[str] = []
    most_pending = 0
    started = time.monotonic()
    for i in range(count):
        trace_id = emitter.emit("MCP_TIMEOUT", server=server, touchpoint="tool_call", attrs={"seq": i})
        assert isinstance(trace_id, str) and len(trace_id) == 32
        trace_ids.append(trace_id)
        most_pending = max(most_pending, emitter.pending)
        ahead = started + (i + 1) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    return trace_ids, most_pending


def test_emit_stays_safe_during_an_outage_and_everything_not_dropped_arrives(tmp_path: Path) -> None:
    key = "ik_" + secrets.token_hex(16)
    settings = settings_for(tmp_path, key, server_budget_per_s=0, key_budget_per_s=0)
    port = free_port()
    emitter = Emitter(
        HttpSink(f"http://127.0.0.1:{port}", api_key=key, timeout=2, backoff=0.05),
        service="outage-host",
        coalesce_window=0,  # each event on its own: the count of what arrives is the point
        queue_size=QUEUE_SIZE,
        batch_size=BATCH_SIZE,
        flush_interval=0.05,
    )
    try:
        with serve_on(create_collector_app(settings), port):
            before, _ = emit_steadily(emitter, 100, rate=500, server="before")
            assert emitter.flush(15)
            assert emitter.stats().dropped_total == 0

        # The collector is gone (port closed): the host keeps emitting at a steady rate.
        during, most_pending = emit_steadily(emitter, 1000, rate=400, server="during")
        outage = emitter.stats()
        # The queue is bounded; the batch being sent is counted on top (+1: emit's lock-free size check
        # can race the worker handing a failed batch back).
        assert most_pending <= QUEUE_SIZE + BATCH_SIZE + 1, most_pending
        assert outage.dropped_total > 0, "a 2.5 s outage at 400 events/s must overflow a 200-event queue"
        assert outage.retried_batches > 0

        with serve_on(create_collector_app(settings), port):
            assert emitter.flush(30), "the backlog should drain once the collector is back"
            dropped = emitter.stats().dropped_total
            after, _ = emit_steadily(emitter, 100, rate=500, server="after")
            assert emitter.flush(15)
            assert emitter.stats().dropped_total == dropped
    finally:
        emitter.close(5)

    stats = emitter.stats()
    emitted = before + during + after
    stored = stored_events(tmp_path / "events.db")
    stored_trace_ids = [event["traceId"] for event in stored]
    assert len(stored_trace_ids) == len(set(stored_trace_ids)), "an event arrived twice"
    assert set(stored_trace_ids) <= set(emitted)
    assert len(stored) == len(emitted) - stats.dropped_total == stats.sent
    assert set(before) | set(after) <= set(stored_trace_ids), "only events of the outage may be dropped"
    reported = sum(int(event["attrs"].get(DROPS_ATTR, 0)) for event in stored)
    assert reported == stats.dropped_total, "every drop is reported once, on a later event"
