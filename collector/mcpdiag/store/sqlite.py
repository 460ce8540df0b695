"""The embedded default backend: one SQLite file in WAL mode, driven off the event loop."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent, Severity
from mcpdiag.store.base import (
    AUDIT_RETENTION,
    EventQuery,
    Page,
    from_ms,
    prefix_upper_bound,
    to_ms,
    trace_key,
)
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.fleet import fleet_rollup, split_mark
from mcpdiag.store.rollup import HourlyCounts, HourlyKey, rollup, rollup_documents
from mcpdiag.store.sqlite_base import fetch_all, transaction
from mcpdiag.store.sqlite_reads import SQLiteReads
from mcpdiag.store.sqlite_sql import (
    CHUNK_CHARS,
    COUNT_PRESENT,
    EARLIEST_EXPIRY,
    EXISTING_IDS,
    EXPORT_LINE,
    INSERT,
    KEEP_EVENTS,
    KEEP_FLEET,
    KEEP_HOURLY,
    KEEP_PRESENCE,
    PURGE_CHUNK,
    PURGE_FLEET,
    STREAM_CACHE_KIB,
    UPSERT,
    UPSERT_FLEET,
    UPSERT_HOURLY,
    UPSERT_PRESENCE,
    UPSERT_SERVER,
    Chunk,
    build_select,
    connect,
    execute_rows,
    read_json_chunk,
)


class SQLiteEventStore(SQLiteReads):
    """`EventStore` on one SQLite file: a writer thread, a pool of reader threads, WAL."""

    def rows(self, events: Sequence[DiagnosticEvent]) -> list[tuple[Any, ...]]:
        """The `events` table rows of `events` (also used by the benchmark's raw-sqlite3 peer)."""
        received = self._now_ms()
        # Serializing the doc dominates ingest CPU: call the serializer `model_dump_json` wraps, directly.
        dump = DiagnosticEvent.__pydantic_serializer__.to_json
        # A retention period depends only on severity (`Retention.expire_at` is ts + a duration), so the
        # datetime arithmetic runs once per severity per batch, not once per event.
        ttl_ms: dict[Severity, int] = {}
        rows: list[tuple[Any, ...]] = []
        for ev in events:
            ts_ms = to_ms(ev.ts)
            ttl = ttl_ms.get(ev.severity)
            if ttl is None:
                ttl = ttl_ms[ev.severity] = to_ms(self.retention.expire_at(ev.ts, ev.severity)) - ts_ms
            rows.append(
                (
                    ev.id,
                    ts_ms,
                    ev.server,
                    ev.user_id or "",
                    SEVERITY_RANK[ev.severity],
                    ev.code,
                    ev.touchpoint.value,
                    ev.trace_id,
                    received,
                    ts_ms + ttl,
                    dump(ev, by_alias=True).decode(),
                    ev.count,
                )
            )
        return rows

    async def append(self, events: Sequence[DiagnosticEvent]) -> int:
        if not events:
            return 0
        rows = self.rows(events)
        latest: dict[str, int] = {}
        for row in rows:
            latest[row[2]] = max(latest.get(row[2], 0), row[1])
        ids = json.dumps([row[0] for row in rows])

        def write(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                # Only events stored now count in the rollups: a re-sent id is already counted.
                stored = {event_id for (event_id,) in conn.execute(EXISTING_IDS, (ids,))}
                fresh: list[tuple[DiagnosticEvent, int]] = []
                for event, row in zip(events, rows, strict=True):
                    if event.id not in stored:
                        stored.add(event.id)
                        fresh.append((event, row[9]))
                inserted = execute_rows(conn, INSERT, rows)
                execute_rows(conn, UPSERT_SERVER, latest.items())
                _count_rollups(conn, rollup(fresh))
            return inserted

        return await self._write(write)

    async def page(self, query: EventQuery) -> Page:
        query = query.checked()
        fingerprint = query.fingerprint()
        cursors = await self.cursors()
        after = cursors.decode(query.cursor, fingerprint) if query.cursor else None
        sql, params = build_select(query, self._now_ms(), after=after, limit=query.limit + 1)
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items = [orjson.loads(doc) for _, _, doc in rows]
        cursor = cursors.encode(rows[-1][0], rows[-1][1], fingerprint) if more and rows else None
        return Page(items, cursor)

    async def iter(self, query: EventQuery, *, chunk_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        query = query.checked(paged=False)
        after: tuple[int, str] | None = None
        now_ms = self._now_ms()
        while True:
            sql, params = build_select(query, now_ms, after=after, limit=chunk_size)
            rows = await self._read(fetch_all(sql, params))
            for _, _, doc in rows:
                yield orjson.loads(doc)
            if len(rows) < chunk_size:
                return
            after = (rows[-1][0], rows[-1][1])

    async def iter_json_batches(
        self, query: EventQuery, *, chunk_size: int = 1000
    ) -> AsyncIterator[list[str]]:
        """The `doc` column as stored; the next chunk is read while the caller consumes this one.

        The walk has a connection of its own with a small page cache: it reads each page once, and the
        pool's connections (32 MB of cache each, filled by whichever reader thread runs a chunk) would
        otherwise grow the process by the size of the scope.
        """
        async for docs in self._walk_json(query, chunk_size, "doc"):
            yield docs

    async def iter_export_lines(
        self, query: EventQuery, *, chunk_size: int = 1000
    ) -> AsyncIterator[list[str]]:
        """Lines built by SQLite itself (`EXPORT_LINE`), walked like `iter_json_batches`."""
        async for lines in self._walk_json(query, chunk_size, EXPORT_LINE):
            yield lines

    async def _walk_json(self, query: EventQuery, chunk_size: int, doc: str) -> AsyncIterator[list[str]]:
        query = query.checked(paged=False)
        now_ms = self._now_ms()
        conn = await self._run(
            self._reader_pool, lambda: connect(self.path, readonly=True, cache_kib=STREAM_CACHE_KIB)
        )

        def fetch(after: tuple[int, str] | None, limit: int) -> asyncio.Task[Chunk]:
            sql, params = build_select(query, now_ms, after=after, limit=limit, doc=doc)
            newest = not query.oldest_first
            return asyncio.ensure_future(
                self._run(self._reader_pool, lambda: read_json_chunk(conn, sql, params, newest_first=newest))
            )

        asked = chunk_size
        pending: asyncio.Task[Chunk] | None = fetch(None, asked)
        try:
            while pending is not None:
                docs, last, chars = await pending
                # Large documents: fewer per read, so that one read holds about CHUNK_CHARS characters.
                limit = min(chunk_size, max(1, asked * CHUNK_CHARS // max(chars, 1)))
                # Keyset pagination needs only the last row of this chunk to start reading the next one.
                pending = fetch(last, limit) if last is not None and len(docs) == asked else None
                asked = limit
                if docs:
                    yield docs
        finally:
            # Stopped early or failed: let the read ahead finish (its result and error are dropped), so that
            # the connection is idle when it is closed.
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            conn.close()

    async def count(self, query: EventQuery) -> int:
        sql, params = build_select(query.checked(paged=False), self._now_ms(), after=None, limit=-1)
        (total,) = await self._read(
            lambda conn: conn.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()
        )
        return int(total)

    async def import_documents(
        self, docs: Sequence[StoredDocument], *, conflict: Conflict = "skip", dry_run: bool = False
    ) -> ImportCounts:
        if not docs:
            return ImportCounts()
        unique = {doc.id for doc in docs}
        ids = json.dumps(list(unique))
        if dry_run:
            (present,) = await self._read(lambda conn: conn.execute(COUNT_PRESENT, (ids,)).fetchone())
            return _counts(len(docs), len(unique) - present, conflict)
        latest: dict[str, int] = {}
        for doc in docs:
            latest[doc.server] = max(latest.get(doc.server, 0), doc.ts_ms)

        def write(conn: sqlite3.Connection) -> ImportCounts:
            with transaction(conn):
                stored = {event_id for (event_id,) in conn.execute(EXISTING_IDS, (ids,))}
                fresh: list[StoredDocument] = []
                for doc in docs:
                    if doc.id not in stored:
                        stored.add(doc.id)
                        fresh.append(doc)
                rows = [doc.row for doc in docs]
                execute_rows(conn, UPSERT if conflict == "update" else INSERT, rows)
                execute_rows(conn, UPSERT_SERVER, latest.items())
                # Only ids new to the store count (a replaced one was counted when first stored).
                _count_rollups(conn, rollup_documents(fresh))
            return _counts(len(docs), len(fresh), conflict)

        return await self._write(write)

    async def by_trace(self, key: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        event_id, prefix = trace_key(key)
        clauses, params = ["id = ?"], [event_id]
        if prefix is not None:
            clauses.append("(trace_id >= ? AND trace_id < ?)")
            params.extend([prefix, prefix_upper_bound(prefix)])
        sql = (
            f"SELECT doc FROM events WHERE ({' OR '.join(clauses)}) AND expire_at > ? "
            "ORDER BY ts ASC, id ASC LIMIT ?"
        )
        now_ms = self._now_ms()
        rows = await self._read(lambda conn: conn.execute(sql, [*params, now_ms, limit]).fetchall())
        return [orjson.loads(doc) for (doc,) in rows]

    async def keep(self, event_ids: Sequence[str], until: datetime) -> datetime | None:
        if not event_ids:
            return None
        ids, until_ms, now_ms = json.dumps(list(event_ids)), to_ms(until), self._now_ms()

        def write(conn: sqlite3.Connection) -> int | None:
            with transaction(conn):
                for statement in (KEEP_HOURLY, KEEP_FLEET, KEEP_PRESENCE):
                    conn.execute(statement, (until_ms, ids, now_ms))
                conn.execute(KEEP_EVENTS, (until_ms, ids, now_ms))
                (earliest,) = conn.execute(EARLIEST_EXPIRY, (ids, now_ms)).fetchone()
            return None if earliest is None else int(earliest)

        earliest = await self._write(write)
        return None if earliest is None else from_ms(earliest)

    async def purge_expired(self, now: datetime | None = None) -> int:
        cutoff = to_ms(now or self.clock())

        def purge(conn: sqlite3.Connection) -> int:
            total = 0
            # Small transactions keep the write lock short so ingest is never stalled behind a big purge.
            while True:
                with transaction(conn):
                    deleted = conn.execute(
                        "DELETE FROM events WHERE rowid IN "
                        "(SELECT rowid FROM events WHERE expire_at <= ? LIMIT ?)",
                        (cutoff, PURGE_CHUNK),
                    ).rowcount
                total += deleted
                if deleted < PURGE_CHUNK:
                    break
            with transaction(conn):
                conn.execute("DELETE FROM hourly WHERE expire_at <= ?", (cutoff,))
                for statement in PURGE_FLEET:
                    conn.execute(statement, (cutoff,))
            if total:
                with transaction(conn):
                    conn.execute(
                        "DELETE FROM servers WHERE NOT EXISTS "
                        "(SELECT 1 FROM events WHERE events.server = servers.name)"
                    )
            # Audit records have their own retention and are not counted among purged events.
            audit_cutoff = cutoff - int(AUDIT_RETENTION.total_seconds() * 1000)
            with transaction(conn):
                conn.execute("DELETE FROM audit WHERE ts < ?", (audit_cutoff,))
            return total

        return await self._write(purge)


def _counts(total: int, inserted: int, conflict: Conflict) -> ImportCounts:
    # An id given twice in one batch is stored once: its second copy counts as present (or updated).
    if conflict == "update":
        return ImportCounts(inserted=inserted, updated=total - inserted)
    return ImportCounts(inserted=inserted, present=total - inserted)


def _count_rollups(conn: sqlite3.Connection, rows: dict[HourlyKey, HourlyCounts]) -> None:
    """Add a batch's hourly rows to the hourly rollup and to the staff rollups (`mcpdiag.store.fleet`)."""
    execute_rows(
        conn,
        UPSERT_HOURLY,
        [
            (k.server, k.hour, k.code, k.touchpoint, k.tool, k.user_key, k.severity, *c.row)
            for k, c in rows.items()
        ],
    )
    fleet, presence = fleet_rollup(rows)
    execute_rows(
        conn,
        UPSERT_FLEET,
        [
            (k.server, k.hour, k.code, k.touchpoint, k.tool, k.severity, f.counts.n, int(f.wide),
             f.counts.first_ms, f.counts.last_ms, f.counts.last_key, f.min_expire_ms, f.counts.expire_ms)
            for k, f in fleet.items()
        ],
    )  # fmt: skip
    execute_rows(
        conn,
        UPSERT_PRESENCE,
        [
            (k.server, k.code, k.touchpoint, k.tool, k.severity, k.user_key, *split_mark(p.mark), p.expire_ms)
            for k, p in presence.items()
        ],
    )
