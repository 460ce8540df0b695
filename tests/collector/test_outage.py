"""Store outages through real HTTP: every 202'd event ends up stored exactly once, and nothing is lost
when the collector is restarted with batches still in the spool."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from mcpdiag.collector import create_collector_app
from mcpdiag.store import SQLiteEventStore
from tests.collector.support import OutageStore, new_key, serve, settings_for, stored_ids, wire_events
from tests.waiting import HTTP_PATIENCE, PATIENCE_S


async def post_until_accepted(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> list[str]:
    """POST one batch, retrying after `Retry-After` on 503; the ids of the accepted events."""
    for _ in range(200):
        response = await client.post("/v1/events", json={"events": events})
        if response.status_code == 503:
            await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 10)
            continue
        assert response.status_code == 202, response.text
        body = response.json()
        assert body == {"accepted": len(events), "rejected": []}
        return [event["id"] for event in events]
    raise AssertionError("never accepted")


NO_BUDGET = {"server_budget_per_s": 0, "key_budget_per_s": 0}
"""Bulk loads, stored one by one (ingest budgets are `test_storm.py`'s subject)."""


def spooled_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.batch"))


async def wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_events_posted_during_a_store_outage_are_all_stored_exactly_once(tmp_path: Path) -> None:
    key = new_key()
    settings = settings_for(tmp_path, key, **NO_BUDGET)
    store = OutageStore(SQLiteEventStore(tmp_path / "events.db"))
    app = create_collector_app(settings, store, replay_backoff=(0.05, 0.5))
    batches = [wire_events(500, server=f"srv-{i % 4}") for i in range(20)]
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE) as client,
    ):
        store.start_outage()  # until every batch was answered, however long that takes here
        queue = list(batches)
        accepted: list[str] = []

        async def worker() -> None:
            while queue:
                accepted.extend(await post_until_accepted(client, queue.pop()))

        await asyncio.gather(*(worker() for _ in range(4)))
        assert store.failed_writes > 0 and store.lost_acks > 0
        assert spooled_files(settings.spool_dir), "batches written during the outage wait in the spool"
        store.end_outage()

        runtime = app.state.collector
        await wait_for(lambda: not store.down and len(runtime.spool) == 0, timeout=PATIENCE_S)
        health = (await client.get("/healthz")).json()
        assert health["spoolBatches"] == 0 and health["storeHealthy"] is True

    ids = stored_ids(tmp_path / "events.db")
    assert len(accepted) == 10_000
    assert sorted(ids) == sorted(accepted)
    assert spooled_files(settings.spool_dir) == []
    await store.close()


async def test_a_new_collector_replays_the_spool_an_earlier_one_left_behind(tmp_path: Path) -> None:
    key = new_key()
    settings = settings_for(tmp_path, key, **NO_BUDGET)
    failing = OutageStore(SQLiteEventStore(tmp_path / "events.db"))
    first = create_collector_app(settings, failing)
    batches = [wire_events(250) for _ in range(8)]
    async with (
        serve(first) as url,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE) as client,
    ):
        failing.start_outage(3600)
        accepted = [i for batch in batches for i in await post_until_accepted(client, batch)]
    # Stopped in the middle of the outage: the accepted events are only in the spool.
    assert spooled_files(settings.spool_dir)
    stored_before = set(stored_ids(tmp_path / "events.db"))
    assert stored_before < set(accepted)
    await failing.close()

    store = SQLiteEventStore(tmp_path / "events.db")
    second = create_collector_app(settings, store)
    async with serve(second) as url, httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
        # Leftovers are replayed before the new collector serves.
        assert (await client.get("/healthz")).json()["spoolBatches"] == 0
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(accepted)
    assert spooled_files(settings.spool_dir) == []
    await store.close()


def remove_files(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        path.unlink()


async def test_events_posted_after_the_sqlite_file_is_removed_or_replaced_are_kept(tmp_path: Path) -> None:
    """Removed (an admin's `rm`, a cleanup job) or replaced under the running collector, the file the writer
    holds is no longer the store: what is posted after must wait in the spool, never go to a file no one can
    open again, and a restart stores it."""
    key = new_key()
    settings = settings_for(tmp_path, key, **NO_BUDGET)
    db = tmp_path / "events.db"
    count = 50
    for how in ("removed", "replaced"):
        store = SQLiteEventStore(db)
        first = create_collector_app(settings, store, replay_backoff=(0.05, 0.2))
        before, after = wire_events(count), wire_events(count)
        async with (
            serve(first) as url,
            httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE) as client,
        ):
            await post_until_accepted(client, before)
            await wait_for(lambda: len(stored_ids(db)) >= count, timeout=PATIENCE_S)
            remove_files(tmp_path, "events.db*")
            if how == "replaced":  # another store's file moved into its place (a backup restored)
                other = SQLiteEventStore(tmp_path / "other.db")
                await other.ensure_schema()
                await other.close()
                (tmp_path / "other.db").replace(db)
            accepted = await post_until_accepted(client, after)
            await wait_for(lambda: bool(spooled_files(settings.spool_dir)), timeout=PATIENCE_S)
            assert (await client.get("/healthz")).json()["storeHealthy"] is False
        await store.close()

        restarted = SQLiteEventStore(db)
        second = create_collector_app(settings, restarted)
        async with serve(second) as url, httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
            assert (await client.get("/healthz")).json()["spoolBatches"] == 0
        assert set(accepted) <= set(stored_ids(db)), how
        await restarted.close()
        remove_files(tmp_path, "events.db*")
