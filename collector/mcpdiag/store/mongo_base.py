"""The MongoDB backend's plumbing: documents, indexes, the client and the filters queries build on."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from typing import Any, Self

from pymongo.errors import PyMongoError

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent, format_ts
from mcpdiag.store.base import (
    Clock,
    EventQuery,
    EventStore,
    Retention,
    from_ms,
    utc_now,
)
from mcpdiag.store.cursor import new_cursor_key
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.errors import StoreUnavailableError

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


def _unavailable(exc: PyMongoError) -> StoreUnavailableError:
    return StoreUnavailableError(f"MongoDB store: {type(exc).__name__}: {exc}")


class MongoBase(EventStore):
    """`EventStore` on MongoDB: the client, the collections, their indexes and the shared query pieces."""

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
    ) -> Self:
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
