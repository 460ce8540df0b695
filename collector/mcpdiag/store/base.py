"""The `EventStore` interface every backend implements, and the query types it speaks."""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mcpdiag.emitters import DiagnosticEvent, Severity
from mcpdiag.store.cursor import CursorCodec
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.errors import InvalidQueryError
from mcpdiag.store.fleet import Affected, affected_of
from mcpdiag.store.rollup import HourlyRow, Problem, problems_of, timeline_of

MAX_PAGE = 200
MIN_PREFIX = 8
AUDIT_RETENTION = timedelta(days=90)
"""How long audit records (Debug ID lookups, bundle exports) are kept."""
AUDIT_CURSOR_SCOPE = "audit"
"""The fingerprint audit cursors are bound to (they resume only an audit listing)."""
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_ms(value: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime."""
    return int(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long events are kept, by severity (defaults: 14 days for error/critical, 7 otherwise)."""

    error: timedelta = timedelta(days=14)
    default: timedelta = timedelta(days=7)

    def expire_at(self, ts: datetime, severity: Severity) -> datetime:
        """When an event of `severity` that happened at `ts` expires."""
        return ts + (self.error if severity.rank >= Severity.ERROR.rank else self.default)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events to list. `user_id` set = that user's events plus server-wide ones; None = everyone's."""

    server: str | None = None
    user_id: str | None = None
    min_severity: Severity | None = None
    since: datetime | None = None
    """Inclusive lower bound on `ts`."""
    until: datetime | None = None
    """Exclusive upper bound on `ts`."""
    codes: tuple[str, ...] = ()
    touchpoints: tuple[str, ...] = ()
    trace_id: str | None = None
    tool: str | None = None
    """Only events of calls to this tool (None: any event)."""
    limit: int = 50
    cursor: str | None = None
    oldest_first: bool = False

    def checked(self, *, paged: bool = True) -> EventQuery:
        """This query, after checking its bounds; raises `InvalidQueryError` naming the field."""
        if not self.server:
            raise InvalidQueryError("server", "a listing covers one server")
        if paged and not 1 <= self.limit <= MAX_PAGE:
            raise InvalidQueryError("limit", f"must be between 1 and {MAX_PAGE}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidQueryError(name, "must carry a timezone")
        if self.since and self.until and self.since >= self.until:
            raise InvalidQueryError("from", "must be earlier than to")
        return self

    def fingerprint(self) -> str:
        """A short hash of the filters (not the position), so a cursor only resumes its own query."""
        filters = {k: v for k, v in asdict(self).items() if k not in ("limit", "cursor")}
        blob = json.dumps(filters, default=str, sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of events (wire dicts, camelCase) and the cursor of the next page, if any."""

    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(slots=True)
class CodeStats:
    """Occurrences of one code in a summary window."""

    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(slots=True)
class Summary:
    """Counts for one server over a window: the server card's badge."""

    server: str
    since: datetime
    total: int = 0
    error_count: int = 0
    failures: int = 0
    """Occurrences that are failures of the server (`counts_as_failure`: what the card counts)."""
    by_code: dict[str, CodeStats] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, Any] | None = None


def trace_key(key: str) -> tuple[str, str | None]:
    """Split a Debug ID lookup key into `(event_id_candidate, hex_prefix_or_None)`.

    Accepts a full 32-hex trace id, an event id, or a hex prefix of at least 8 characters.
    """
    key = key.strip()
    lowered = key.lower()
    is_hex = bool(lowered) and all(c in "0123456789abcdef" for c in lowered)
    if not _EVENT_ID.fullmatch(key) or (is_hex and len(key) < MIN_PREFIX):
        raise InvalidQueryError(
            "debugId", f"must be a trace id, an event id or a hex prefix of at least {MIN_PREFIX} characters"
        )
    return key, lowered if is_hex and len(lowered) <= 32 else None


