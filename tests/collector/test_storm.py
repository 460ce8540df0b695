"""Ingest budgets in the pipeline: past a server's (or ingest key's) token bucket, events are merged by
fingerprint into summary events that count every occurrence; nothing is dropped, a spooled summary replays
idempotently, and a storming server costs the shared queue almost nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mcpdiag.collector import CollectorSettings, IngestPipeline, OverloadedError, Spool, create_collector_app
from mcpdiag.collector.storm import COALESCED_EVENTS_ATTR, COALESCED_USERS_ATTR, IngestBudget
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import EventQuery, SQLiteEventStore
from tests.collector.support import (
    OutageStore,
    asgi_client,
    new_key,
    serve,
    settings_for,
    stored_ids,
    wire_events,
)
from tests.factories import NOW, make_event

STORM = "jira"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OutageStore]:
    store = OutageStore(SQLiteEventStore(tmp_path / "events.db"))
    await store.ensure_schema()
    yield store
    await store.close()


def budget(*, server: float = 5, key: float = 0, key_rate: float = 0) -> IngestBudget:
    """Buckets of `server` (and `key`) tokens on a frozen clock: no refill, so a test knows its budget."""
    return IngestBudget(
        server_rate=1e-9 if server else 0,
        server_burst=server or 1,
        key_rate=key_rate or (1e-9 if key else 0),
        key_burst=key or 1,
        clock=lambda: 0.0,
    )


def pipeline_for(store: OutageStore, tmp_path: Path, **options: Any) -> IngestPipeline:
    spool = Spool(tmp_path / "spool", max_bytes=10_000_000)
    options.setdefault("budget", budget())
    return IngestPipeline(store, spool, replay_backoff=(0.02, 0.1), merge_interval=0.01, **options)


def failures(count: int, *, server: str = STORM, users: int = 10, **fields: Any) -> list[DiagnosticEvent]:
    start = NOW - timedelta(minutes=30)
    return [
        make_event(
            server=server,
            code="MCP_CONNECTION_REFUSED",
            user_id=f"user-{n % users}",
            ts=start + timedelta(milliseconds=n),
            **fields,
        )
        for n in range(count)
    ]


async def rows(store: OutageStore, server: str) -> list[dict[str, Any]]:
    page = await store.page(EventQuery(server=server, limit=200, since=NOW - timedelta(days=1)))
    return page.items


async def test_past_its_budget_a_servers_failures_become_one_summary_that_counts_every_occurrence(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    events = failures(200)
    assert await pipeline.submit(events) == 200
    stored = await rows(store, STORM)
    assert len(stored) == 5 + 1  # the budget one by one, then one summary
    assert sum(row["count"] for row in stored) == 200
    summary = next(row for row in stored if row["count"] > 1)
    first_over = events[5]
    # The first merged event's id and Debug ID: a replay of the same batch stores nothing twice.
    assert (summary["id"], summary["traceId"], summary["ts"]) == (
        first_over.id,
        first_over.trace_id,
        first_over.to_wire()["ts"],
    )
    assert summary["firstTs"] == events[5].to_wire()["ts"] and summary["lastTs"] == events[-1].to_wire()["ts"]
    # Merged across users: server-wide, saying how many users it stands for; nobody's attrs on it.
    assert summary["userId"] is None
    assert summary["attrs"] == {COALESCED_EVENTS_ATTR: 195, COALESCED_USERS_ATTR: 10}
    assert (await store.summary(STORM, NOW - timedelta(days=1))).total == 200
    metrics = pipeline.metrics
    assert metrics.over_budget.labels(STORM, "server")._value.get() == 195
    assert metrics.coalesced.labels(STORM)._value.get() == 194
    assert metrics.summaries.labels(STORM)._value.get() == 1
    await pipeline.stop()


async def test_counts_of_events_that_already_coalesced_add_up_and_their_span_is_kept(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, budget=budget(server=1))
    await pipeline.start()
    start = NOW - timedelta(minutes=10)
    events = [
        make_event(
            server=STORM,
            code="MCP_TIMEOUT",
            user_id="ann",
            ts=start + timedelta(seconds=n),
            count=n + 1,
            first_ts=start + timedelta(seconds=n - 0.5),
            last_ts=start + timedelta(seconds=n + 0.5),
        )
        for n in range(1, 5)
    ]
    assert await pipeline.submit(events) == 4
    stored = await rows(store, STORM)
    assert sum(row["count"] for row in stored) == 2 + 3 + 4 + 5
    summary = max(stored, key=lambda row: row["count"])
    assert summary["count"] == 12 and summary["firstTs"] < summary["ts"] < summary["lastTs"]
    # One user: the summary stays theirs.
    assert summary["userId"] == "ann" and COALESCED_USERS_ATTR not in summary["attrs"]
    await pipeline.stop()


async def test_other_servers_in_the_same_batch_keep_their_own_budget(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    healthy = [make_event(server="github", code="MCP_TOOL_ERROR", user_id="bob") for _ in range(4)]
    mixed = failures(50)[:25] + healthy + failures(50)[25:]
    assert await pipeline.submit(mixed) == 54
    assert sorted(r["id"] for r in await rows(store, "github")) == sorted(e.id for e in healthy)
    assert len(await rows(store, STORM)) == 6
    await pipeline.stop()


async def test_an_ingest_key_past_its_own_budget_is_merged_whatever_the_server(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, budget=budget(server=0, key=10))
    await pipeline.start()
    servers = [f"server-{n}" for n in range(5)]
    noisy = [event for server in servers for event in failures(20, server=server)]
    quiet = failures(20, server="server-0")
    assert await asyncio.gather(
        pipeline.submit(noisy, key_id="noisy"), pipeline.submit(quiet, key_id="quiet")
    ) == [100, 20]
    stored = {server: await rows(store, server) for server in servers}
    assert sum(len(r) for r in stored.values()) == 10 + 5 + 10  # noisy: its 10, then a summary per server
    assert sum(row["count"] for r in stored.values() for row in r) == 120
    assert pipeline.metrics.over_budget.labels("server-1", "key")._value.get() == 20
    await pipeline.stop()


@pytest.mark.parametrize("code", ["MCP_CONNECTED", "MCP_DISCONNECTED"])
async def test_events_other_than_failures_are_merged_per_user_never_into_someone_elses(
    store: OutageStore, tmp_path: Path, code: str
) -> None:
    pipeline = pipeline_for(store, tmp_path, budget=budget(server=1))
    await pipeline.start()
    events = [
        make_event(server=STORM, code=code, user_id=f"u{n % 3}", touchpoint="lifecycle") for n in range(31)
    ]
    assert await pipeline.submit(events) == 31
    stored = await rows(store, STORM)
    merged = [row for row in stored if row["count"] > 1]
    assert sorted(row["userId"] for row in merged) == ["u0", "u1", "u2"]
    assert sum(row["count"] for row in stored) == 31
    await pipeline.stop()


async def test_requests_arriving_together_share_one_summary(store: OutageStore, tmp_path: Path) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    requests = [failures(30) for _ in range(20)]
    assert await asyncio.gather(*(pipeline.submit(r) for r in requests)) == [30] * 20
    stored = await rows(store, STORM)
    assert len(stored) == 6 and sum(row["count"] for row in stored) == 600
    await pipeline.stop()


async def test_a_storming_server_costs_the_shared_queue_almost_nothing(
    store: OutageStore, tmp_path: Path
) -> None:
    """Before budgets, the storm's events filled the global queue and everyone got 503."""
    pipeline = pipeline_for(store, tmp_path, queue_max_events=100)
    await pipeline.start()
    storm = [pipeline.submit(failures(90)) for _ in range(30)]  # 2,700 events into a queue of 100
    healthy = pipeline.submit([make_event(server="github", user_id="bob") for _ in range(80)])
    assert await healthy == 80
    assert await asyncio.gather(*storm) == [90] * 30
    stored = await rows(store, STORM)
    assert sum(row["count"] for row in stored) == 2700 and len(stored) <= 5 + 30
    await pipeline.stop()


