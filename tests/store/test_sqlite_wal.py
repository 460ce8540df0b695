"""The writer's WAL: checkpointed in larger steps than SQLite's default, and still bounded.

Every batch updates the same hot rollup pages; copying the WAL into the database ten times less often
copies each of them once where it was copied many times (`sqlite_sql.WAL_CHECKPOINT_PAGES`). What must
hold either way: the WAL does not grow past the checkpoint size and one transaction, however long the
writer runs, and every event written is read back.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mcpdiag.store import EventQuery, SQLiteEventStore, sqlite_sql
from tests.factories import make_event
from tests.waiting import eventually

SQLITE_DEFAULT_PAGES = 1000
PAGE = 4096
WAL_HEADER = 32
FRAME = 24 + PAGE


def _wal_pages(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - WAL_HEADER) // FRAME


async def _write(store: SQLiteEventStore, db: Path, batches: int, *, start: int = 0) -> list[int]:
    """Append `batches` batches of 200 events (2 KB details), the WAL's size in pages after each."""
    sizes, filler = [], "x" * 2000
    for b in range(start, start + batches):
        events = [
            make_event(server=f"s{i % 5}", user_id=f"user-{(b * 200 + i) % 97}", detail=f"{b}-{i} {filler}")
            for i in range(200)
        ]
        assert await store.append(events) == 200
        sizes.append(_wal_pages(db))
    return sizes


async def test_the_wal_grows_past_sqlites_default_before_it_is_checkpointed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_sql, "WAL_SYNC_S", 3600.0)  # only the size decides here
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db)
    await store.ensure_schema()
    try:
        sizes = await _write(store, db, 24)
    finally:
        await store.close()
    # 150 to 450 pages a batch: with SQLite's default the WAL would start again from its beginning past
    # 1,000 pages and never hold more than that and two batches (under 2,000).
    assert max(sizes) > 3 * SQLITE_DEFAULT_PAGES, sizes
    assert sqlite_sql.WAL_CHECKPOINT_PAGES >= 4 * SQLITE_DEFAULT_PAGES


async def _wal_sizes(tmp_path: Path, name: str, batches: int) -> tuple[list[int], int]:
    """The WAL's size after each of `batches` batches into a new store, and the events read back."""
    db = tmp_path / name / "events.db"
    store = SQLiteEventStore(db)
    await store.ensure_schema()
    try:
        sizes = await _write(store, db, batches)
        stored: set[str] = set()
        for server in range(5):
            stored |= {event["id"] async for event in store.iter(EventQuery(server=f"s{server}"))}
    finally:
        await store.close()
    return sizes, len(stored)


async def test_the_wal_stays_within_the_checkpoint_size_and_two_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_sql, "WAL_SYNC_S", 3600.0)
    monkeypatch.setattr(sqlite_sql, "WAL_CHECKPOINT_PAGES", 10**9)
    unbounded, _ = await _wal_sizes(tmp_path, "never", 30)
    # Never checkpointed, the WAL holds every frame: its growth is what each batch wrote.
    largest = max(b - a for a, b in zip([0, *unbounded], unbounded, strict=False))
    monkeypatch.setattr(sqlite_sql, "WAL_CHECKPOINT_PAGES", 200)
    sizes, stored = await _wal_sizes(tmp_path, "bounded", 30)
    # Checkpointed after the commit that reaches the size, the WAL starts again from its beginning at the
    # next write that finds it all copied: never past the size and two batches.
    assert max(sizes) <= 200 + 2 * largest, (max(sizes), largest)
    assert max(sizes) < unbounded[-1] / 3
    assert stored == 30 * 200


async def _traced(store: SQLiteEventStore) -> list[str]:
    """The statements the store's writer runs from now on."""
    traced: list[str] = []

    def trace(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(traced.append)

    await store._write(trace)
    return traced


async def test_a_write_is_checkpointed_soon_after_even_when_no_other_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_sql, "WAL_SYNC_S", 0.05)
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db)
    await store.ensure_schema()
    try:
        traced = await _traced(store)
        await _write(store, db, 1)

        async def checkpointed() -> bool:
            return any("wal_checkpoint" in sql for sql in traced)

        await eventually(checkpointed, "a checkpoint after the write")
        # The checkpoint copied the WAL back: a write now starts it again from its beginning.
        await _write(store, db, 1, start=1)
        assert _wal_pages(db) < 600
    finally:
        await store.close()


async def test_a_throwaway_store_never_checkpoints_on_a_timer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_sql, "WAL_SYNC_S", 0.01)
    db = tmp_path / "events.db"
    store = SQLiteEventStore(db, durable=False)
    await store.ensure_schema()
    try:
        traced = await _traced(store)
        await _write(store, db, 2)
        await asyncio.sleep(0.2)
    finally:
        await store.close()
    assert not [sql for sql in traced if "wal_checkpoint" in sql]
