"""The production backend: MongoDB through pymongo's `AsyncMongoClient`, with a TTL index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store.base import (
    EventQuery,
    Page,
    from_ms,
    prefix_upper_bound,
    to_ms,
    trace_key,
)
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.mongo_base import (
    _REPLACE_CONCURRENCY,
    _aware,
    _bson,
    _export_line,
    _import_counts,
    _imported,
    _unavailable,
    from_document,
    to_document,
)
from mcpdiag.store.mongo_reads import MongoReads
from mcpdiag.store.rollup import HOUR_MS, HourlyCounts, HourlyKey, rollup, rollup_documents


class MongoEventStore(MongoReads):
    """`EventStore` on a MongoDB collection (a replica set or sharded cluster in production)."""

    async def append(self, events: Sequence[DiagnosticEvent]) -> int:
        if not events:
            return 0
        from pymongo.errors import BulkWriteError

        received = self.clock()
        docs = [to_document(ev, received_at=received, retention=self.retention) for ev in events]
        duplicates: set[int] = set()
        try:
            await self.events.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != 11000 for err in errors):
                raise _unavailable(exc) from exc
            # Duplicate ids are re-sent events: already stored, so skipping them is the idempotent outcome.
            duplicates = {int(err["index"]) for err in errors}
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        fresh = [
            (ev, to_ms(self.retention.expire_at(ev.ts, ev.severity)))
            for i, ev in enumerate(events)
            if i not in duplicates
        ]
        # After the events: a failure here leaves counts short, never counted twice on a replay.
        await self._count_hourly(fresh)
        return len(fresh)

    async def _count_hourly(self, fresh: Sequence[tuple[DiagnosticEvent, int]]) -> None:
        await self._count_rollups(rollup(fresh))

    async def _count_rollups(self, rows: dict[HourlyKey, HourlyCounts]) -> None:
        updates = [
            (
                {
                    "server": k.server,
                    "hour": k.hour,
                    "code": k.code,
                    "touchpoint": k.touchpoint,
                    "tool": k.tool,
                    "userKey": k.user_key,
                    "sev": k.severity,
                },
                {
                    "$inc": {"n": c.n},
                    "$min": {"firstTs": c.first_ms},
                    "$max": {
                        "lastTs": c.last_ms,
                        "lastKey": c.last_key,
                        "expireAt": _bson(from_ms(c.expire_ms)),
                    },
                },
            )
            for k, c in rows.items()
        ]
        if not updates:
            return
        from pymongo import UpdateOne

        try:
            try:
                await self.hourly_counts.bulk_write(
                    [UpdateOne(spec, change, upsert=True) for spec, change in updates], ordered=False
                )
            except TypeError:  # mongomock's bulk API predates pymongo's UpdateOne(sort=): one by one there
                for spec, change in updates:
                    await self.hourly_counts.update_one(spec, change, upsert=True)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        await self._count_fleet(rows)

    async def page(self, query: EventQuery) -> Page:
        query = query.checked()
        fingerprint = query.fingerprint()
        cursors = await self.cursors()
        after = cursors.decode(query.cursor, fingerprint) if query.cursor else None
        docs = await self._find(self._filter(query, self.clock(), after), self._sort(query), query.limit + 1)
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        cursor = None
        if more and docs:
            cursor = cursors.encode(to_ms(_aware(docs[-1]["ts"])), docs[-1]["_id"], fingerprint)
        return Page([from_document(doc) for doc in docs], cursor)

    async def iter(self, query: EventQuery, *, chunk_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        query = query.checked(paged=False)
        now = self.clock()
        after: tuple[int, str] | None = None
        while True:
            docs = await self._find(self._filter(query, now, after), self._sort(query), chunk_size)
            for doc in docs:
                yield from_document(doc)
            if len(docs) < chunk_size:
                return
            after = (to_ms(_aware(docs[-1]["ts"])), docs[-1]["_id"])

    async def count(self, query: EventQuery) -> int:
        try:
            return int(
                await self.events.count_documents(
                    self._filter(query.checked(paged=False), self.clock(), None)
                )
            )
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def iter_export_lines(
        self, query: EventQuery, *, chunk_size: int = 1000
    ) -> AsyncIterator[list[str]]:
        query = query.checked(paged=False)
        now = self.clock()
        after: tuple[int, str] | None = None
        while True:
            docs = await self._find(self._filter(query, now, after), self._sort(query), chunk_size)
            if docs:
                yield [_export_line(doc) for doc in docs]
            if len(docs) < chunk_size:
                return
            after = (to_ms(_aware(docs[-1]["ts"])), docs[-1]["_id"])

    async def import_documents(
        self, docs: Sequence[StoredDocument], *, conflict: Conflict = "skip", dry_run: bool = False
    ) -> ImportCounts:
        if not docs:
            return ImportCounts()
        from pymongo.errors import BulkWriteError

        unique = list({doc.id: None for doc in docs})
        try:
            new_ids: set[str] = set(unique)
            fresh: list[StoredDocument] = []
            if dry_run or conflict == "update":
                found = [
                    d["_id"] async for d in self.events.find({"_id": {"$in": unique}}, projection={"_id": 1})
                ]
                new_ids -= set(found)
                inserted = len(unique) - len(found)
            if dry_run:
                return _import_counts(len(docs), inserted, conflict)
            if conflict == "update":
                # One replace per id (the last copy of an id given twice), a bounded number at a time; not
                # bulk_write(ReplaceOne): mongomock, which the conformance suite runs on, cannot take it.
                latest = list({doc.id: doc for doc in docs}.values())
                for start in range(0, len(latest), _REPLACE_CONCURRENCY):
                    group = latest[start : start + _REPLACE_CONCURRENCY]
                    await asyncio.gather(
                        *(self.events.replace_one({"_id": d.id}, _imported(d), upsert=True) for d in group)
                    )
            else:
                try:
                    await self.events.insert_many([_imported(doc) for doc in docs], ordered=False)
                    duplicates: set[int] = set()
                except BulkWriteError as exc:
                    if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                        raise
                    duplicates = {int(err["index"]) for err in exc.details.get("writeErrors", [])}
                fresh = [doc for i, doc in enumerate(docs) if i not in duplicates]
                inserted = len(fresh)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        if conflict == "update":
            fresh = [doc for doc in {d.id: d for d in docs}.values() if doc.id in new_ids]
        await self._count_rollups(rollup_documents(fresh))
        return _import_counts(len(docs), inserted, conflict)

    async def by_trace(self, key: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        event_id, prefix = trace_key(key)
        alternatives: list[dict[str, Any]] = [{"_id": event_id}]
        if prefix is not None:
            alternatives.append({"traceId": {"$gte": prefix, "$lt": prefix_upper_bound(prefix)}})
        spec = {"$or": alternatives, "expireAt": {"$gt": _bson(self.clock())}}
        docs = await self._find(spec, [("ts", 1), ("_id", 1)], limit)
        return [from_document(doc) for doc in docs]

    async def keep(self, event_ids: Sequence[str], until: datetime) -> datetime | None:
        if not event_ids:
            return None
        spec = {"_id": {"$in": list(event_ids)}, "expireAt": {"$gt": _bson(self.clock())}}
        later = {"$max": {"expireAt": _bson(until)}}
        fields = ("server", "ts", "code", "touchpoint", "tool", "userId", "sev")
        try:
            # The rollup rows first: a failure in between leaves events to expire, never a row without them.
            docs = [d async for d in self.events.find(spec, projection=dict.fromkeys(fields, 1))]
            keys = {
                (d["server"], to_ms(_aware(d["ts"])) // HOUR_MS, d["code"], d["touchpoint"],
                 d.get("tool") or "", d.get("userId") or "", d["sev"])
                for d in docs
            }  # fmt: skip
            for server, hour, code, touchpoint, tool, user_key, sev in keys:
                key = {"server": server, "hour": hour, "code": code, "touchpoint": touchpoint, "tool": tool,
                       "userKey": user_key, "sev": sev}  # fmt: skip
                await self.hourly_counts.update_one(key, later)
            await self._keep_fleet(docs, until)
            await self.events.update_many(spec, later)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return await self.expiry(event_ids)

    async def purge_expired(self, now: datetime | None = None) -> int:
        try:
            result = await self.events.delete_many({"expireAt": {"$lte": _bson(now or self.clock())}})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return int(result.deleted_count)
