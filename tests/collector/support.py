"""Helpers for the collector's HTTP tests: settings on a temp dir, a lifespan-aware ASGI client, a real
uvicorn server on loopback, and the one test double we allow: a store that fails at its boundary."""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from mcpdiag.cli.serving import serving
from mcpdiag.collector import CollectorSettings
from mcpdiag.emitters import DiagnosticEvent, Severity
from mcpdiag.store import EventQuery, EventStore, Page, SQLiteEventStore, StoreUnavailableError, Summary
from tests.waiting import HTTP_PATIENCE


def new_key() -> str:
    """A fresh ingest key for one test."""
    return "ik_" + secrets.token_hex(16)


def settings_for(tmp_path: Path, key: str, **overrides: Any) -> CollectorSettings:
    """Collector settings on `tmp_path` (SQLite file and spool), accepting `key`."""
    values: dict[str, Any] = {
        "store_url": f"sqlite:///{tmp_path / 'events.db'}",
        "spool_dir": tmp_path / "spool",
        "ingest_keys": frozenset({key}),
        **overrides,
    }
    return CollectorSettings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to `app` in-process, with the app's lifespan running around it."""
    headers = {"x-api-key": key} if key else {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://collector",
            headers=headers,
            timeout=HTTP_PATIENCE,
        ) as client,
    ):
        yield client


serve = serving
"""`app` served by uvicorn on 127.0.0.1 (a free port) in this event loop; yields its base URL."""


class OutageStore(EventStore):
    """A real SQLite store whose `append` fails while an outage is on (the boundary we fake).

    During an outage every other failing write first commits and then raises, like a write whose
    acknowledgement was lost: replaying it must not store anything twice.
    """

    def __init__(self, inner: SQLiteEventStore) -> None:
        super().__init__(retention=inner.retention, clock=inner.clock)
        self.inner = inner
        self.outage_until = 0.0
        self.failed_writes = 0
        self.lost_acks = 0

    def start_outage(self, seconds: float | None = None) -> None:
        """Fail writes for `seconds`, or until `end_outage()` when None."""
        self.outage_until = math.inf if seconds is None else time.monotonic() + seconds

    def end_outage(self) -> None:
        self.outage_until = 0.0

    @property
    def down(self) -> bool:
        return time.monotonic() < self.outage_until

    async def append(self, events: Sequence[DiagnosticEvent]) -> int:
        if self.down:
            self.failed_writes += 1
            if self.failed_writes % 2 == 0:
                await self.inner.append(events)
                self.lost_acks += 1
            raise StoreUnavailableError("simulated outage")
        return await self.inner.append(events)

    async def ensure_schema(self) -> None:
        await self.inner.ensure_schema()

    async def page(self, query: EventQuery) -> Page:
        return await self.inner.page(query)

    def iter(self, query: EventQuery, *, chunk_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        return self.inner.iter(query, chunk_size=chunk_size)

    async def by_trace(self, key: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        return await self.inner.by_trace(key, limit=limit)

    async def last_events(
        self,
        servers: Sequence[str],
        *,
        user_id: str | None = None,
        touchpoints: Sequence[str] = (),
        codes: Sequence[str] = (),
        min_severity: Severity | None = None,
    ) -> dict[str, dict[str, Any]]:
        return await self.inner.last_events(
            servers, user_id=user_id, touchpoints=touchpoints, codes=codes, min_severity=min_severity
        )

    async def summary(self, server: str, since: datetime, *, user_id: str | None = None) -> Summary:
        return await self.inner.summary(server, since, user_id=user_id)

    async def list_servers(self, *, after: str | None = None, limit: int | None = None) -> list[str]:
        return await self.inner.list_servers(after=after, limit=limit)

    async def purge_expired(self, now: datetime | None = None) -> int:
        return await self.inner.purge_expired(now)

    async def ping(self) -> None:
        if self.down:
            raise StoreUnavailableError("simulated outage")
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


def stored_ids(db: Path) -> list[str]:
    """Every event id in the SQLite file, duplicates included (read with plain sqlite3)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM events")]


def wire_events(count: int, **fields: Any) -> list[dict[str, Any]]:
    """`count` valid wire events with fresh ids, timestamped now."""
    from mcpdiag.emitters import format_ts
    from mcpdiag.store.base import utc_now
    from tests.factories import make_event

    now = format_ts(utc_now())
    return [{**make_event(**fields).to_wire(), "ts": now} for _ in range(count)]
