"""The SQLite backend's staff reads: problems and users affected from the staff rollups (`fleet.py`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mcpdiag.emitters import Severity
from mcpdiag.store.fleet import (
    Affected,
    FleetCounts,
    Group,
    fleet_problems_of,
)
from mcpdiag.store.rollup import HourlyCounts, Problem, bucket_edges
from mcpdiag.store.sqlite_base import SQLiteBase
from mcpdiag.store.sqlite_sql import json_values

_TOTALS = (
    "SELECT server, code, touchpoint, tool, max(severity), sum(n), max(wide), min(first_ts), max(last_ts), "
    "max(last_key), group_concat(((hour - ?) / ?) || ' ' || n, ' ') FROM hourly_fleet "
    "WHERE {where} AND min_expire > ? GROUP BY server, code, touchpoint, tool"
)
"""Per fingerprint, the fleet rows none of whose hourly rows has expired, and their occurrences per hour as
`bucket n` pairs (the bucket counted from the window's first hour): one pass in key order. Grouping by
fingerprint and bucket in SQL instead sorts every row of the window in a temporary B-tree: at 1M events
over 7 days (27,000 fleet rows) the totals and that trend took 9.9 + 17.2 ms, this 14 ms and the pairs'
parsing 3 ms (docs/benchmarks.md)."""
_PARTIAL = (
    "SELECT f.server, f.code, f.touchpoint, f.tool, f.hour, f.severity, sum(h.n), max(h.user_key = ''), "
    "min(h.first_ts), max(h.last_ts), max(h.last_key) "
    "FROM hourly_fleet f INDEXED BY ix_hourly_fleet_floor CROSS JOIN hourly h "
    "ON h.server = f.server AND h.hour = f.hour AND h.code = f.code AND h.touchpoint = f.touchpoint "
    "AND h.tool = f.tool AND h.severity = f.severity "
    "WHERE {where} AND f.min_expire <= ? AND h.expire_at > ? "
    "GROUP BY f.server, f.code, f.touchpoint, f.tool, f.hour, f.severity"
)
"""Fleet rows some of whose hourly rows may have expired: summed again from their visible hourly rows (the
few fleet rows first, found by their floor: CROSS JOIN keeps that order, and without the index the planner
scanned every fleet row of the window to find them)."""
_UNCERTAIN = (
    "SELECT EXISTS (SELECT 1 FROM hourly_users WHERE last_hour >= ? AND {where}) "
    "OR EXISTS (SELECT 1 FROM hourly_users WHERE last_expire <= ? AND last_hour >= ? AND {where})"
)
"""Whether a presence row of the window cannot say alone if its user is in: its latest hour is after the
window, or that hour has expired (an older one may not have: kept, or stored with a longer retention)."""


def _scope(
    prefix: str, first: int, last: int, now_ms: int, min_rank: int, servers: Sequence[str] | None
) -> tuple[str, list[Any]]:
    where = [f"{prefix}hour >= ?", f"{prefix}hour < ?", f"{prefix}severity >= ?", f"{prefix}expire_at > ?"]
    params: list[Any] = [first, last, min_rank, now_ms]
    if servers is not None:
        where.append(f"{prefix}server IN (SELECT value FROM json_each(?))")
        params.append(json_values(servers))
    return " AND ".join(where), params


def _users_scope(
    now_ms: int, min_rank: int, servers: Sequence[str] | None, except_codes: Sequence[str]
) -> tuple[str, list[Any]]:
    where = ["severity >= ?", "expire_at > ?"]
    params: list[Any] = [min_rank, now_ms]
    if servers is not None:
        where.append("server IN (SELECT value FROM json_each(?))")
        params.append(json_values(servers))
    if except_codes:
        where.append("code NOT IN (SELECT value FROM json_each(?))")
        params.append(json_values(except_codes))
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

        def run(conn: sqlite3.Connection) -> list[Problem]:
            where, params = _scope("", first, last, now_ms, rank, servers)
            totals: list[tuple[Group, int, FleetCounts]] = []
            trend: list[Trend] = []
            for server, code, touchpoint, tool, severity, *values, hours in conn.execute(
                _TOTALS.format(where=where), [first, per, *params, now_ms]
            ):
                group = (server, code, touchpoint, tool)
                totals.append((group, severity, _counts(*values)))
                trend += _trend(group, hours, first, per)
            f_where, f_params = _scope("f.", first, last, now_ms, rank, servers)
            for server, code, touchpoint, tool, hour, severity, *values in conn.execute(
                _PARTIAL.format(where=f_where), [*f_params, now_ms, now_ms]
            ):
                c = _counts(*values)
                totals.append(((server, code, touchpoint, tool), severity, c))
                trend.append(((server, code, touchpoint, tool), hour, c.counts.n))
            found = _users(conn, "server, code, touchpoint, tool", first, last, now_ms, rank, servers, ())
            users = {(server, code, touchpoint, tool): n for server, code, touchpoint, tool, n in found}
            return fleet_problems_of(totals, trend, users, since, until, buckets=buckets)

        return await self._read(run)

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
            # Each user once per server: the counts per server and over all from one scan (two counts of
            # distinct users took twice as long as the pairs: 7.7 + 7.3 ms against 8.1 ms at 1M events).
            pairs = _users(conn, "", first, last, now_ms, rank, servers, except_codes, pairs=True)
            by_server: dict[str, int] = {}
            for server, _ in pairs:
                by_server[server] = by_server.get(server, 0) + 1
            return Affected(by_server, len({user for _, user in pairs}))

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
    *,
    pairs: bool = False,
) -> list[tuple[Any, ...]]:
    """Distinct users per `group_by` (columns) in the hours `[first, last)`; `pairs`: the distinct
    (server, user) pairs instead (`group_by` unused).

    From the presence rows when each of them is certain (its latest hour before `last` and unexpired, or
    before `first`); otherwise, which only a window ending before the latest hours or a kept event's older
    hour can cause, from the hourly rows themselves.
    """
    where, params = _users_scope(now_ms, min_rank, servers, except_codes)
    what = "DISTINCT server, user_key" if pairs else f"{group_by}, count(DISTINCT user_key)"
    tail = "" if pairs else f" GROUP BY {group_by}"
    (uncertain,) = conn.execute(
        _UNCERTAIN.format(where=where), [last, *params, now_ms, first, *params]
    ).fetchone()
    if not uncertain:
        # `+last_hour`: a scan of the presence rows (as many as fingerprints x users, whatever the events),
        # never the hour index, which the planner chose for a count over all and which took 29 ms against
        # 4.9 ms for a scan at 1M events (most presence rows of a fleet are recent).
        sql = f"SELECT {what} FROM hourly_users WHERE +last_hour >= ? AND {where}{tail}"
        return conn.execute(sql, [first, *params]).fetchall()
    h_where, h_params = _scope("", first, last, now_ms, min_rank, servers)
    if except_codes:
        h_where += " AND code NOT IN (SELECT value FROM json_each(?))"
        h_params.append(json_values(except_codes))
    sql = f"SELECT {what} FROM hourly WHERE {h_where} AND user_key != ''{tail}"
    return conn.execute(sql, h_params).fetchall()


Trend = tuple[Group, int, int]
"""(fingerprint, an hour of a bucket, occurrences): what `fleet_problems_of` sums into each bucket."""


def _trend(group: Group, hours: str, first: int, per: int) -> list[Trend]:
    """The occurrences per bucket of `_TOTALS`'s `bucket n` pairs, each bucket standing as its first hour."""
    sums: dict[int, int] = {}
    numbers = map(int, hours.split())
    for bucket, n in zip(numbers, numbers, strict=False):  # consecutive pairs
        sums[bucket] = sums.get(bucket, 0) + n
    return [(group, first + bucket * per, n) for bucket, n in sums.items()]


def _counts(n: int, wide: int, first_ms: int, last_ms: int, last_key: str) -> FleetCounts:
    return FleetCounts(HourlyCounts(n, first_ms, last_ms, last_key, 0), bool(wide), 0)
