"""Paging over real HTTP (uvicorn on loopback) while new events are ingested through the same server."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

import httpx

from mcpdiag.emitters import format_ts
from mcpdiag.store.base import utc_now
from tests.api.support import Tokens, build_app, seed
from tests.collector.support import new_key, serve
from tests.factories import make_event
from tests.waiting import HTTP_PATIENCE


async def test_walking_every_page_during_ingest_returns_each_existing_event_once_newest_first(
    tmp_path: Path,
) -> None:
    rng = random.Random(11)
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, key=key)
    now = utc_now()
    base = now - timedelta(hours=2)
    existing = [
        make_event(
            ts=base + timedelta(seconds=rng.randrange(3600)), user_id=rng.choice(["ursula", "victor", None])
        )
        for _ in range(400)
    ]
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
        await seed(app.state.store, existing)
        stop = asyncio.Event()
        posted: list[str] = []

        async def ingest() -> None:
            while not stop.is_set():
                # New events land both ahead of the reader (now) and behind its position (the past hour).
                batch = [
                    {
                        **make_event(
                            ts=base + timedelta(seconds=rng.randrange(7200)),
                            user_id=rng.choice(["ursula", None]),
                        ).to_wire(),
                    }
                    for _ in range(10)
                ]
                batch.append({**make_event(user_id="ursula").to_wire(), "ts": format_ts(utc_now())})
                response = await client.post("/v1/events", json={"events": batch}, headers={"x-api-key": key})
                assert response.status_code == 202, response.text
                posted.extend(e["id"] for e in batch)
                await asyncio.sleep(0.005)

        writer = asyncio.create_task(ingest())
        try:
            for who, headers, visible in (
                ("admin", tokens.header(tokens.mint("ada", roles=["admin"])), lambda e: True),
                (
                    "ursula",
                    tokens.header(tokens.mint("ursula", mcp_servers=["github"])),
                    lambda e: e.user_id in ("ursula", None),
                ),
            ):
                seen: list[tuple[str, str]] = []
                cursor: str | None = None
                pages = 0
                while True:
                    params = {"limit": 17, **({"cursor": cursor} if cursor else {})}
                    response = await client.get("/api/mcp/github/diagnostics", params=params, headers=headers)
                    assert response.status_code == 200, response.text
                    body = response.json()
                    seen.extend((item["ts"], item["id"]) for item in body["items"])
                    pages += 1
                    cursor = body["nextCursor"]
                    if cursor is None:
                        break
                    await asyncio.sleep(0.002)  # let the writer interleave between pages
                ids = [i for _, i in seen]
                expected = {e.id for e in existing if visible(e)}
                assert len(ids) == len(set(ids)), who
                assert expected <= set(ids), who
                assert seen == sorted(seen, reverse=True), who
                assert pages > 10
        finally:
            stop.set()
            await writer
        assert posted  # ingest really ran concurrently
