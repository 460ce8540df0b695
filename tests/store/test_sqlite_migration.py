"""A SQLite file written by an earlier version opens with its rows intact and gains the new columns."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from mcpdiag.store import SQLiteEventStore
from tests.factories import NOW, FakeClock, make_event

FIRST_SCHEMA = """
CREATE TABLE events (
    id TEXT NOT NULL PRIMARY KEY, ts INTEGER NOT NULL, server TEXT NOT NULL, user_key TEXT NOT NULL,
    severity INTEGER NOT NULL, code TEXT NOT NULL, touchpoint TEXT NOT NULL, trace_id TEXT NOT NULL,
    received_at INTEGER NOT NULL, expire_at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE servers (name TEXT NOT NULL PRIMARY KEY, last_ts INTEGER NOT NULL) WITHOUT ROWID;
"""


async def test_a_file_of_the_first_schema_is_migrated_and_its_rows_count_once(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = make_event(ts=NOW - timedelta(minutes=5))
    fresh = SQLiteEventStore(tmp_path / "shape.db", clock=FakeClock(NOW))
    (row,) = fresh.rows([old])
    with sqlite3.connect(path) as conn:
        conn.executescript(FIRST_SCHEMA)
        conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row[:11])
        conn.execute("INSERT INTO servers VALUES (?, ?)", (old.server, row[1]))
    store = SQLiteEventStore(path, clock=FakeClock(NOW))
    await store.ensure_schema()
    await store.ensure_schema()  # idempotent
    await store.append(
        [
            make_event(
                ts=NOW - timedelta(minutes=1),
                count=3,
                first_ts=NOW - timedelta(minutes=2),
                last_ts=NOW - timedelta(minutes=1),
            )
        ]
    )
    summary = await store.summary(old.server, NOW - timedelta(hours=1))
    assert summary.total == 4
    await store.close()
    await fresh.close()