def audit_ts(record: dict[str, Any]) -> datetime:
    """The aware time of an audit record's `at` (RFC 3339); `InvalidQueryError` if it has none."""
    at = record.get("at")
    try:
        value = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not isinstance(record.get("id"), str):
        raise InvalidQueryError("audit", "a record needs a string id and an RFC 3339 `at` with an offset")
    return value


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with the hex `prefix`."""
    return prefix + "g"


class EventStore(ABC):
    """Async storage for diagnostic events with retention; SQLite and MongoDB implement it."""

    def __init__(
        self, *, retention: Retention | None = None, clock: Clock = utc_now, cursor_key: bytes | None = None
    ) -> None:
        self.retention = retention or Retention()
        self.clock = clock
        self._cursor_key = cursor_key
        self._cursors: CursorCodec | None = None

    async def cursors(self) -> CursorCodec:
        """The codec of this deployment's cursors: the configured key, else the one the store keeps."""
        if self._cursors is None:
            self._cursors = CursorCodec(self._cursor_key or await self._stored_cursor_key())
        return self._cursors

    # Not abstract, so test doubles that delegate their listings still instantiate.
    async def _stored_cursor_key(self) -> bytes:
        """The random cursor key kept in the store, created by the first process that asks."""
        raise NotImplementedError(f"{type(self).__name__} keeps no cursor key")

    @abstractmethod
    async def ensure_schema(self) -> None:
        """Create tables/collections and indexes if missing (idempotent)."""

    @abstractmethod
    async def append(self, events: Sequence[DiagnosticEvent]) -> int:
        """Store events; an id already stored is skipped. Returns how many were newly stored."""

    @abstractmethod
    async def page(self, query: EventQuery) -> Page:
        """One page of one server's events, newest first, resuming after `query.cursor`."""

    @abstractmethod
    def iter(self, query: EventQuery, *, chunk_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every event of the query (any number of them) without loading them all into memory."""

    # Not abstract: every store (test doubles included) gets this from `iter`; SQLite overrides it to hand
    # out its stored documents without parsing them.
    async def iter_json_batches(
        self, query: EventQuery, *, chunk_size: int = 1000
    ) -> AsyncIterator[list[str]]:
        """`iter`, each event as its wire dict's compact JSON text (one line, no newline), same order, in
        lists of up to `chunk_size` lines (none empty): one step of the caller's loop per chunk.

        For readers that mostly pass events through (the support bundle): a backend that stores JSON yields
        it as stored, which equals `json.loads` of it re-encoded up to formatting (number spelling).
        """
        batch: list[str] = []
        async for doc in self.iter(query, chunk_size=chunk_size):
            batch.append(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
            if len(batch) >= chunk_size:
                yield batch
                batch = []
        if batch:
            yield batch

    # Not abstract, like the audit log below: test doubles and older stores still instantiate.
    async def count(self, query: EventQuery) -> int:
        """How many visible events of one server match `query` (its limit and cursor are ignored)."""
        raise NotImplementedError(f"{type(self).__name__} does not count events")

    def iter_export_lines(self, query: EventQuery, *, chunk_size: int = 1000) -> AsyncIterator[list[str]]:
        """`iter_json_batches`, each line the wire JSON with the stored `receivedAt` and `expireAt` (RFC
        3339) added as its last two keys: what an export file holds, one event per line."""
        raise NotImplementedError(f"{type(self).__name__} does not export events")

    async def import_documents(
        self, docs: Sequence[StoredDocument], *, conflict: Conflict = "skip", dry_run: bool = False
    ) -> ImportCounts:
        """Store already validated documents with their own `receivedAt`/`expireAt` (an import).

        An id already stored is kept (`conflict="skip"`, counted as present) or replaced (`"update"`); a
        dry run only counts what would happen. Idempotent: running it again stores nothing twice.
        """
        raise NotImplementedError(f"{type(self).__name__} does not import events")

    @abstractmethod
    async def by_trace(self, key: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """Events whose trace id equals or starts with `key`, or whose id is `key`; oldest first."""

    @abstractmethod
    async def last_events(
        self,
        servers: Sequence[str],
        *,
        user_id: str | None = None,
        touchpoints: Sequence[str] = (),
        codes: Sequence[str] = (),
        min_severity: Severity | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The latest visible event per server matching the filters (servers without one are absent)."""

    @abstractmethod
    async def summary(self, server: str, since: datetime, *, user_id: str | None = None) -> Summary:
        """Counts by code and severity for `server` since `since`, and its last error."""

    async def summaries(
        self, servers: Sequence[str], since: datetime, *, user_id: str | None = None
    ) -> dict[str, Summary]:
        """`summary` of each of `servers` (backends answer it in one query; this default asks one by one)."""
        return {server: await self.summary(server, since, user_id=user_id) for server in servers}

    async def received_after(
        self, server: str, after: tuple[int, str] | None, *, user_id: str | None = None, limit: int = 200
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """`(received_ms, id, wire dict)` of `server`'s events stored after position `after` (receipt
        time, then id), oldest first, in `user_id`'s scope: what a live stream sends next."""
        raise NotImplementedError(f"{type(self).__name__} keeps no receipt order")

    async def hourly(
        self,
        since: datetime,
        until: datetime,
        *,
        servers: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> list[HourlyRow]:
        """Rollup rows of the hours `[since, until)` touches, of `servers` (None = all), in `user_id`'s
        scope (their own and server-wide rows; None = everyone's)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no rollups")

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
        """Failures grouped by fingerprint (server, code, touchpoint, tool), busiest first, with a trend."""
        rows = await self.hourly(since, until, servers=servers, user_id=user_id)
        return problems_of(rows, since, until, buckets=buckets, min_rank=min_severity.rank)

    async def affected(
        self,
        servers: Sequence[str] | None,
        since: datetime,
        until: datetime,
        *,
        min_severity: Severity = Severity.WARNING,
        except_codes: Sequence[str] = (),
    ) -> Affected:
        """Distinct users with an event of at least `min_severity` (none of `except_codes`) in the hours
        `[since, until)` touches, per server of `servers` (None = all) and across them, each person once:
        a staff count (server-wide events count no user)."""
        rows = await self.hourly(since, until, servers=servers)
        return affected_of(rows, min_rank=min_severity.rank, except_codes=except_codes)

    async def timeline(
        self,
        servers: Sequence[str] | None,
        since: datetime,
        until: datetime,
        *,
        user_id: str | None = None,
        buckets: int = 24,
    ) -> dict[str, dict[str, list[int]]]:
        """Occurrences per server, per severity, in `buckets` equal slices of the window (hours at least)."""
        rows = await self.hourly(since, until, servers=servers, user_id=user_id)
        return timeline_of(rows, since, until, buckets=buckets)

    # Not abstract, like the rollups above: test doubles and older stores still instantiate.
    async def keep(self, event_ids: Sequence[str], until: datetime) -> datetime | None:
        """Keep the stored events `event_ids` (and the hourly rollup rows that count them) at least until
        `until`: an expiry only ever rises. The earliest expiry among them afterwards (what "kept until" may
        promise for all of them); None when none of them is stored and unexpired."""
        raise NotImplementedError(f"{type(self).__name__} cannot keep events")

    async def expiry(self, event_ids: Sequence[str]) -> datetime | None:
        """The earliest expiry among the stored, unexpired events `event_ids`; None when there is none."""
        raise NotImplementedError(f"{type(self).__name__} cannot tell expiries")

    @abstractmethod
    async def list_servers(self, *, after: str | None = None, limit: int | None = None) -> list[str]:
        """Names of servers with stored events, sorted; only those after `after`, at most `limit` of them."""

    async def has_server(self, name: str) -> bool:
        """Whether `name` has stored events (backends look it up; this default lists them)."""
        return name in await self.list_servers()

    # Not abstract, so stores written before the audit log existed (and test doubles) still instantiate.
    async def append_audit(self, record: dict[str, Any]) -> None:
        """Store one audit record (`id`, `at`, `actor`, `action`, ...), kept for `AUDIT_RETENTION`."""
        raise NotImplementedError(f"{type(self).__name__} keeps no audit log")

    async def audit_page(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """One page of audit records, newest first, resuming after `cursor`."""
        raise NotImplementedError(f"{type(self).__name__} keeps no audit log")

    @abstractmethod
    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete events whose retention has passed; returns how many were deleted."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise `StoreUnavailableError` unless the store answers."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""
