"""A collector in its own process SIGKILLed while events are being posted — with the store failing (the
spool in use) or healthy — then restarted on the same spool dir and SQLite file: every event that got a
202 is stored exactly once, and nothing is stored twice.

An event may be stored without its client ever seeing the 202 (killed between the fsync and the answer):
that is at-least-once from the client's side, so the check is on 202'd events, not on every event sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.collector.support import wire_events
from tests.e2e.collector_process import CollectorProcess
from tests.waiting import HTTP_PATIENCE, PATIENCE_S

BATCH = 50
POSTERS = 4


class Posting:
    """Concurrent clients posting batches of fresh events until the collector goes away."""

    def __init__(self, url: str, key: str) -> None:
        self.client = httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE)
        self.accepted: list[str] = []
        self.refused = 0
        self.tasks = [asyncio.create_task(self._post()) for _ in range(POSTERS)]

    async def _post(self) -> None:
        for _ in range(10_000):  # bounded; in practice the SIGKILL ends it within seconds
            events = wire_events(BATCH, server="crash")
            try:
                response = await self.client.post("/v1/events", json={"events": events})
            except httpx.TransportError:
                return  # the collector is gone: this batch may or may not be stored, and was not 202'd
            if response.status_code == 202:
                assert response.json() == {"accepted": BATCH, "rejected": []}
                self.accepted.extend(event["id"] for event in events)
            else:
                assert response.status_code == 503, response.text
                self.refused += 1
                await asyncio.sleep(0.05)

    async def until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Keep posting until `condition` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "condition not reached while posting"
            assert not all(task.done() for task in self.tasks), "every poster stopped"
            await asyncio.sleep(0.02)

    async def finish(self) -> None:
        """Wait for the posters (they end on the first connection error) and close the client."""
        await asyncio.wait_for(asyncio.gather(*self.tasks), PATIENCE_S)
        await self.client.aclose()


def stored_id_counts(db: Path) -> Counter[str]:
    """How many rows each event id has in the SQLite file (read with plain sqlite3)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return Counter(row[0] for row in conn.execute("SELECT id FROM events"))


def spool_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.batch"))


@pytest.mark.parametrize("store_failing", [True, False], ids=["store-failing", "store-healthy"])
async def test_every_202d_event_is_stored_exactly_once_after_a_sigkill(
    tmp_path: Path, store_failing: bool
) -> None:
    db, spool, marker = tmp_path / "events.db", tmp_path / "spool", tmp_path / "store-down"
    key = "ik_" + secrets.token_hex(16)
    child = await asyncio.to_thread(CollectorProcess.start, db, spool, marker, key)
    try:
        posting = Posting(child.url, key)
        await posting.until(lambda: len(posting.accepted) >= 500)
        if store_failing:
            marker.touch()
            stored_before_outage = len(posting.accepted)
            await posting.until(
                lambda: len(spool_files(spool)) >= 5 and len(posting.accepted) >= stored_before_outage + 500
            )
        else:
            await posting.until(lambda: len(posting.accepted) >= 1500)
        await asyncio.to_thread(child.kill)  # mid-stream: the posters still have requests in flight
        await posting.finish()
    finally:
        await asyncio.to_thread(child.kill)

    left_in_spool = spool_files(spool)
    if store_failing:
        assert left_in_spool, "the kill should leave acknowledged batches in the spool"
    marker.unlink(missing_ok=True)

    restarted = await asyncio.to_thread(CollectorProcess.start, db, spool, marker, key)
    try:
        deadline = time.monotonic() + 20
        while (health := await asyncio.to_thread(restarted.health))["spoolBatches"]:
            assert time.monotonic() < deadline, f"spool not replayed: {health}"
            await asyncio.sleep(0.05)
        assert health["storeHealthy"] is True
    finally:
        await asyncio.to_thread(restarted.stop)

    counts = stored_id_counts(db)
    assert len(posting.accepted) == len(set(posting.accepted))
    missing = [i for i in posting.accepted if counts[i] == 0]
    assert missing == [], f"{len(missing)} of {len(posting.accepted)} 202'd events were lost"
    assert [i for i, n in counts.items() if n > 1] == [], "an event was stored twice"
    # Stored but never 202'd: only the batches in flight at the kill (at most one per poster).
    assert len(counts) - len(posting.accepted) <= POSTERS * BATCH
    assert spool_files(spool) == []
