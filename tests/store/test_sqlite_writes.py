"""How the SQLite store writes a batch: a few statements whatever its size, every value exactly as given.

`executemany` runs a statement once per row and hands the GIL back and forth around each run; with another
thread busy in Python (the collector checking the next request) every row waited for the GIL, and a
writer that stored 12,000 events a second alone stored 600. The store writes each table's rows with one
statement over a JSON array instead (`sqlite_sql.execute_rows`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import EventQuery, SQLiteEventStore
from mcpdiag.store.errors import StoreUnavailableError
from mcpdiag.store.sqlite_sql import execute_rows
from tests.factories import make_event

TRICKY = [
    'quote " and \\ backslash',
    "line\nbreak\ttab",
    "\u2028\u2029 separators",
    "emoji 😀 ünïcödé",
    "nul \x00 byte",
    "{}[],:",
]


async def test_a_batch_is_written_with_a_few_statements_whatever_its_size(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    await store.ensure_schema()
    users = [f"user-{i}" for i in range(50)]
    events = [
        make_event(server=f"s{i % 7}", user_id=users[i % 50], detail=f"failure {i}") for i in range(500)
    ]
    traced: list[str] = []

    def count(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(traced.append)

    await store._write(count)
    try:
        assert await store.append(events) == 500
    finally:
        await store._write(lambda conn: conn.set_trace_callback(None))
        await store.close()
    writes = [sql for sql in traced if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    # events, servers, hourly, fleet and presence rows: one statement each, not one per row.
    assert 0 < len(writes) <= 10, len(writes)


async def test_every_value_is_stored_and_read_back_exactly(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    await store.ensure_schema()
    events = [
        make_event(server=f"srv {text[:5]!s}".replace("\x00", "0").replace("\n", " ").replace("\t", " ")
                   .replace("\u2028", " ").replace("\u2029", " "),
                   user_id="user ü 😀", detail=text, attrs={"text": text, "n": 2**63 - 1, "x": -1.5e-300})
        for text in TRICKY
    ]  # fmt: skip
    try:
        assert await store.append(events) == len(events)
        stored = {}
        for event in events:
            page = await store.page(EventQuery(server=event.server, limit=100))
            stored.update({item["id"]: item for item in page.items})
    finally:
        await store.close()
    for event in events:
        assert DiagnosticEvent.model_validate(stored[event.id]) == event


def test_rows_as_json_match_executemany_row_for_row(tmp_path: Path) -> None:
    """The same rows through `executemany` and `execute_rows` leave the same table, upserts included."""
    rows = [(f"k{i % 5}", i, TRICKY[i % len(TRICKY)], i * 0.5) for i in range(40)]
    sql = (
        "INSERT INTO t (k, n, s, f) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (k) DO UPDATE SET n = n + excluded.n, s = s || excluded.s, f = max(f, excluded.f)"
    )
    tables = []
    for how in ("executemany", "json"):
        conn = sqlite3.connect(tmp_path / f"{how}.db")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER, s TEXT, f REAL)")
        if how == "executemany":
            conn.executemany(sql, rows)
        else:
            assert execute_rows(conn, sql, rows) == len(rows)
        tables.append(conn.execute("SELECT k, n, s, f, typeof(n), typeof(f) FROM t ORDER BY k").fetchall())
        conn.close()
    assert tables[0] == tables[1]
    assert execute_rows(sqlite3.connect(":memory:"), sql, []) == 0


def test_a_statement_without_values_is_refused() -> None:
    with pytest.raises(ValueError, match="VALUES"):
        execute_rows(sqlite3.connect(":memory:"), "DELETE FROM t", [(1,)])


def _remove(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        path.unlink()


async def test_a_store_whose_file_was_removed_or_replaced_refuses_writes_and_pings_naming_it(
    tmp_path: Path,
) -> None:
    """The writer's connection still holds the old file: a write would succeed into a file nobody can open
    again. Writes and pings (what readiness asks) fail instead, naming the file."""
    for how in ("removed", "replaced"):
        db = tmp_path / f"{how}.db"
        store = SQLiteEventStore(db)
        await store.ensure_schema()
        await store.append([make_event()])
        _remove(tmp_path, f"{how}.db*")
        if how == "replaced":
            db.write_bytes(b"")
        with pytest.raises(StoreUnavailableError, match=f"{how}.db"):
            await store.append([make_event()])
        with pytest.raises(StoreUnavailableError, match=f"{how}.db"):
            await store.ping()
        await store.close()
