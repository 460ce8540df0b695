"""The SQLite backend's aggregate reads (latest events, summaries, rollups, servers, audit)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from mcpdiag.emitters import Severity
from mcpdiag.emitters.codes import counts_as_failure
from mcpdiag.store.base import (
    AUDIT_CURSOR_SCOPE,
    AUDIT_RETENTION,
    MAX_PAGE,
    CodeStats,
    EventQuery,
    Page,
    Summary,
    audit_ts,
    from_ms,
    to_ms,
)
from mcpdiag.store.errors import InvalidQueryError
from mcpdiag.store.rollup import HourlyCounts, HourlyKey, HourlyRow, window_hours
from mcpdiag.store.sqlite_fleet import SQLiteFleet
from mcpdiag.store.sqlite_sql import EARLIEST_EXPIRY, json_values


class SQLiteReads(SQLiteFleet):
    """The SQLite backend's aggregate reads: latest events, summaries, rollups, servers, the audit log."""

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
            for server, *latest in conn.execute(sql, [*all_params, json_values(servers)]):
                rows = [tuple(cell.split(",", 2)) for cell in latest if cell is not None]
                if rows:  # (ts, id, doc): ids hold no comma (the event id pattern)
                    found[server] = orjson.loads(max(rows, key=lambda r: (int(r[0]), r[1]))[2])
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
            params.append(json_values(servers))
        if user_id is not None:
            where.append("user_key IN ('', ?)")
            params.append(user_id)
        sql = (
            "SELECT server, hour, code, touchpoint, tool, user_key, severity, n, first_ts, last_ts, "
            f"last_key, expire_at FROM hourly WHERE {' AND '.join(where)}"
        )
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [HourlyRow(HourlyKey(*row[:7]), HourlyCounts(*row[7:])) for row in rows]

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
        return [(received, event_id, orjson.loads(doc)) for received, event_id, doc in rows]

    async def has_server(self, name: str) -> bool:
        row = await self._read(
            lambda conn: conn.execute("SELECT 1 FROM servers WHERE name = ?", (name,)).fetchone()
        )
        return row is not None

    async def summaries(
        self, servers: Sequence[str], since: datetime, *, user_id: str | None = None
    ) -> dict[str, Summary]:
        where = "server IN (SELECT value FROM json_each(?)) AND ts >= ? AND expire_at > ?"
        params: list[Any] = [json_values(servers), to_ms(since), self._now_ms()]
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
        return Page([orjson.loads(doc) for _, _, doc in rows], next_cursor)


def _tally(summary: Summary, code: str, rank: int, count: int, first: int, last: int) -> None:
    """Add one (code, severity) group of a summary query to `summary`."""
    severity = _SEVERITIES[rank]
    summary.total += count
    summary.by_severity[severity.value] = summary.by_severity.get(severity.value, 0) + count
    if rank >= Severity.ERROR.rank:
        summary.error_count += count
    if counts_as_failure(code, severity.value):
        summary.failures += count
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
