"""The ingest pipeline in-process: batching across requests, durability before answering, backpressure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from mcpdiag.collector import IngestPipeline, OverloadedError, Spool, SpoolFullError
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import SQLiteEventStore
from tests.collector.support import OutageStore, stored_ids
from tests.factories import make_event
from tests.waiting import PATIENCE_S


class RecordingStore(OutageStore):
    """Records the size of every store write (wrapping a real SQLite store)."""

    def __init__(self, inner: SQLiteEventStore) -> None:
        super().__init__(inner)
        self.batches: list[int] = []
        self.written: list[str] = []

    async def append(self, events: Sequence[DiagnosticEvent]) -> int:
        self.batches.append(len(events))
        self.written.extend(event.id for event in events)
        return await super().append(events)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RecordingStore]:
    store = RecordingStore(SQLiteEventStore(tmp_path / "events.db"))
    await store.ensure_schema()
    yield store
    await store.close()


def pipeline_for(store: RecordingStore, tmp_path: Path, **options: object) -> IngestPipeline:
    spool = Spool(tmp_path / "spool", max_bytes=int(options.pop("spool_bytes", 10_000_000)))  # type: ignore[call-overload]
    return IngestPipeline(store, spool, replay_backoff=(0.02, 0.1), **options)  # type: ignore[arg-type]


async def test_the_future_resolves_only_after_the_events_are_in_the_store(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    events = [make_event() for _ in range(20)]
    assert await pipeline.submit(events) == 20
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(e.id for e in events)
    await pipeline.stop()


async def test_concurrent_requests_share_batches_up_to_the_batch_size(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, batch_size=500)
    await pipeline.start()
    requests = [[make_event() for _ in range(50)] for _ in range(40)]
    results = await asyncio.gather(*(pipeline.submit(r) for r in requests))
    assert results == [50] * 40
    assert sum(store.batches) == 2000 and max(store.batches) == 500 and len(store.batches) <= 5
    await pipeline.stop()


async def test_by_default_concurrent_requests_of_500_events_are_written_together(
    store: RecordingStore, tmp_path: Path
) -> None:
    # Emitters and benchmarks send requests of 500: one store write each would pay a transaction, a commit
    # and every rollup row per request (an append of 5,000 at once cost SQLite about 30 % less an event).
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    requests = [[make_event() for _ in range(500)] for _ in range(8)]
    assert await asyncio.gather(*(pipeline.submit(r) for r in requests)) == [500] * 8
    assert sum(store.batches) == 4000 and max(store.batches) > 500, store.batches
    assert store.written == [event.id for request in requests for event in request]
    await pipeline.stop()


async def test_requests_of_a_batchs_size_are_written_whole_and_every_batch_keeps_submission_order(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, batch_size=500)
    await pipeline.start()
    requests = [[make_event() for _ in range(size)] for size in (500, 500, 20, 30, 700, 10)]
    assert await asyncio.gather(*(pipeline.submit(r) for r in requests)) == [len(r) for r in requests]
    assert store.batches[:2] == [500, 500] and sum(store.batches) == 1760
    assert store.written == [event.id for request in requests for event in request]
    await pipeline.stop()


async def test_a_lone_request_is_written_without_waiting_for_the_batch_interval(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, batch_interval=3600.0)
    await pipeline.start()
    # Waiting for the interval would take an hour: the bound only stops a hang, it measures nothing.
    assert await asyncio.wait_for(pipeline.submit([make_event()]), timeout=PATIENCE_S) == 1
    await pipeline.stop()


async def test_a_failed_write_is_spooled_then_replayed_once_the_store_is_back(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    store.start_outage()
    events = [make_event() for _ in range(30)]
    assert await pipeline.submit(events) == 30  # durable in the spool
    assert not pipeline.store_healthy and len(pipeline.spool) == 1
    store.end_outage()
    deadline = time.monotonic() + 10
    while len(pipeline.spool) or not pipeline.store_healthy:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(e.id for e in events)
    assert pipeline.metrics.replayed._value.get() == 30
    await pipeline.stop()


async def test_a_full_queue_refuses_new_events_instead_of_dropping_them(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, queue_max_events=100)
    await pipeline.start()
    first = pipeline.submit([make_event() for _ in range(100)])
    with pytest.raises(OverloadedError):
        pipeline.submit([make_event()])
    assert await first == 100
    assert await pipeline.submit([make_event()]) == 1
    await pipeline.stop()


async def test_when_the_store_is_down_and_the_spool_full_ingest_is_refused(
    store: RecordingStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, spool_bytes=5000)
    await pipeline.start()
    store.start_outage(3600)
    await pipeline.submit([make_event()])
    with pytest.raises(SpoolFullError):  # the batch does not fit: the request fails, nothing is accepted
        await pipeline.submit([make_event() for _ in range(20)])
    assert pipeline.spool.full  # refused a batch: new ingest is refused up front until space is freed
    with pytest.raises(SpoolFullError):
        pipeline.submit([make_event()])
    await pipeline.stop()


async def test_stop_drains_the_queue_and_then_refuses(store: RecordingStore, tmp_path: Path) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    pending = [pipeline.submit([make_event() for _ in range(10)]) for _ in range(10)]
    await pipeline.stop()
    assert [await p for p in pending] == [10] * 10
    assert len(stored_ids(tmp_path / "events.db")) == 100
    with pytest.raises(OverloadedError):
        pipeline.submit([make_event()])
