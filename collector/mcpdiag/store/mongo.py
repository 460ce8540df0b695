"""The production backend: MongoDB through pymongo's `AsyncMongoClient`, with a TTL index."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent, Severity, format_ts
from mcpdiag.store.base import (
    AUDIT_CURSOR_SCOPE,
    AUDIT_RETENTION,
    MAX_PAGE,
    Clock,
    CodeStats,
    EventQuery,
    EventStore,
    Page,
    Retention,
    Summary,
    audit_ts,
    from_ms,
    prefix_upper_bound,
    to_ms,
    trace_key,
    utc_now,
)
from mcpdiag.store.cursor import new_cursor_key
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.errors import InvalidQueryError, StoreUnavailableError
from mcpdiag.store.rollup import (
    HOUR_MS,
    HourlyCounts,
    HourlyKey,
    HourlyRow,
    rollup,
    rollup_documents,
    window_hours,
)

_INTERNAL = ("_id", "sev", "receivedAt", "expireAt")
_REPLACE_CONCURRENCY = 64

INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("ttl_expireAt", [("expireAt", 1)], {"expireAfterSeconds": 0}),
    ("server_user_ts", [("server", 1), ("userId", 1), ("ts", -1), ("_id", -1)], {}),
    ("server_ts", [("server", 1), ("ts", -1), ("_id", -1)], {}),
    ("traceId", [("traceId", 1)], {}),
    ("server_received", [("server", 1), ("receivedAt", 1), ("_id", 1)], {}),
]
HOURLY_INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("ttl_expireAt", [("expireAt", 1)], {"expireAfterSeconds": 0}),
    (
        "key",
        [("server", 1), ("hour", 1), ("code", 1), ("touchpoint", 1), ("tool", 1), ("userKey", 1), ("sev", 1)],
        {"unique": True},
    ),
    ("hour", [("hour", 1)], {}),
]
AUDIT_INDEXES: list[tuple[str, list[tuple[str, int]], dict[str, Any]]] = [
    ("ttl_expireAt", [("expireAt", 1)], {"expireAfterSeconds": 0}),
    ("at", [("at", -1), ("_id", -1)], {}),
]


async def _resolved(value: Any) -> Any:
    # pymongo's async API returns coroutines from aggregate()/list_indexes(); mongomock-motor returns cursors.
    return await value if inspect.isawaitable(value) else value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bson(value: datetime) -> datetime:
    # Naive UTC is what BSON stores; pymongo and mongomock both compare it correctly, aware values not.
    return value.astimezone(UTC).replace(tzinfo=None)


def to_document(event: DiagnosticEvent, *, received_at: datetime, retention: Retention) -> dict[str, Any]:
    """The stored document of an event: `_id` = event id, `ts`/`expireAt` as BSON dates."""
    doc = event.to_wire()
    doc["_id"] = doc.pop("id")
    doc["ts"] = _bson(event.ts)
    doc["sev"] = SEVERITY_RANK[event.severity]
    doc["receivedAt"] = _bson(received_at)
    doc["expireAt"] = _bson(retention.expire_at(event.ts, event.severity))
    return doc


def from_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The wire dict of a stored document."""
    wire = {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in _INTERNAL}}
    wire["ts"] = format_ts(_aware(doc["ts"]))
    return wire


def _export_line(doc: dict[str, Any]) -> str:
    """The export line of a stored document: its wire JSON, then `receivedAt` and `expireAt`."""
    line = from_document(doc)
    line["receivedAt"] = format_ts(_aware(doc["receivedAt"]))
    line["expireAt"] = format_ts(_aware(doc["expireAt"]))
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _import_counts(total: int, inserted: int, conflict: Conflict) -> ImportCounts:
    # An id given twice in one batch is stored once: its second copy counts as present (or updated).
    if conflict == "update":
        return ImportCounts(inserted=inserted, updated=total - inserted)
    return ImportCounts(inserted=inserted, present=total - inserted)


def _imported(stored: StoredDocument) -> dict[str, Any]:
    """The MongoDB document of an imported event, with the receive and expiry times it came with."""
    doc: dict[str, Any] = json.loads(stored.doc)
    doc["_id"] = doc.pop("id")
    doc["ts"] = _bson(from_ms(stored.ts_ms))
    doc["sev"] = stored.severity
    doc["receivedAt"] = _bson(from_ms(stored.received_ms))
    doc["expireAt"] = _bson(from_ms(stored.expire_ms))
    return doc


