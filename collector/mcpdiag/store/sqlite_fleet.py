"""The SQLite backend's staff reads: problems and users affected from the staff rollups (`fleet.py`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mcpdiag.emitters import Severity
from mcpdiag.store.fleet import (
    Affected,
    FleetCounts,
    FleetKey,
    Group,
    fleet_problems_of,
    mark_floor,
)
from mcpdiag.store.rollup import HourlyCounts, Problem, bucket_edges
from mcpdiag.store.sqlite_base import SQLiteBase

_FULL = (
    "SELECT server, ? + (hour - ?) / ? * ?, code, touchpoint, tool, max(severity), sum(n), max(wide), "
    "min(first_ts), max(last_ts), max(last_key) FROM hourly_fleet WHERE {where} AND min_expire > ? "
    "GROUP BY server, code, touchpoint, tool, (hour - ?) / ?"
)
"""Fleet rows none of whose hourly rows has expired, summed per fingerprint and bucket (the bucket's first
hour stands for its hours)."""
_PARTIAL = (
    "SELECT f.server, f.hour, f.code, f.touchpoint, f.tool, f.severity, sum(h.n), max(h.user_key = ''), "
    "min(h.first_ts), max(h.last_ts), max(h.last_key) FROM hourly_fleet f JOIN hourly h "
    "ON h.server = f.server AND h.hour = f.hour AND h.code = f.code AND h.touchpoint = f.touchpoint "
    "AND h.tool = f.tool AND h.severity = f.severity "
    "WHERE {where} AND f.min_expire <= ? AND h.expire_at > ? "
    "GROUP BY f.server, f.hour, f.code, f.touchpoint, f.tool, f.severity"
)
"""Fleet rows some of whose hourly rows may have expired: summed again from their visible hourly rows."""
_CERTAIN = "(mark < ? AND CAST(substr(mark, 12) AS INTEGER) > ?)"
"""A presence row whose latest hour lies before the window's end and has not expired: the user is in."""


def _scope(
    prefix: str, first: int, last: int, now_ms: int, min_rank: int, servers: Sequence[str] | None
) -> tuple[str, list[Any]]:
    where = [f"{prefix}hour >= ?", f"{prefix}hour < ?", f"{prefix}severity >= ?", f"{prefix}expire_at > ?"]
    params: list[Any] = [first, last, min_rank, now_ms]
    if servers is not None:
        where.append(f"{prefix}server IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(servers)))
    return " AND ".join(where), params


def _users_scope(
    first: int, now_ms: int, min_rank: int, servers: Sequence[str] | None, except_codes: Sequence[str]
) -> tuple[str, list[Any]]:
    where = ["severity >= ?", "mark >= ?", "expire_at > ?"]
    params: list[Any] = [min_rank, mark_floor(first), now_ms]
    if servers is not None:
        where.append("server IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(servers)))
    if except_codes:
        where.append("code NOT IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(except_codes)))
    return " AND ".join(where), params


class SQLiteFleet(SQLiteBase):
    """Staff problems and users affected on SQLite, grouped in SQL from the staff rollups."""

    async def problems(
        self,
        servers: Sequence[str] | None,
        since: datetime,
        until: datetime,
        *,
        user_id: str | None = None,
        min_severity: Severity = Severity.WARNING,
        buckets: int = 12,
    ) -> list[Problem]:
        if user_id is not None:  # a user's view: their own and server-wide hourly rows (few)
            return await super().problems(
                servers, since, until, user_id=user_id, min_severity=min_severity, buckets=buckets
            )
        first, last, per = bucket_edges(since, until, buckets)
        now_ms, rank = self._now_ms(), min_severity.rank

        def run(conn: sqlite3.Connection) -> tuple[list[tuple[FleetKey, FleetCounts]], dict[Group, int]]:
            where, params = _scope("", first, last, now_ms, rank, servers)
            full = conn.execute(
                _FULL.format(where=where), [first, first, per, per, *params, now_ms, first, per]
            )
            f_where, f_params = _scope("f.", first, last, now_ms, rank, servers)
            partial = conn.execute(_PARTIAL.format(where=f_where), [*f_params, now_ms, now_ms])
            rows = [_fleet_row(row) for cursor in (full, partial) for row in cursor]
            users = _users(conn, "server, code, touchpoint, tool", first, last, now_ms, rank, servers, ())
            return rows, {(s, c, t, tool): n for s, c, t, tool, n in users}

        rows, users = await self._read(run)
        return fleet_problems_of(rows, users, since, until, buckets=buckets, min_rank=rank)

    async def affected(
        self,
        servers: Sequence[str] | None,
        since: datetime,
        until: datetime,
        *,
        min_severity: Severity = Severity.WARNING,
        except_codes: Sequence[str] = (),
    ) -> Affected:
        first, last, _ = bucket_edges(since, until, 1)
        now_ms, rank = self._now_ms(), min_severity.rank

        def run(conn: sqlite3.Connection) -> Affected:
            by_server = _users(conn, "server", first, last, now_ms, rank, servers, except_codes)
            [(total,)] = _users(conn, "", first, last, now_ms, rank, servers, except_codes)
            return Affected({server: n for server, n in by_server}, int(total))

        return await self._read(run)


def _users(
    conn: sqlite3.Connection,
    group_by: str,
    first: int,
    last: int,
    now_ms: int,
    min_rank: int,
    servers: Sequence[str] | None,
    except_codes: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Distinct users per `group_by` (columns; '' for one count over all) in the hours `[first, last)`.

    From the presence rows when each of them is certain (its latest hour before `last` and unexpired, or
    before `first`); otherwise, which only a window ending before the latest hours or a kept event's older
    hour can cause, from the hourly rows themselves.
    """
    where, params = _users_scope(first, now_ms, min_rank, servers, except_codes)
    head = f"{group_by}, " if group_by else ""
    tail = f" GROUP BY {group_by}" if group_by else ""
    (uncertain,) = conn.execute(
        f"SELECT count(*) FROM hourly_users WHERE {where} AND NOT {_CERTAIN}",
        [*params, mark_floor(last), now_ms],
    ).fetchone()
    if not uncertain:
        sql = f"SELECT {head}count(DISTINCT user_key) FROM hourly_users WHERE {where}{tail}"
        return conn.execute(sql, params).fetchall()
    h_where, h_params = _scope("", first, last, now_ms, min_rank, servers)
    if except_codes:
        h_where += " AND code NOT IN (SELECT value FROM json_each(?))"
        h_params.append(json.dumps(list(except_codes)))
    sql = f"SELECT {head}count(DISTINCT user_key) FROM hourly WHERE {h_where} AND user_key != ''{tail}"
    return conn.execute(sql, h_params).fetchall()


def _fleet_row(row: tuple[Any, ...]) -> tuple[FleetKey, FleetCounts]:
    server, hour, code, touchpoint, tool, severity, n, wide, first_ms, last_ms, last_key = row
    counts = HourlyCounts(n, first_ms, last_ms, last_key, 0)
    return FleetKey(server, hour, code, touchpoint, tool, severity), FleetCounts(counts, bool(wide), 0)
