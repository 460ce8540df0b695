"""50 readers walking every page of a server's diagnostics while ingest runs flat out, through the real API
app (in its own process) on loopback: no errors, no event twice in a walk, and every event that existed
when a walk began is seen exactly once — even though the writer keeps inserting events older than the
readers' cursors."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sqlite3
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt

from mcpdiag.emitters import format_ts, new_event_id, new_trace_id
from mcpdiag.store.base import utc_now
from tests.e2e.api_process import ApiProcess
from tests.factories import make_event
from tests.waiting import HTTP_PATIENCE, PATIENCE_S, eventually

SERVER = "busy"
READERS = 50
PAGE = 200
PRELOADED = 1000
WRITE_BATCH = 250
TEMPLATE = make_event().to_wire()


def events_for(server: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Wire events of `server` timestamped anywhere in the last hour (so most land behind a cursor)."""
    now = utc_now()
    events = []
    for _ in range(count):
        ts = now - timedelta(seconds=rng.uniform(1, 3600))
        event = {**TEMPLATE, "id": new_event_id(int(ts.timestamp() * 1000)), "traceId": new_trace_id()}
        events.append({**event, "server": server, "ts": format_ts(ts)})
    return events


def server_ids(db: Path) -> set[str]:
    """Ids of `SERVER`'s events committed so far, read straight from the SQLite file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM events WHERE server = ?", (SERVER,))}


class Writer:
    """Posts batches back to back in each `run` task (one in ten to `SERVER`, the rest elsewhere)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.stop = asyncio.Event()
        self.posted = 0
        self.failures: list[str] = []

    async def run(self, rng: random.Random) -> None:
        for i in range(100_000):  # bounded; stopped when the readers are done
            if self.stop.is_set():
                return
            server = SERVER if i % 10 == 0 else f"other-{i % 7}"
            events = events_for(server, WRITE_BATCH, rng)
            response = await self.client.post("/v1/events", json={"events": events})
            if response.status_code != 202:
                self.failures.append(f"{response.status_code} {response.text[:200]}")
            self.posted += WRITE_BATCH


async def walk(client: httpx.AsyncClient, db: Path, delay: float) -> tuple[set[str], list[str]]:
    """One reader: snapshot the ids that exist, then walk every page; the snapshot and what was seen."""
    await asyncio.sleep(delay)
    snapshot = await asyncio.to_thread(server_ids, db)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": PAGE}
    for _ in range(10_000):  # bounded walk
        response = await client.get(f"/api/mcp/{SERVER}/diagnostics", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(item["id"] for item in body["items"])
        if not body["nextCursor"]:
            return snapshot, seen
        params["cursor"] = body["nextCursor"]
    raise AssertionError("the walk did not end")


async def test_fifty_readers_page_consistently_while_ingest_runs_at_full_speed(tmp_path: Path) -> None:
    key = "ik_" + secrets.token_hex(16)
    secret = secrets.token_urlsafe(48)
    token = jwt.encode(
        {"sub": "ops-admin", "roles": ["admin"], "exp": int(time.time()) + 3600}, secret, algorithm="HS256"
    )
    rng = random.Random(20261121)
    limits = httpx.Limits(max_connections=READERS + 5, max_keepalive_connections=READERS + 5)
    server = await asyncio.to_thread(ApiProcess.start, tmp_path, ingest_key=key, jwt_secret=secret)
    try:
        async with (
            httpx.AsyncClient(
                base_url=server.url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE
            ) as ingest,
            httpx.AsyncClient(
                base_url=server.url,
                headers={"authorization": f"Bearer {token}"},
                timeout=HTTP_PATIENCE,
                limits=limits,
            ) as api,
        ):
            for _ in range(PRELOADED // WRITE_BATCH):
                response = await ingest.post(
                    "/v1/events", json={"events": events_for(SERVER, WRITE_BATCH, rng)}
                )
                assert response.status_code == 202, response.text
            assert len(server_ids(server.db)) == PRELOADED

            writer = Writer(ingest)
            writing = asyncio.gather(writer.run(rng), writer.run(rng))

            # The walked server is being written to before the first walk starts.
            async def writing_started() -> bool:
                return len(server_ids(server.db)) > PRELOADED

            await eventually(writing_started, "the writers' first events", interval=0.01)
            started = time.monotonic()
            walks = await asyncio.wait_for(
                asyncio.gather(*(walk(api, server.db, rng.uniform(0, 2)) for _ in range(READERS))), PATIENCE_S
            )
            elapsed = time.monotonic() - started
            at_end = len(server_ids(server.db))
            writer.stop.set()
            await asyncio.wait_for(writing, PATIENCE_S)
    finally:
        await asyncio.to_thread(server.stop)

    assert writer.failures == []
    assert writer.posted >= 10 * WRITE_BATCH, "ingest should have been running throughout the walks"
    for snapshot, seen in walks:
        duplicates = [i for i, n in Counter(seen).items() if n > 1]
        assert duplicates == [], f"{len(duplicates)} events seen twice in one walk"
        missing = snapshot - set(seen)
        assert missing == set(), f"{len(missing)} events that existed before the walk were skipped"
    snapshots = sorted(len(snapshot) for snapshot, _ in walks)
    assert snapshots[0] >= PRELOADED
    assert snapshots[0] > PRELOADED, "the walked server should have been written to during the walks"
    assert at_end >= snapshots[-1]
    print(
        f"\n{READERS} walks in {elapsed:.1f} s, {sum(len(seen) for _, seen in walks):,} items read, "
        f"{writer.posted:,} events ingested meanwhile; {SERVER}: {snapshots[0]:,}..{snapshots[-1]:,} at walk "
        f"starts, {at_end:,} at the end"
    )