class MongoEventStore(EventStore):
    """`EventStore` on a MongoDB collection (a replica set or sharded cluster in production)."""

    def __init__(
        self,
        client: Any,
        *,
        database: str = "mcpdiag",
        collection: str = "events",
        retention: Retention | None = None,
        clock: Clock = utc_now,
        cursor_key: bytes | None = None,
    ) -> None:
        super().__init__(retention=retention, clock=clock, cursor_key=cursor_key)
        self.client = client
        self.events = client[database][collection]
        self.audit = client[database]["audit"]
        self.meta = client[database]["meta"]
        self.hourly_counts = client[database]["hourly"]

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        retention: Retention | None = None,
        clock: Clock = utc_now,
        cursor_key: bytes | None = None,
    ) -> MongoEventStore:
        """A store on the database named in `url`'s path (default `mcpdiag`)."""
        from pymongo import AsyncMongoClient
        from pymongo.uri_parser import parse_uri

        database = parse_uri(url).get("database") or "mcpdiag"
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=5000, appname="mcpdiag"
        )
        return cls(client, database=database, retention=retention, clock=clock, cursor_key=cursor_key)

    def _filter(self, query: EventQuery, now: datetime, after: tuple[int, str] | None) -> dict[str, Any]:
        clauses: dict[str, Any] = {"expireAt": {"$gt": _bson(now)}}
        if query.server is not None:
            clauses["server"] = query.server
        if query.user_id is not None:
            clauses["userId"] = {"$in": [query.user_id, None]}
        if query.min_severity is not None:
            clauses["sev"] = {"$gte": query.min_severity.rank}
        ts: dict[str, Any] = {}
        if query.since is not None:
            ts["$gte"] = _bson(query.since)
        if query.until is not None:
            ts["$lt"] = _bson(query.until)
        if ts:
            clauses["ts"] = ts
        if query.codes:
            clauses["code"] = {"$in": list(query.codes)}
        if query.touchpoints:
            clauses["touchpoint"] = {"$in": list(query.touchpoints)}
        if query.trace_id is not None:
            clauses["traceId"] = query.trace_id
        if query.tool is not None:
            clauses["tool"] = query.tool
        if after is not None:
            op = "$gt" if query.oldest_first else "$lt"
            at = _bson(from_ms(after[0]))
            clauses["$or"] = [{"ts": {op: at}}, {"ts": at, "_id": {op: after[1]}}]
        return clauses

    def _sort(self, query: EventQuery) -> list[tuple[str, int]]:
        direction = 1 if query.oldest_first else -1
        return [("ts", direction), ("_id", direction)]

    async def _find(
        self, spec: dict[str, Any], sort: list[tuple[str, int]], limit: int
    ) -> list[dict[str, Any]]:
        try:
            return [doc async for doc in self.events.find(spec, sort=sort, limit=limit)]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def ensure_schema(self) -> None:
        try:
            for name, keys, options in INDEXES:
                await self.events.create_index(keys, name=name, **options)
            for name, keys, options in AUDIT_INDEXES:
                await self.audit.create_index(keys, name=name, **options)
            for name, keys, options in HOURLY_INDEXES:
                await self.hourly_counts.create_index(keys, name=name, **options)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def _stored_cursor_key(self) -> bytes:
        try:
            await self.meta.update_one(
                {"_id": "cursor_key"}, {"$setOnInsert": {"value": new_cursor_key()}}, upsert=True
            )
            doc = await self.meta.find_one({"_id": "cursor_key"})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return bytes(doc["value"])

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
        return [
            HourlyRow(
                HourlyKey(
                    d["server"], d["hour"], d["code"], d["touchpoint"], d["tool"], d["userKey"], d["sev"]
                ),
                HourlyCounts(d["n"], d["firstTs"], d["lastTs"], d["lastKey"], to_ms(_aware(d["expireAt"]))),
            )
            for d in docs
        ]

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
            await self.events.update_many(spec, later)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return await self.expiry(event_ids)

    async def expiry(self, event_ids: Sequence[str]) -> datetime | None:
        if not event_ids:
            return None
        spec = {"_id": {"$in": list(event_ids)}, "expireAt": {"$gt": _bson(self.clock())}}
        try:
            found = [d async for d in self.events.find(spec, projection={"expireAt": 1})]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return min((_aware(d["expireAt"]) for d in found), default=None)

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

    async def purge_expired(self, now: datetime | None = None) -> int:
        try:
            result = await self.events.delete_many({"expireAt": {"$lte": _bson(now or self.clock())}})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return int(result.deleted_count)

    async def index_info(self) -> dict[str, dict[str, Any]]:
        """Index name → its specification, as `list_indexes` reports it."""
        try:
            cursor = await _resolved(self.events.list_indexes())
            return {spec["name"]: dict(spec) async for spec in cursor}
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    async def ping(self) -> None:
        await self._find({}, [("_id", 1)], 1)

    async def close(self) -> None:
        result = self.client.close()
        if inspect.isawaitable(result):
            await result


def _unavailable(exc: PyMongoError) -> StoreUnavailableError:
    return StoreUnavailableError(f"MongoDB store: {type(exc).__name__}: {exc}")