async def test_without_a_budget_a_full_queue_is_still_refused(store: OutageStore, tmp_path: Path) -> None:
    pipeline = pipeline_for(store, tmp_path, queue_max_events=100, budget=None)
    await pipeline.start()
    first = pipeline.submit(failures(100))
    with pytest.raises(OverloadedError):
        pipeline.submit(failures(1))
    assert await first == 100
    assert len(stored_ids(tmp_path / "events.db")) == 100
    await pipeline.stop()


async def test_summaries_written_to_the_spool_replay_once_and_count_once(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    store.start_outage()
    assert await pipeline.submit(failures(300)) == 300  # durable in the spool
    assert len(pipeline.spool) >= 1
    store.end_outage()
    deadline = time.monotonic() + 10
    while len(pipeline.spool) or not pipeline.store_healthy:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    ids = stored_ids(tmp_path / "events.db")
    assert len(ids) == len(set(ids)) == 6  # lost acknowledgements replayed: nothing stored twice
    assert (await store.summary(STORM, NOW - timedelta(days=1))).total == 300
    await pipeline.stop()


async def test_stop_writes_what_is_being_merged(store: OutageStore, tmp_path: Path) -> None:
    pipeline = pipeline_for(store, tmp_path)
    pipeline.merge_interval = 3600  # only `stop()` can release the merged events now
    await pipeline.start()
    pending = pipeline.submit(failures(50))
    await asyncio.sleep(0)
    await pipeline.stop()
    assert await pending == 50
    assert sum(row["count"] for row in await rows(store, STORM)) == 50


async def test_a_request_whose_events_are_all_over_budget_waits_for_their_summary(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path)
    await pipeline.start()
    assert await pipeline.submit(failures(5)) == 5  # the budget, spent
    later: Sequence[DiagnosticEvent] = failures(7)
    assert await pipeline.submit(later) == 7
    summary = [row for row in await rows(store, STORM) if row["count"] > 1]
    assert [row["id"] for row in summary] == [later[0].id] and summary[0]["count"] == 7
    await pipeline.stop()


async def test_over_budget_events_posted_over_http_are_all_accepted_counted_and_exposed(
    tmp_path: Path,
) -> None:
    key = new_key()
    settings = settings_for(
        tmp_path, key, server_budget_per_s=0.001, server_budget_burst=3, budget_merge_s=0.05
    )
    store = SQLiteEventStore(tmp_path / "events.db")
    app = create_collector_app(settings, store)
    async with asgi_client(app, key) as client:
        answers = await asyncio.gather(
            *(client.post("/v1/events", json={"events": wire_events(40, server=STORM)}) for _ in range(5))
        )
        assert [a.status_code for a in answers] == [202] * 5
        assert all(a.json() == {"accepted": 40, "rejected": []} for a in answers)
        exposition = (await client.get("/metrics")).text
    stored = stored_ids(tmp_path / "events.db")
    assert len(stored) < 3 + 5 * 2  # the burst, then at most a summary per request
    summary = await store.summary(STORM, NOW - timedelta(days=1))
    assert summary.total == 200
    assert f'mcpdiag_events_over_budget_total{{budget="server",server="{STORM}"}} 197.0' in exposition
    assert f'mcpdiag_events_total{{code="MCP_TIMEOUT",server="{STORM}",severity="error"}} 200.0' in exposition
    assert "mcpdiag_events_coalesced_total" in exposition and "mcpdiag_overflow_events" in exposition
    await store.close()


def test_budget_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPDIAG_SERVER_BUDGET_PER_S", "0")
    monkeypatch.setenv("MCPDIAG_KEY_BUDGET_BURST", "50")
    monkeypatch.setenv("MCPDIAG_BUDGET_MERGE_S", "2.5")
    settings = CollectorSettings(_env_file=None)
    assert (settings.server_budget_per_s, settings.key_budget_burst, settings.budget_merge_s) == (0, 50, 2.5)
    assert (
        CollectorSettings(_env_file=None, server_budget_per_s=0, key_budget_per_s=0).server_budget_burst
        == 200
    )
    with pytest.raises(ValidationError, match="budget_merge_s"):
        CollectorSettings(_env_file=None, budget_merge_s=0)


async def test_a_coalescing_emitter_and_the_collector_store_the_follow_up_with_its_count(
    tmp_path: Path,
) -> None:
    """HttpSink → /v1/events → store: the first failure resolves at once, the follow-up counts the rest."""
    from mcpdiag.emitters import Emitter, HttpSink

    key = new_key()
    store = SQLiteEventStore(tmp_path / "events.db")
    app = create_collector_app(settings_for(tmp_path, key), store)
    async with serve(app) as url:
        emitter = Emitter(HttpSink(url, api_key=key), service="py-host", flush_interval=0.01)
        ids = [
            emitter.emit("MCP_TIMEOUT", server=STORM, touchpoint="connect", user_id="bob") for _ in range(25)
        ]
        assert await emitter.aflush(10)
        assert await store.by_trace(ids[0]) and await store.by_trace(ids[-1])
        await emitter.aclose()
    stored = sorted((await store.page(EventQuery(server=STORM, limit=200))).items, key=lambda r: r["count"])
    assert [(row["count"], row["traceId"]) for row in stored] == [(1, ids[0]), (24, ids[-1])]
    assert stored[1]["firstTs"] <= stored[1]["lastTs"]
    await store.close()


async def test_many_distinct_fingerprints_are_released_early_instead_of_piling_up(
    store: OutageStore, tmp_path: Path
) -> None:
    pipeline = pipeline_for(store, tmp_path, queue_max_events=100)
    pipeline.merge_interval = 3600  # only the bound releases merged events before `stop()`
    await pipeline.start()
    events = [
        make_event(server=STORM, code="MCP_TOOL_ERROR", tool=f"tool-{n}", user_id="u") for n in range(205)
    ]
    pending = pipeline.submit(events)
    assert len(pipeline.overflow) < 10  # bound: a tenth of the queue
    await pipeline.stop()
    assert await pending == 205
    assert len(stored_ids(tmp_path / "events.db")) == 205  # every fingerprint differs: nothing merged
