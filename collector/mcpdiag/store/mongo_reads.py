"""The MongoDB backend's aggregate reads (latest events, summaries, rollups, servers, audit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from mcpdiag.emitters import Severity, format_ts
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
from mcpdiag.store.mongo_base import (
    _aware,
    _bson,
    _resolved,
    _unavailable,
    from_document,
)
from mcpdiag.store.mongo_fleet import MongoFleet, hourly_row
from mcpdiag.store.rollup import HourlyRow, window_hours


class MongoReads(MongoFleet):
    """The aggregate reads of the MongoDB backend."""

    async def hourly(
        self,
        since: datetime,
        until: datetime,
        *,
        servers: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[HourlyRow]:
        first, last = window_hours(since, until)
        spec: dict[str, Any] = {
            "hour": {"$gte": first, "$lt": last},
            "expireAt": {"$gt": _bson(self.clock())},
        }
        if servers is not None:
            spec["server"] = {"$in": list(servers)}
        if user_id is not None:
            spec["userKey"] = {"$in": ["", user_id]}
        try:
            docs = [doc async for doc in self.hourly_counts.find(spec)]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return [hourly_row(d) for d in docs]

    async def last_events(
        self,
        servers: Sequence[str],
        *,
        user_id: str | None = None,
        touchpoints: Sequence[str] = (),
        codes: Sequence[str] = (),
        min_severity: Severity | None = None,
    ) -> dict[str, dict[str, Any]]:
        query = EventQuery(
            user_id=user_id, touchpoints=tuple(touchpoints), codes=tuple(codes), min_severity=min_severity
        )
        spec = {**self._filter(query, self.clock(), None), "server": {"$in": list(servers)}}
        # One aggregation: newest first within each server, the first document of each group.
        pipeline = [
            {"$match": spec},
            {"$sort": {"server": 1, "ts": -1, "_id": -1}},
            {"$group": {"_id": "$server", "doc": {"$first": "$$ROOT"}}},
        ]
        try:
            cursor = await _resolved(self.events.aggregate(pipeline))
            groups = [group async for group in cursor]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return {group["_id"]: from_document(group["doc"]) for group in groups}

    async def summary(self, server: str, since: datetime, *, user_id: str | None = None) -> Summary:
        spec = self._filter(EventQuery(server=server, user_id=user_id, since=since), self.clock(), None)
        pipeline = [
            {"$match": spec},
            {
                "$group": {
                    "_id": {"code": "$code", "sev": "$sev"},
                    "n": {"$sum": {"$ifNull": ["$count", 1]}},
                    "first": {"$min": "$ts"},
                    "last": {"$max": "$ts"},
                }
            },
        ]
        try:
            cursor = await _resolved(self.events.aggregate(pipeline))
            groups = [group async for group in cursor]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        summary = Summary(server=server, since=since)
        names = list(Severity)
        for group in groups:
            code, rank, count = group["_id"]["code"], group["_id"]["sev"], group["n"]
            first, last = _aware(group["first"]), _aware(group["last"])
            summary.total += count
            name = names[rank].value
            summary.by_severity[name] = summary.by_severity.get(name, 0) + count
            if rank >= Severity.ERROR.rank:
                summary.error_count += count
            if counts_as_failure(code, name):
                summary.failures += count
            stats = summary.by_code.get(code)
            if stats is None:
                summary.by_code[code] = CodeStats(count, first, last)
            else:
                stats.count += count
                stats.first_seen = min(stats.first_seen, first)
                stats.last_seen = max(stats.last_seen, last)
        last_error = await self.page(
            EventQuery(server=server, user_id=user_id, since=since, min_severity=Severity.ERROR, limit=1)
        )
        summary.last_error = last_error.items[0] if last_error.items else None
        return summary

    async def list_servers(self, *, after: str | None = None, limit: int | None = None) -> list[str]:
        try:  # a distinct scan of the server index, from `after` on
            names = await self.events.distinct(
                "server", {"server": {"$gt": after}} if after is not None else {}
            )
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        ordered = sorted(names)
        return ordered if limit is None else ordered[:limit]

    async def expiry(self, event_ids: Sequence[str]) -> datetime | None:
        if not event_ids:
            return None
        spec = {"_id": {"$in": list(event_ids)}, "expireAt": {"$gt": _bson(self.clock())}}
        try:
            found = [d async for d in self.events.find(spec, projection={"expireAt": 1})]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return min((_aware(d["expireAt"]) for d in found), default=None)

    async def received_after(
        self, server: str, after: tuple[int, str] | None, *, user_id: str | None = None, limit: int = 200
    ) -> list[tuple[int, str, dict[str, Any]]]:
        spec: dict[str, Any] = {"server": server, "expireAt": {"$gt": _bson(self.clock())}}
        if user_id is not None:
            spec["userId"] = {"$in": [user_id, None]}
        if after is not None:
            at = _bson(from_ms(after[0]))
            spec["$or"] = [{"receivedAt": {"$gt": at}}, {"receivedAt": at, "_id": {"$gt": after[1]}}]
        try:
            docs = [
                d async for d in self.events.find(spec, sort=[("receivedAt", 1), ("_id", 1)], limit=limit)
            ]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return [(to_ms(_aware(d["receivedAt"])), str(d["_id"]), from_document(d)) for d in docs]

    async def has_server(self, name: str) -> bool:
        try:
            return await self.events.find_one({"server": name}, projection={"_id": 1}) is not None
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def append_audit(self, record: dict[str, Any]) -> None:
        at = audit_ts(record)
        doc = {k: v for k, v in record.items() if k != "id"}
        doc.update(_id=record["id"], at=_bson(at), expireAt=_bson(at + AUDIT_RETENTION))
        from pymongo.errors import DuplicateKeyError

        try:
            await self.audit.insert_one(doc)
        except DuplicateKeyError:
            return
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def audit_page(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidQueryError("limit", f"must be between 1 and {MAX_PAGE}")
        spec: dict[str, Any] = {"expireAt": {"$gt": _bson(self.clock())}}
        if cursor:
            ts_ms, last_id = (await self.cursors()).decode(cursor, AUDIT_CURSOR_SCOPE)
            at = _bson(from_ms(ts_ms))
            spec["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        try:
            docs = [d async for d in self.audit.find(spec, sort=[("at", -1), ("_id", -1)], limit=limit + 1)]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        more = len(docs) > limit
        docs = docs[:limit]
        items = [
            {
                "id": d["_id"],
                **{k: v for k, v in d.items() if k not in ("_id", "expireAt")},
                "at": format_ts(_aware(d["at"])),
            }
            for d in docs
        ]
        next_cursor = None
        if more and docs:
            next_cursor = (await self.cursors()).encode(
                to_ms(_aware(docs[-1]["at"])), docs[-1]["_id"], AUDIT_CURSOR_SCOPE
            )
        return Page(items, next_cursor)
