"""The embedded default backend: one SQLite file in WAL mode, driven off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent, Severity
from mcpdiag.store.base import (
    AUDIT_CURSOR_SCOPE,
    AUDIT_RETENTION,
    MAX_PAGE,
    Clock,
    CodeStats,
    EventQuery,
    EventStore,
    Page,
    Retention,
    Summary,
    audit_ts,
    from_ms,
    prefix_upper_bound,
    to_ms,
    trace_key,
    utc_now,
)
from mcpdiag.store.cursor import new_cursor_key
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.errors import InvalidQueryError, StoreUnavailableError
from mcpdiag.store.rollup import HourlyCounts, HourlyKey, HourlyRow, rollup, rollup_documents, window_hours
from mcpdiag.store.sqlite_sql import (
    CHUNK_CHARS,
    COUNT_PRESENT,
    EARLIEST_EXPIRY,
    EXISTING_IDS,
    EXPORT_LINE,
    INSERT,
    KEEP_EVENTS,
    KEEP_HOURLY,
    MIGRATIONS,
    PURGE_CHUNK,
    SCHEMA,
    STREAM_CACHE_KIB,
    UPSERT,
    UPSERT_HOURLY,
    UPSERT_SERVER,
    WRITE_CACHE_KIB,
    Chunk,
    build_select,
    connect,
    read_json_chunk,
)

T = TypeVar("T")


class SQLiteEventStore(EventStore):
    """`EventStore` on one SQLite file: a writer thread, a pool of reader threads, WAL."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention: Retention | None = None,
        clock: Clock = utc_now,
        readers: int = 4,
        cursor_key: bytes | None = None,
    ) -> None:
        super().__init__(retention=retention, clock=clock, cursor_key=cursor_key)
        self.path = Path(path)
        self._writer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcpdiag-sqlite-w")
        self._reader_pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="mcpdiag-sqlite-r")
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = connect(self.path, readonly=False, cache_kib=WRITE_CACHE_KIB)
            return fn(self._writer)

        return await self._run(self._writer_pool, run)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = connect(self.path, readonly=True)
                self._local.conn = conn
                with self._readers_lock:
                    self._readers.append(conn)
            return fn(conn)

        return await self._run(self._reader_pool, run)

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"SQLite store at {self.path.name}: {exc}") from exc

    def _now_ms(self) -> int:
        return to_ms(self.clock())

    # -- EventStore -----------------------------------------------------------------------------------

    async def ensure_schema(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            conn.executescript(SCHEMA)
            for table, column, statement in MIGRATIONS:
                if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(statement)

        await self._write(create)

    async def _stored_cursor_key(self) -> bytes:
        fresh = new_cursor_key()

        def load(conn: sqlite3.Connection) -> bytes:
            conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('cursor_key', ?)", (fresh,))
            (value,) = conn.execute("SELECT value FROM meta WHERE name = 'cursor_key'").fetchone()
            return bytes(value)

        return await self._write(load)

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
            with _transaction(conn):
                # Only events stored now count in the rollups: a re-sent id is already counted.
                stored = {event_id for (event_id,) in conn.execute(EXISTING_IDS, (ids,))}
                fresh: list[tuple[DiagnosticEvent, int]] = []
                for event, row in zip(events, rows, strict=True):
                    if event.id not in stored:
                        stored.add(event.id)
                        fresh.append((event, row[9]))
                inserted = conn.executemany(INSERT, rows).rowcount
                conn.executemany(UPSERT_SERVER, latest.items())
                conn.executemany(UPSERT_HOURLY, _hourly_rows(rollup(fresh)))
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
        items = [json.loads(doc) for _, _, doc in rows]
        cursor = cursors.encode(rows[-1][0], rows[-1][1], fingerprint) if more and rows else None
        return Page(items, cursor)

    async def iter(self, query: EventQuery, *, chunk_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        query = query.checked(paged=False)
        after: tuple[int, str] | None = None
        now_ms = self._now_ms()
        while True:
            sql, params = build_select(query, now_ms, after=after, limit=chunk_size)
            rows = await self._read(_fetch_all(sql, params))
            for _, _, doc in rows:
                yield json.loads(doc)
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
            with _transaction(conn):
                stored = {event_id for (event_id,) in conn.execute(EXISTING_IDS, (ids,))}
                fresh: list[StoredDocument] = []
                for doc in docs:
                    if doc.id not in stored:
                        stored.add(doc.id)
                        fresh.append(doc)
                rows = [doc.row for doc in docs]
                if conflict == "update":
                    conn.executemany(UPSERT, rows)
                else:
                    conn.executemany(INSERT, rows)
                conn.executemany(UPSERT_SERVER, latest.items())
                # Only ids new to the store count (a replaced one was counted when first stored).
                conn.executemany(UPSERT_HOURLY, _hourly_rows(rollup_documents(fresh)))
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
        return [json.loads(doc) for (doc,) in rows]

    async def last_events(
        self,
        servers: Sequence[str],
        *,
        user_id: str | None = None,
        touchpoints: Sequence[str] = (),
        codes: Sequence[str] = (),
        min_severity: Severity | None = None,
    ) -> dict[str, dict[str, Any]]:
        # One statement for the whole list: per server, an index probe for the latest row of each scope
        # (the user's own, then the server-wide ones), newest first.
        where: list[str] = ["e.server = s.value", "e.expire_at > ?"]
        params: list[Any] = [self._now_ms()]
        if min_severity is not None:
            where.append("e.severity >= ?")
            params.append(min_severity.rank)
        for column, values in (("touchpoint", touchpoints), ("code", codes)):
            if values:
                where.append(f"e.{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        scopes = [("", [])] if user_id is None else [("e.user_key = ?", [user_id]), ("e.user_key = ''", [])]
        columns: list[str] = []
        all_params: list[Any] = []
        for scope, scope_params in scopes:
            clause = " AND ".join([*where, scope] if scope else where)
            columns.append(
                f"(SELECT e.ts || ',' || e.id || ',' || e.doc FROM events e WHERE {clause} "
                "ORDER BY e.ts DESC, e.id DESC LIMIT 1)"
            )
            all_params.extend([*params, *scope_params])
        sql = f"SELECT s.value, {', '.join(columns)} FROM json_each(?) s"

        def run(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for server, *latest in conn.execute(sql, [*all_params, json.dumps(list(servers))]):
                rows = [tuple(cell.split(",", 2)) for cell in latest if cell is not None]
                if rows:  # (ts, id, doc): ids hold no comma (the event id pattern)
                    found[server] = json.loads(max(rows, key=lambda r: (int(r[0]), r[1]))[2])
            return found

        return await self._read(run)

    async def summary(self, server: str, since: datetime, *, user_id: str | None = None) -> Summary:
        now_ms = self._now_ms()
        where = "server = ? AND ts >= ? AND expire_at > ?"
        params: list[Any] = [server, to_ms(since), now_ms]
        if user_id is not None:
            where += " AND user_key IN ('', ?)"
            params.append(user_id)
        sql = (
            f"SELECT code, severity, SUM(n), MIN(ts), MAX(ts) FROM events WHERE {where} "
            "GROUP BY code, severity"
        )
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        summary = Summary(server=server, since=since)
        for group in rows:
            _tally(summary, *group)
        last = await self.page(
            EventQuery(server=server, user_id=user_id, since=since, min_severity=Severity.ERROR, limit=1)
        )
        summary.last_error = last.items[0] if last.items else None
        return summary

    async def list_servers(self, *, after: str | None = None, limit: int | None = None) -> list[str]:
        sql, params = "SELECT name FROM servers", list[Any]()
        if after is not None:
            sql += " WHERE name > ?"
            params.append(after)
        sql += " ORDER BY name"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [name for (name,) in rows]

    async def hourly(
        self,
        since: datetime,
        until: datetime,
        *,
        servers: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[HourlyRow]:
        first, last = window_hours(since, until)
        where = ["hour >= ?", "hour < ?", "expire_at > ?"]
        params: list[Any] = [first, last, self._now_ms()]
        if servers is not None:
            where.append("server IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(servers)))
        if user_id is not None:
            where.append("user_key IN ('', ?)")
            params.append(user_id)
        sql = (
            "SELECT server, hour, code, touchpoint, tool, user_key, severity, n, first_ts, last_ts, "
            f"last_key, expire_at FROM hourly WHERE {' AND '.join(where)}"
        )
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [HourlyRow(HourlyKey(*row[:7]), HourlyCounts(*row[7:])) for row in rows]

    async def keep(self, event_ids: Sequence[str], until: datetime) -> datetime | None:
        if not event_ids:
            return None
        ids, until_ms, now_ms = json.dumps(list(event_ids)), to_ms(until), self._now_ms()

        def write(conn: sqlite3.Connection) -> int | None:
            with _transaction(conn):
                conn.execute(KEEP_HOURLY, (until_ms, ids, now_ms))
                conn.execute(KEEP_EVENTS, (until_ms, ids, now_ms))
                (earliest,) = conn.execute(EARLIEST_EXPIRY, (ids, now_ms)).fetchone()
            return None if earliest is None else int(earliest)

        earliest = await self._write(write)
        return None if earliest is None else from_ms(earliest)

    async def expiry(self, event_ids: Sequence[str]) -> datetime | None:
        if not event_ids:
            return None
        params = (json.dumps(list(event_ids)), self._now_ms())
        (earliest,) = await self._read(lambda conn: conn.execute(EARLIEST_EXPIRY, params).fetchone())
        return None if earliest is None else from_ms(int(earliest))

    async def received_after(
        self, server: str, after: tuple[int, str] | None, *, user_id: str | None = None, limit: int = 200
    ) -> list[tuple[int, str, dict[str, Any]]]:
        where, params = ["server = ?", "expire_at > ?"], [server, self._now_ms()]
        if after is not None:
            where.append("(received_at, id) > (?, ?)")
            params.extend(after)
        if user_id is not None:
            where.append("user_key IN ('', ?)")
            params.append(user_id)
        sql = (
            f"SELECT received_at, id, doc FROM events WHERE {' AND '.join(where)} "
            "ORDER BY received_at, id LIMIT ?"
        )
        rows = await self._read(lambda conn: conn.execute(sql, [*params, limit]).fetchall())
        return [(received, event_id, json.loads(doc)) for received, event_id, doc in rows]

    async def has_server(self, name: str) -> bool:
        row = await self._read(
            lambda conn: conn.execute("SELECT 1 FROM servers WHERE name = ?", (name,)).fetchone()
        )
        return row is not None

    async def summaries(
        self, servers: Sequence[str], since: datetime, *, user_id: str | None = None
    ) -> dict[str, Summary]:
        where = "server IN (SELECT value FROM json_each(?)) AND ts >= ? AND expire_at > ?"
        params: list[Any] = [json.dumps(list(servers)), to_ms(since), self._now_ms()]
        if user_id is not None:
            where += " AND user_key IN ('', ?)"
            params.append(user_id)
        sql = (
            f"SELECT server, code, severity, SUM(n), MIN(ts), MAX(ts) FROM events WHERE {where} "
            "GROUP BY server, code, severity"
        )
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        found = {server: Summary(server=server, since=since) for server in servers}
        for server, *group in rows:
            _tally(found[server], *group)
        errors = await self.last_events(servers, user_id=user_id, min_severity=Severity.ERROR)
        for server, event in errors.items():
            if from_ms(_ts_ms(event)) >= since:
                found[server].last_error = event
        return found

    async def append_audit(self, record: dict[str, Any]) -> None:
        row = (
            record["id"] if isinstance(record.get("id"), str) else "",
            to_ms(audit_ts(record)),
            str(record.get("actor", "")),
            str(record.get("action", "")),
            json.dumps(record, separators=(",", ":"), default=str),
        )
        await self._write(
            lambda conn: conn.execute("INSERT OR IGNORE INTO audit VALUES (?, ?, ?, ?, ?)", row)
        )

    async def audit_page(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidQueryError("limit", f"must be between 1 and {MAX_PAGE}")
        where = "ts >= ?"
        params: list[Any] = [to_ms(self.clock() - AUDIT_RETENTION)]
        if cursor:
            where += " AND (ts, id) < (?, ?)"
            params.extend((await self.cursors()).decode(cursor, AUDIT_CURSOR_SCOPE))
        sql = f"SELECT ts, id, doc FROM audit WHERE {where} ORDER BY ts DESC, id DESC LIMIT ?"
        rows = await self._read(lambda conn: conn.execute(sql, [*params, limit + 1]).fetchall())
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            (await self.cursors()).encode(rows[-1][0], rows[-1][1], AUDIT_CURSOR_SCOPE)
            if more and rows
            else None
        )
        return Page([json.loads(doc) for _, _, doc in rows], next_cursor)

    async def purge_expired(self, now: datetime | None = None) -> int:
        cutoff = to_ms(now or self.clock())

        def purge(conn: sqlite3.Connection) -> int:
            total = 0
            # Small transactions keep the write lock short so ingest is never stalled behind a big purge.
            while True:
                with _transaction(conn):
                    deleted = conn.execute(
                        "DELETE FROM events WHERE rowid IN "
                        "(SELECT rowid FROM events WHERE expire_at <= ? LIMIT ?)",
                        (cutoff, PURGE_CHUNK),
                    ).rowcount
                total += deleted
                if deleted < PURGE_CHUNK:
                    break
            with _transaction(conn):
                conn.execute("DELETE FROM hourly WHERE expire_at <= ?", (cutoff,))
            if total:
                with _transaction(conn):
                    conn.execute(
                        "DELETE FROM servers WHERE NOT EXISTS "
                        "(SELECT 1 FROM events WHERE events.server = servers.name)"
                    )
            # Audit records have their own retention and are not counted among purged events.
            audit_cutoff = cutoff - int(AUDIT_RETENTION.total_seconds() * 1000)
            with _transaction(conn):
                conn.execute("DELETE FROM audit WHERE ts < ?", (audit_cutoff,))
            return total

        return await self._write(purge)

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1 FROM servers LIMIT 1").fetchall())

    async def explain(self, query: EventQuery) -> list[str]:
        """SQLite's query plan for the page query of `query` (for tests and tuning)."""
        sql, params = build_select(query.checked(), self._now_ms(), after=None, limit=query.limit + 1)
        rows = await self._read(lambda conn: conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        return [row[-1] for row in rows]

    async def close(self) -> None:
        if self._closed:
            return

        def close_all() -> None:
            if self._writer is not None:
                self._writer.close()
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()

        await asyncio.get_running_loop().run_in_executor(self._writer_pool, close_all)
        self._closed = True
        self._writer_pool.shutdown(wait=False)
        self._reader_pool.shutdown(wait=False)


def _fetch_all(sql: str, params: list[Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    return lambda conn: conn.execute(sql, params).fetchall()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _counts(total: int, inserted: int, conflict: Conflict) -> ImportCounts:
    # An id given twice in one batch is stored once: its second copy counts as present (or updated).
    if conflict == "update":
        return ImportCounts(inserted=inserted, updated=total - inserted)
    return ImportCounts(inserted=inserted, present=total - inserted)


def _tally(summary: Summary, code: str, rank: int, count: int, first: int, last: int) -> None:
    """Add one (code, severity) group of a summary query to `summary`."""
    severity = _SEVERITIES[rank]
    summary.total += count
    summary.by_severity[severity.value] = summary.by_severity.get(severity.value, 0) + count
    if rank >= Severity.ERROR.rank:
        summary.error_count += count
    stats = summary.by_code.get(code)
    if stats is None:
        summary.by_code[code] = CodeStats(count, from_ms(first), from_ms(last))
    else:
        stats.count += count
        stats.first_seen = min(stats.first_seen, from_ms(first))
        stats.last_seen = max(stats.last_seen, from_ms(last))


def _ts_ms(event: dict[str, Any]) -> int:
    return to_ms(datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00")))


_SEVERITIES = list(Severity)


def _hourly_rows(rows: dict[HourlyKey, HourlyCounts]) -> list[tuple[object, ...]]:
    return [
        (k.server, k.hour, k.code, k.touchpoint, k.tool, k.user_key, k.severity, *c.row)
        for k, c in rows.items()
    ]
