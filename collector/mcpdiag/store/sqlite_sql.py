"""The SQLite backend's SQL: schema, statements, connections, the keyset page query and the chunk reader."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import islice
from operator import ge, le
from pathlib import Path
from typing import Any

import orjson

from mcpdiag.store.base import EventQuery, to_ms

TABLES = """
CREATE TABLE IF NOT EXISTS events (
    id          TEXT    NOT NULL PRIMARY KEY,
    ts          INTEGER NOT NULL,
    server      TEXT    NOT NULL,
    user_key    TEXT    NOT NULL,  -- '' for server-wide events (user ids are never empty)
    severity    INTEGER NOT NULL,
    code        TEXT    NOT NULL,
    touchpoint  TEXT    NOT NULL,
    trace_id    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    expire_at   INTEGER NOT NULL,
    doc         TEXT    NOT NULL,
    n           INTEGER NOT NULL DEFAULT 1  -- occurrences the event stands for (its `count`)
);
CREATE TABLE IF NOT EXISTS servers (name TEXT NOT NULL PRIMARY KEY, last_ts INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id     TEXT    NOT NULL PRIMARY KEY,
    ts     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    doc    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_audit_ts ON audit (ts, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT NOT NULL PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly (
    server     TEXT    NOT NULL,
    hour       INTEGER NOT NULL,  -- ts_ms / 3600000
    code       TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    tool       TEXT    NOT NULL,  -- '' when the events name none
    user_key   TEXT    NOT NULL,  -- '' for server-wide events
    severity   INTEGER NOT NULL,
    n          INTEGER NOT NULL,  -- occurrences
    first_ts   INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    last_key   TEXT    NOT NULL,  -- ts|trace|id of the newest event (the greatest string is the newest)
    expire_at  INTEGER NOT NULL,
    PRIMARY KEY (server, hour, code, touchpoint, tool, user_key, severity)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_hourly_hour ON hourly (hour);
CREATE INDEX IF NOT EXISTS ix_hourly_expire ON hourly (expire_at);
CREATE TABLE IF NOT EXISTS hourly_fleet (  -- the hourly rows without the user (mcpdiag.store.fleet)
    server     TEXT    NOT NULL,
    hour       INTEGER NOT NULL,
    code       TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    tool       TEXT    NOT NULL,
    severity   INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    wide       INTEGER NOT NULL,  -- 1 when any of its events was server-wide
    first_ts   INTEGER NOT NULL,
    last_ts    INTEGER NOT NULL,
    last_key   TEXT    NOT NULL,
    min_expire INTEGER NOT NULL,  -- at most the lowest expiry of its hourly rows
    expire_at  INTEGER NOT NULL,  -- the highest
    PRIMARY KEY (server, code, touchpoint, tool, hour, severity)  -- grouped per fingerprint as stored
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_hourly_fleet_floor ON hourly_fleet (min_expire);
CREATE TABLE IF NOT EXISTS hourly_users (  -- each user's latest hour per fingerprint (mcpdiag.store.fleet)
    server     TEXT    NOT NULL,
    code       TEXT    NOT NULL,
    touchpoint TEXT    NOT NULL,
    tool       TEXT    NOT NULL,
    severity   INTEGER NOT NULL,
    user_key    TEXT    NOT NULL,  -- never '' (server-wide events count no user)
    last_hour   INTEGER NOT NULL,  -- the latest hour of its hourly rows
    last_expire INTEGER NOT NULL,  -- at most that hour's expiry
    expire_at   INTEGER NOT NULL,  -- the highest expiry of all its hourly rows
    PRIMARY KEY (server, code, touchpoint, tool, severity, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_hourly_users_hour ON hourly_users (last_hour);
CREATE INDEX IF NOT EXISTS ix_hourly_users_floor ON hourly_users (last_expire);
"""
EVENT_INDEXES = """
CREATE INDEX IF NOT EXISTS ix_events_server_ts ON events (server, ts, id);
CREATE INDEX IF NOT EXISTS ix_events_server_user_ts ON events (server, user_key, ts, id);
CREATE INDEX IF NOT EXISTS ix_events_trace ON events (trace_id);
CREATE INDEX IF NOT EXISTS ix_events_expire ON events (expire_at);
CREATE INDEX IF NOT EXISTS ix_events_server_received ON events (server, received_at, id);
"""
"""The `events` table's secondary indexes: a bulk load into a new store builds them once, after the rows
(`ensure_schema(indexes=False)`, then `ensure_schema()`); writing them row by row is most of an insert."""
SCHEMA = TABLES + EVENT_INDEXES

INSERT = (
    "INSERT OR IGNORE INTO events (id, ts, server, user_key, severity, code, touchpoint, trace_id, "
    "received_at, expire_at, doc, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_HOURLY = (
    "INSERT INTO hourly (server, hour, code, touchpoint, tool, user_key, severity, n, first_ts, last_ts, "
    "last_key, expire_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (server, hour, code, touchpoint, tool, user_key, severity) DO UPDATE SET "
    "n = n + excluded.n, first_ts = min(first_ts, excluded.first_ts), "
    "last_ts = max(last_ts, excluded.last_ts), last_key = max(last_key, excluded.last_key), "
    "expire_at = max(expire_at, excluded.expire_at)"
)
KEEP_EVENTS = (
    "UPDATE events SET expire_at = max(expire_at, ?) "
    "WHERE id IN (SELECT value FROM json_each(?)) AND expire_at > ?"
)
KEEP_HOURLY = (
    "UPDATE hourly SET expire_at = max(expire_at, ?) "
    "WHERE (server, hour, code, touchpoint, tool, user_key, severity) IN ("
    "SELECT server, ts / 3600000, code, touchpoint, coalesce(json_extract(doc, '$.tool'), ''), user_key, "
    "severity FROM events WHERE id IN (SELECT value FROM json_each(?)) AND expire_at > ?)"
)
"""The rollup rows counting the given events (their key as `rollup.rollup` builds it) kept as long."""
_KEPT_EVENTS = "FROM events WHERE id IN (SELECT value FROM json_each(?)) AND expire_at > ?"
KEEP_FLEET = (
    "UPDATE hourly_fleet SET expire_at = max(expire_at, ?) "
    "WHERE (server, hour, code, touchpoint, tool, severity) IN ("
    "SELECT server, ts / 3600000, code, touchpoint, coalesce(json_extract(doc, '$.tool'), ''), severity "
    f"{_KEPT_EVENTS})"
)
"""The fleet rows counting the given events kept as long (their lowest expiry stays: it is a floor)."""
KEEP_PRESENCE = (
    "UPDATE hourly_users SET expire_at = max(expire_at, ?) "
    "WHERE (server, code, touchpoint, tool, severity, user_key) IN ("
    "SELECT server, code, touchpoint, coalesce(json_extract(doc, '$.tool'), ''), severity, user_key "
    f"{_KEPT_EVENTS} AND user_key != '')"
)
"""The presence rows of the given events kept as long (their latest hour's expiry stays: a read that finds
it passed looks the user up in the hourly rows)."""
UPSERT_FLEET = (
    "INSERT INTO hourly_fleet (server, hour, code, touchpoint, tool, severity, n, wide, first_ts, last_ts, "
    "last_key, min_expire, expire_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (server, code, touchpoint, tool, hour, severity) DO UPDATE SET "
    "n = n + excluded.n, wide = max(wide, excluded.wide), first_ts = min(first_ts, excluded.first_ts), "
    "last_ts = max(last_ts, excluded.last_ts), last_key = max(last_key, excluded.last_key), "
    "min_expire = min(min_expire, excluded.min_expire), expire_at = max(expire_at, excluded.expire_at)"
)
UPSERT_PRESENCE = (
    "INSERT INTO hourly_users (server, code, touchpoint, tool, severity, user_key, last_hour, last_expire, "
    "expire_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (server, code, touchpoint, tool, severity, user_key) DO UPDATE SET "
    "last_expire = CASE WHEN excluded.last_hour > last_hour THEN excluded.last_expire "
    "WHEN excluded.last_hour = last_hour THEN max(last_expire, excluded.last_expire) ELSE last_expire END, "
    "last_hour = max(last_hour, excluded.last_hour), expire_at = max(expire_at, excluded.expire_at)"
)
BACKFILL_FLEET = (
    "DELETE FROM hourly_fleet",
    "DELETE FROM hourly_users",
    "INSERT INTO hourly_fleet SELECT server, hour, code, touchpoint, tool, severity, sum(n), "
    "max(user_key = ''), min(first_ts), max(last_ts), max(last_key), min(expire_at), max(expire_at) "
    "FROM hourly GROUP BY server, hour, code, touchpoint, tool, severity",
    "INSERT INTO hourly_users SELECT server, code, touchpoint, tool, severity, user_key, max(hour), "
    "CAST(substr(max(printf('%010d|%015d', hour, expire_at)), 12) AS INTEGER), max(expire_at) "
    "FROM hourly WHERE user_key != '' GROUP BY server, code, touchpoint, tool, severity, user_key",
    "INSERT OR REPLACE INTO meta (name, value) VALUES ('fleet_rollup', 1)",
)
"""The staff rollups of a file an earlier version wrote, built from its hourly rows (`ensure_schema`)."""
PURGE_FLEET = (
    "DELETE FROM hourly_fleet WHERE expire_at <= ?",
    "UPDATE hourly_fleet SET min_expire = 0 WHERE min_expire BETWEEN 1 AND ?",
    "DELETE FROM hourly_users WHERE expire_at <= ?",
    "UPDATE hourly_users SET last_expire = 0 WHERE last_expire BETWEEN 1 AND ?",
)
"""A purge's statements on the staff rollups (each takes the cutoff): rows all of whose hourly rows are
gone are deleted; a row that may count purged hourly rows is marked so that reads look at those instead."""
EARLIEST_EXPIRY = (
    "SELECT min(expire_at) FROM events WHERE id IN (SELECT value FROM json_each(?)) AND expire_at > ?"
)
EXISTING_IDS = "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))"
MIGRATIONS = (("events", "n", "ALTER TABLE events ADD COLUMN n INTEGER NOT NULL DEFAULT 1"),)
"""Columns later versions added, with the statement that adds each to a file an earlier version made."""
UPSERT_SERVER = (
    "INSERT INTO servers (name, last_ts) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET last_ts = max(last_ts, excluded.last_ts)"
)
UPSERT = (
    INSERT.replace("INSERT OR IGNORE", "INSERT")
    + " ON CONFLICT (id) DO UPDATE SET ts = excluded.ts, server = excluded.server, "
    "user_key = excluded.user_key, severity = excluded.severity, code = excluded.code, "
    "touchpoint = excluded.touchpoint, trace_id = excluded.trace_id, received_at = excluded.received_at, "
    "expire_at = excluded.expire_at, doc = excluded.doc"
)
"""An import's write when the file's version of a stored id replaces the stored one."""
COUNT_PRESENT = "SELECT COUNT(*) FROM events WHERE id IN (SELECT value FROM json_each(?))"
_RFC3339 = "'%Y-%m-%dT%H:%M:%fZ'"
EXPORT_LINE = (
    'substr(doc, 1, length(doc) - 1) || \',"receivedAt":"\' || '
    f"strftime({_RFC3339}, received_at / 1000.0, 'unixepoch') || '\",\"expireAt\":\"' || "
    f"strftime({_RFC3339}, expire_at / 1000.0, 'unixepoch') || '\"}}'"
)
"""An export line built by SQLite from a row: the stored doc with `receivedAt` and `expireAt` appended.

SQLite's `strftime` computes on integer milliseconds, so it writes what `format_ts` writes for every
instant from 1970 on (checked in the conformance tests); both columns always hold such instants.
"""
PURGE_CHUNK = 5000
CHUNK_CHARS = 4_000_000
"""About how many characters of documents one read of a JSON walk holds (`read_json_chunk`)."""
Chunk = tuple[list[str], tuple[int, str] | None, int]
STREAM_CACHE_KIB = 2000
"""Page cache of the connection an `iter_json_batches` walk has to itself (it reads every page once)."""


def sqlite_path(url: str) -> Path:
    """The file path of a `sqlite:///relative.db` or `sqlite:////absolute.db` URL."""
    return Path(url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite:///") else url)


# Page cache per connection. Readers share the OS page cache anyway (WAL), so a modest private cache keeps
# the process' memory flat as the file grows: at most (readers + 1) x this much.
READ_CACHE_KIB = 8000
WRITE_CACHE_KIB = 16000
WAL_CHECKPOINT_PAGES = 10_000
"""The writer copies the WAL into the database once it holds this many pages (40 MB at 4 KB; SQLite's
default is 1,000). The rollup rows a batch updates are the same hot pages batch after batch: checkpointed
ten times less often, each is copied once where it was copied many times (raw append +19 % at 100k events,
docs/benchmarks.md). The WAL stays bounded by it while no read holds an old snapshot for long
(`tests/store/test_sqlite_wal.py`); its file keeps the size it reached."""
WAL_SYNC_S = 1.0
"""A durable store also checkpoints this long after the first write since its last checkpoint, which fsyncs
the WAL (`SQLiteBase._sync_soon`): what an OS crash can take back is about a second of writes."""


def connect(
    path: Path, *, readonly: bool, cache_kib: int = READ_CACHE_KIB, durable: bool = True
) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL survives a process crash; an OS crash can lose what was written since the last
        # checkpoint (at most about `WAL_SYNC_S`: `SQLiteBase._sync_soon`). A store
        # that is thrown away when its process ends (a bundle's viewer) need not survive either: no fsync.
        conn.execute(f"PRAGMA synchronous = {'NORMAL' if durable else 'OFF'}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    return conn


def json_values(values: Iterable[str]) -> str:
    """`values` as the JSON array a `json_each(?)` filter reads, without those holding a NUL: SQLite's JSON
    functions end a string there (`"github\\u0000x"` would read as `github`), and no stored name holds one
    (the wire contract refuses control characters), so such a value matches nothing, as it should."""
    return json.dumps([value for value in values if "\x00" not in value])


def build_select(
    query: EventQuery, now_ms: int, *, after: tuple[int, str] | None, limit: int, doc: str = "doc"
) -> tuple[str, list[Any]]:
    """The SQL of one keyset page (or chunk) of `query`, using the server/user/ts indexes; its third
    column is `doc`, or the SQL expression given instead (e.g. `EXPORT_LINE`)."""
    desc = not query.oldest_first
    order = "DESC" if desc else "ASC"
    common: list[str] = ["expire_at > ?"]
    params: list[Any] = [now_ms]
    if query.min_severity is not None:
        common.append("severity >= ?")
        params.append(query.min_severity.rank)
    if query.since is not None:
        common.append("ts >= ?")
        params.append(to_ms(query.since))
    if query.until is not None:
        common.append("ts < ?")
        params.append(to_ms(query.until))
    if query.codes:
        common.append(f"code IN ({','.join('?' * len(query.codes))})")
        params.extend(query.codes)
    if query.touchpoints:
        common.append(f"touchpoint IN ({','.join('?' * len(query.touchpoints))})")
        params.extend(query.touchpoints)
    if query.trace_id is not None:
        common.append("trace_id = ?")
        params.append(query.trace_id)
    if query.tool is not None:  # no column: read from the doc, within the server's index range
        common.append("json_extract(doc, '$.tool') = ?")
        params.append(query.tool)
    if after is not None:
        common.append(f"(ts, id) {'<' if desc else '>'} (?, ?)")
        params.extend(after)

    def branch(head: str, head_params: list[Any]) -> tuple[str, list[Any]]:
        where = " AND ".join([head, *common])
        column = "doc" if doc == "doc" else f"{doc} AS doc"
        sql = f"SELECT ts, id, {column} FROM events WHERE {where} ORDER BY ts {order}, id {order} LIMIT ?"
        return sql, [*head_params, *params, limit]

    if query.user_id is None:
        return branch("server = ?", [query.server])
    # Two index range scans (the user's own rows, then server-wide rows) merged: never an OR over user_key.
    own, own_params = branch("server = ? AND user_key = ?", [query.server, query.user_id])
    wide, wide_params = branch("server = ? AND user_key = ''", [query.server])
    sql = (
        f"SELECT ts, id, doc FROM ({own}) UNION ALL SELECT ts, id, doc FROM ({wide}) "
        f"ORDER BY ts {order}, id {order} LIMIT ?"
    )
    return sql, [*own_params, *wide_params, limit]


def read_json_chunk(
    conn: sqlite3.Connection, sql: str, params: list[Any], *, newest_first: bool
) -> tuple[list[str], tuple[int, str] | None, int]:
    """The `doc`s of one chunk (`sql` selects ts, id, doc in (ts, id) order), its last (ts, id), and how many
    characters the documents hold.

    Read as one row of three concatenations: row by row, the sqlite3 module takes the GIL back after every
    row, and in a process busy with the documents already read that hand-off costs more than the rows.
    SQLite does not promise the order of `group_concat`, so the pieces are checked: as many ids, times and
    documents as rows (an id holding a comma, a document holding a newline would break that), and the
    (ts, id) pairs in order; otherwise the chunk is read row by row.
    """
    ts, ids, docs, count = conn.execute(
        "SELECT group_concat(ts, ','), group_concat(id, ','), group_concat(doc, char(10)), count(*) "
        f"FROM ({sql})",
        params,
    ).fetchone()
    if not count:
        return [], None, 0
    stamps, names, lines = ts.split(","), ids.split(","), docs.split("\n")
    if len(stamps) == len(names) == len(lines) == count:
        keys = list(zip(map(int, stamps), names, strict=True))
        if all(map(ge if newest_first else le, keys, islice(keys, 1, None))):
            return lines, keys[-1], len(docs) - count + 1
    rows = conn.execute(sql, params).fetchall()
    if not rows:  # purged between the two reads
        return [], None, 0
    lines = [doc for _, _, doc in rows]
    return lines, (rows[-1][0], rows[-1][1]), sum(map(len, lines))


_VALUES = re.compile(r"VALUES \((\?(?:, \?)*)\)")


@lru_cache(maxsize=32)
def _from_json(statement: str) -> str:
    """`statement` (an INSERT with `VALUES (?, ...)`) reading its rows from one JSON array parameter."""
    found = _VALUES.search(statement)
    if found is None:
        raise ValueError(f"not an INSERT ... VALUES statement: {statement[:60]}")
    columns = ", ".join(f"value ->> {i}" for i in range(found.group(1).count("?")))
    # `WHERE true`: an upsert's ON CONFLICT after a SELECT needs it (SQLite's grammar).
    head, tail = statement[: found.start()], statement[found.end() :]
    return f"{head}SELECT {columns} FROM json_each(?) WHERE true{tail}"


def execute_rows(conn: sqlite3.Connection, statement: str, rows: Iterable[Sequence[Any]]) -> int:
    """`conn.executemany(statement, rows)` as one statement over the rows sent as a JSON array; the rows
    changed. `executemany` hands the GIL back and forth for every row (it releases it around each step):
    with another thread busy in Python (the collector checking the next request), each row waited for the
    GIL, and a writer that stored 12,000 events a second alone stored 600 (docs/benchmarks.md). One
    statement releases it once. Values: strings, integers, floats (JSON's), nothing else. (Alone, with no
    other thread busy, this costs a fifth more than `executemany`: the rows are encoded and parsed again.)"""
    listed = rows if isinstance(rows, list) else list(rows)
    if not listed:
        return 0
    data = orjson.dumps(listed)
    if b"\\u0000" in data:
        # SQLite's JSON functions end a string at a NUL: such rows go one by one, exactly. The test is on the
        # encoded bytes, so a batch whose text merely spells `\u0000` (an event document holding an escaped
        # NUL) goes this way too: slower, never wrong.
        return conn.executemany(statement, listed).rowcount
    return conn.execute(_from_json(statement), (data.decode(),)).rowcount
