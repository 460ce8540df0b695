"""The SQLite backend's plumbing: its threads and connections, the schema and its migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from mcpdiag.store import sqlite_sql
from mcpdiag.store.base import (
    Clock,
    EventQuery,
    EventStore,
    Retention,
    to_ms,
    utc_now,
)
from mcpdiag.store.cursor import new_cursor_key
from mcpdiag.store.errors import StoreUnavailableError
from mcpdiag.store.sqlite_sql import (
    BACKFILL_FLEET,
    MIGRATIONS,
    SCHEMA,
    TABLES,
    WRITE_CACHE_KIB,
    build_select,
    connect,
)

T = TypeVar("T")


def _no_stop_iteration(fn: Callable[[], T]) -> T:
    """`fn()`, a StopIteration it lets escape raised as a RuntimeError: a future cannot hold a StopIteration,
    so asyncio would leave the awaiting caller waiting forever (a `next()` past the end of a read's rows)."""
    try:
        return fn()
    except StopIteration as exc:
        raise RuntimeError(f"a store operation let StopIteration escape: {exc!r}") from exc


class SQLiteBase(EventStore):
    """The SQLite backend's plumbing: one writer thread, a pool of reader threads, WAL, the schema."""

    def __init__(
        self,
        path: str | Path,
        *,
        retention: Retention | None = None,
        clock: Clock = utc_now,
        readers: int = 4,
        cursor_key: bytes | None = None,
        durable: bool = True,
    ) -> None:
        super().__init__(retention=retention, clock=clock, cursor_key=cursor_key)
        self.path = Path(path)
        self.durable = durable
        """False for a store its process throws away (a bundle's viewer): writes are never fsynced, so an
        OS crash may leave the file corrupt. Never for a store that keeps a deployment's events."""
        self._writer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcpdiag-sqlite-w")
        self._reader_pool = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="mcpdiag-sqlite-r")
        self._writer: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None
        """The device and inode of the file the writer opened (`_same_file`)."""
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._sync: asyncio.TimerHandle | None = None
        """The checkpoint due after the latest writes (`sqlite_sql.WAL_SYNC_S`), on `_sync_loop`."""
        self._sync_loop: asyncio.AbstractEventLoop | None = None
        self._syncing: asyncio.Task[None] | None = None

    # -- plumbing -------------------------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._writer is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = connect(
                    self.path, readonly=False, cache_kib=WRITE_CACHE_KIB, durable=self.durable
                )
                self._file = _identity(self.path)
            else:
                self._same_file()
            return fn(self._writer)

        result = await self._run(self._writer_pool, run)
        if self.durable:
            self._sync_soon()
        return result

    def _same_file(self) -> None:
        """Raise unless the path still names the file the writer opened. Removed or replaced under it (an
        `rm`, a cleanup job, a restored backup), that file is no longer the store: a write would succeed into
        a file nobody can open again, and the collector spools instead when this refuses it."""
        if self._file is None:  # opened before the file was made: the file it made is the one
            self._file = _identity(self.path)
        elif _identity(self.path) != self._file:
            raise StoreUnavailableError(
                f"the SQLite file {self.path} was removed or replaced while this process had it open: "
                "writes are refused (the collector keeps them in its spool) until the service is restarted"
            )

    def _sync_soon(self) -> None:
        """Checkpoint `WAL_SYNC_S` after the first write since the last checkpoint. With WAL and
        `synchronous = NORMAL` a commit is not fsynced: the WAL is, at each checkpoint. SQLite checkpoints
        once the WAL holds `WAL_CHECKPOINT_PAGES`, which a trickle of events reaches after hours; this
        bounds what an OS crash or a power cut can take back to about a second of writes, at any rate."""
        loop = asyncio.get_running_loop()
        if self._sync is not None and self._sync_loop is loop:
            return
        self._sync, self._sync_loop = loop.call_later(sqlite_sql.WAL_SYNC_S, self._checkpoint_now), loop

    def _checkpoint_now(self) -> None:
        self._sync = None  # a write from now on asks for the next one
        if not self._closed:
            self._syncing = asyncio.ensure_future(self._checkpoint())

    async def _checkpoint(self) -> None:
        def checkpoint() -> None:
            if self._writer is not None:
                self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

        with contextlib.suppress(StoreUnavailableError):
            await self._run(self._writer_pool, checkpoint)

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
            return await asyncio.get_running_loop().run_in_executor(pool, partial(_no_stop_iteration, fn))
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"SQLite store at {self.path.name}: {exc}") from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and task is not None and not task.cancelling():
                # Queued when the store closed (the caller itself was not cancelled).
                raise StoreUnavailableError("the store is closed") from None
            raise

    def _now_ms(self) -> int:
        return to_ms(self.clock())

    # -- EventStore -----------------------------------------------------------------------------------

    async def ensure_schema(self, *, indexes: bool = True) -> None:
        """Create the tables (and, unless `indexes` is False, the events' indexes) that are missing.

        A bulk load into a new store leaves the indexes out, then calls this again to build them at once.
        """

        def create(conn: sqlite3.Connection) -> None:
            conn.executescript(SCHEMA if indexes else TABLES)
            for table, column, statement in MIGRATIONS:
                if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(statement)
            # A file an earlier version wrote has hourly rows but no staff rollups yet: build them once.
            if conn.execute("SELECT 1 FROM meta WHERE name = 'fleet_rollup'").fetchone() is None:
                with transaction(conn):
                    for statement in BACKFILL_FLEET:
                        conn.execute(statement)

        await self._write(create)

    async def _stored_cursor_key(self) -> bytes:
        fresh = new_cursor_key()

        def load(conn: sqlite3.Connection) -> bytes:
            conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('cursor_key', ?)", (fresh,))
            (value,) = conn.execute("SELECT value FROM meta WHERE name = 'cursor_key'").fetchone()
            return bytes(value)

        return await self._write(load)

    async def ping(self) -> None:
        def ask(conn: sqlite3.Connection) -> None:
            self._same_file()  # a stat: in the reader's thread, off the event loop
            conn.execute("SELECT 1 FROM servers LIMIT 1").fetchall()

        await self._read(ask)

    async def explain(self, query: EventQuery) -> list[str]:
        """SQLite's query plan for the page query of `query` (for tests and tuning)."""
        sql, params = build_select(query.checked(), self._now_ms(), after=None, limit=query.limit + 1)
        rows = await self._read(lambda conn: conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
        return [row[-1] for row in rows]

    async def close(self) -> None:
        """Refuse new work, let what runs finish (queued reads are cancelled, queued writes are done), then
        close every connection: a connection is never closed under the thread using it."""
        if self._closed:
            return
        self._closed = True
        if self._sync is not None:
            self._sync.cancel()  # closing the writer checkpoints anyway

        def close_all() -> None:
            self._reader_pool.shutdown(wait=True, cancel_futures=True)
            self._writer_pool.shutdown(wait=True)
            if self._writer is not None:
                self._writer.close()
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()

        await asyncio.to_thread(close_all)


def _identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of the file at `path`, None when there is none."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def fetch_all(sql: str, params: list[Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    return lambda conn: conn.execute(sql, params).fetchall()


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
