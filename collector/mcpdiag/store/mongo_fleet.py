"""The MongoDB backend's staff rollups (`fleet.py`): their writes, backfill and reads."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import Any, cast

from pymongo.errors import PyMongoError

from mcpdiag.emitters import Severity
from mcpdiag.store.base import from_ms, to_ms
from mcpdiag.store.fleet import (
    Affected,
    FleetCounts,
    FleetKey,
    Group,
    PresenceKey,
    fleet_problems_of,
    fleet_rollup,
    hourly_as_fleet,
    mark_floor,
    split_mark,
)
from mcpdiag.store.mongo_base import MongoBase, _aware, _bson, _unavailable
from mcpdiag.store.rollup import HourlyCounts, HourlyKey, HourlyRow, Problem, bucket_edges, window_hours

FLEET_INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("ttl_expireAt", [("expireAt", 1)], {"expireAfterSeconds": 0}),
    (
        "key",
        [("server", 1), ("hour", 1), ("code", 1), ("touchpoint", 1), ("tool", 1), ("sev", 1)],
        {"unique": True},
    ),
    ("hour", [("hour", 1)], {}),
]
PRESENCE_INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("ttl_expireAt", [("expireAt", 1)], {"expireAfterSeconds": 0}),
    (
        "key",
        [("server", 1), ("code", 1), ("touchpoint", 1), ("tool", 1), ("sev", 1), ("userKey", 1)],
        {"unique": True},
    ),
    ("mark", [("mark", 1)], {}),
]
_BACKFILLED = "fleet_rollup"


def hourly_row(d: dict[str, Any]) -> HourlyRow:
    """The `HourlyRow` of a stored hourly document."""
    key = HourlyKey(d["server"], d["hour"], d["code"], d["touchpoint"], d["tool"], d["userKey"], d["sev"])
    counts = HourlyCounts(d["n"], d["firstTs"], d["lastTs"], d["lastKey"], to_ms(_aware(d["expireAt"])))
    return HourlyRow(key, counts)


class MongoFleet(MongoBase):
    """Staff problems and users affected on MongoDB, from the staff rollups."""

    def __init__(self, client: Any, *, database: str = "mcpdiag", **kwargs: Any) -> None:
        super().__init__(client, database=database, **kwargs)
        self.fleet_counts = client[database]["hourly_fleet"]
        self.presence = client[database]["hourly_users"]

    async def ensure_schema(self) -> None:
        await super().ensure_schema()
        try:
            for name, keys, options in FLEET_INDEXES:
                await self.fleet_counts.create_index(keys, name=name, **options)
            for name, keys, options in PRESENCE_INDEXES:
                await self.presence.create_index(keys, name=name, **options)
            if await self.meta.find_one({"_id": _BACKFILLED}) is None:
                # A database an earlier version wrote has hourly rows but no staff rollups: build them once
                # (from scratch, so that an interrupted backfill is simply run again).
                await self.fleet_counts.delete_many({})
                await self.presence.delete_many({})
                rows = {row.key: row.counts async for row in self._hourly_rows({})}
                await self._count_fleet(rows)
                await self.meta.update_one({"_id": _BACKFILLED}, {"$set": {"value": 1}}, upsert=True)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def _hourly_rows(self, spec: dict[str, Any]) -> Any:
        async for doc in self.hourly_counts.find(spec):
            yield hourly_row(doc)

    async def _count_fleet(self, rows: dict[HourlyKey, HourlyCounts]) -> None:
        """Add a batch's hourly rows to the staff rollups."""
        fleet, presence = fleet_rollup(rows)
        fleet_updates = [
            (
                {"server": k.server, "hour": k.hour, "code": k.code, "touchpoint": k.touchpoint,
                 "tool": k.tool, "sev": k.severity},
                {
                    "$inc": {"n": f.counts.n},
                    "$min": {"firstTs": f.counts.first_ms, "minExpire": f.min_expire_ms},
                    "$max": {"lastTs": f.counts.last_ms, "lastKey": f.counts.last_key, "wide": int(f.wide),
                             "expireAt": _bson(from_ms(f.counts.expire_ms))},
                },
            )
            for k, f in fleet.items()
        ]  # fmt: skip
        presence_updates = [
            (
                {"server": k.server, "code": k.code, "touchpoint": k.touchpoint, "tool": k.tool,
                 "sev": k.severity, "userKey": k.user_key},
                {"$max": {"mark": p.mark, "expireAt": _bson(from_ms(p.expire_ms))}},
            )
            for k, p in presence.items()
        ]  # fmt: skip
        await self._upsert(self.fleet_counts, fleet_updates)
        await self._upsert(self.presence, presence_updates)

    async def _upsert(self, collection: Any, updates: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        if not updates:
            return
        from pymongo import UpdateOne

        try:
            try:
                await collection.bulk_write(
                    [UpdateOne(spec, change, upsert=True) for spec, change in updates], ordered=False
                )
            except TypeError:  # mongomock's bulk API predates pymongo's UpdateOne(sort=): one by one there
                for spec, change in updates:
                    await collection.update_one(spec, change, upsert=True)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def _keep_fleet(self, docs: Sequence[dict[str, Any]], until: datetime) -> None:
        """Keep the staff rollup rows of kept event documents as long (floors and marks stay)."""
        later = {"$max": {"expireAt": _bson(until)}}
        fleet: set[tuple[Any, ...]] = set()
        presence: set[tuple[Any, ...]] = set()
        for d in docs:
            tool, user_key = d.get("tool") or "", d.get("userId") or ""
            hour = to_ms(_aware(d["ts"])) // 3_600_000
            fleet.add((d["server"], hour, d["code"], d["touchpoint"], tool, d["sev"]))
            if user_key:
                presence.add((d["server"], d["code"], d["touchpoint"], tool, d["sev"], user_key))
        names = ("server", "hour", "code", "touchpoint", "tool", "sev")
        for key in fleet:
            await self.fleet_counts.update_one(dict(zip(names, key, strict=True)), later)
        names = ("server", "code", "touchpoint", "tool", "sev", "userKey")
        for key in presence:
            await self.presence.update_one(dict(zip(names, key, strict=True)), later)

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
        first, last, _ = bucket_edges(since, until, buckets)
        now, rank = self.clock(), min_severity.rank
        spec = self._spec({"hour": {"$gte": first, "$lt": last}}, now, rank, servers)
        rows: list[tuple[FleetKey, FleetCounts]] = []
        partial: set[FleetKey] = set()
        try:
            async for d in self.fleet_counts.find(spec):
                key = FleetKey(d["server"], d["hour"], d["code"], d["touchpoint"], d["tool"], d["sev"])
                if d["minExpire"] <= to_ms(now):
                    partial.add(key)
                    continue
                counts = HourlyCounts(d["n"], d["firstTs"], d["lastTs"], d["lastKey"], 0)
                rows.append((key, FleetCounts(counts, bool(d["wide"]), 0)))
            if partial:
                hours = self._spec({"hour": {"$in": sorted({k.hour for k in partial})}}, now, rank, servers)
                visible = [
                    row
                    async for row in self._hourly_rows(hours)
                    if FleetKey(row.key.server, row.key.hour, row.key.code, row.key.touchpoint, row.key.tool,
                                row.key.severity) in partial
                ]  # fmt: skip
                rows.extend(hourly_as_fleet(visible).items())
            users = await self._users(since, until, rank, servers, (), lambda k: k[:4])
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        groups = cast(dict[Group, int], users)
        totals = [((k.server, k.code, k.touchpoint, k.tool), k.severity, c) for k, c in rows]
        trend = [((k.server, k.code, k.touchpoint, k.tool), k.hour, c.counts.n) for k, c in rows]
        return fleet_problems_of(totals, trend, groups, since, until, buckets=buckets)

    async def affected(
        self,
        servers: Sequence[str] | None,
        since: datetime,
        until: datetime,
        *,
        min_severity: Severity = Severity.WARNING,
        except_codes: Sequence[str] = (),
    ) -> Affected:
        rank = min_severity.rank
        try:
            by_server = await self._users(since, until, rank, servers, except_codes, lambda k: k[0])
            total = await self._users(since, until, rank, servers, except_codes, lambda k: "")
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return Affected({str(s): n for s, n in by_server.items()}, total.get("", 0))

    def _spec(
        self, spec: dict[str, Any], now: datetime, rank: int, servers: Sequence[str] | None
    ) -> dict[str, Any]:
        spec = {**spec, "sev": {"$gte": rank}, "expireAt": {"$gt": _bson(now)}}
        if servers is not None:
            spec["server"] = {"$in": list(servers)}
        return spec

    async def _users(
        self,
        since: datetime,
        until: datetime,
        rank: int,
        servers: Sequence[str] | None,
        except_codes: Sequence[str],
        group: Callable[[tuple[str, str, str, str]], Hashable],
    ) -> dict[Hashable, int]:
        """Distinct users per `group` of (server, code, touchpoint, tool): from the presence rows when each
        is certain (see `sqlite_fleet._users`), otherwise from the hourly rows."""
        first, last = window_hours(since, until)
        now = self.clock()
        now_ms = to_ms(now)
        spec = self._spec({"mark": {"$gte": mark_floor(first)}}, now, rank, servers)
        if except_codes:
            spec["code"] = {"$nin": list(except_codes)}
        found: list[PresenceKey] = []
        certain = True
        async for d in self.presence.find(spec):
            hour, expire_ms = split_mark(d["mark"])
            if hour >= last or expire_ms <= now_ms:
                certain = False
                break
            found.append(
                PresenceKey(d["server"], d["code"], d["touchpoint"], d["tool"], d["sev"], d["userKey"])
            )
        pairs: set[tuple[Hashable, str]]
        if certain:
            pairs = {(group((k.server, k.code, k.touchpoint, k.tool)), k.user_key) for k in found}
        else:
            hours = self._spec(
                {"hour": {"$gte": first, "$lt": last}, "userKey": {"$ne": ""}}, now, rank, servers
            )
            if except_codes:
                hours["code"] = {"$nin": list(except_codes)}
            pairs = {
                (group((r.key.server, r.key.code, r.key.touchpoint, r.key.tool)), r.key.user_key)
                async for r in self._hourly_rows(hours)
            }
        counts: dict[Hashable, int] = {}
        for key, _ in pairs:
            counts[key] = counts.get(key, 0) + 1
        return counts
