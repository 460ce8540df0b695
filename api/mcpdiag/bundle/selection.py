"""Which stored events a scope selects, server by server, oldest first; and their file names."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcpdiag.bundle.errors import InvalidScopeError
from mcpdiag.bundle.scope import BundleScope
from mcpdiag.emitters import SEVERITY_RANK
from mcpdiag.store.base import EventQuery, EventStore
from mcpdiag.store.traces import find_trace

RELATED_WINDOW = timedelta(minutes=10)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 80


def member_name(server: str, taken: set[str]) -> str:
    """`events/<server>.jsonl` with the name made safe for every file system, unique within the bundle."""
    stem = _UNSAFE.sub("_", server).strip("._-")[:_MAX_STEM]
    if stem != server or not stem or stem.lower() in taken:
        stem = f"{stem or 'server'}-{hashlib.sha256(server.encode()).hexdigest()[:8]}"
    taken.add(stem.lower())
    return f"events/{stem}.jsonl"


def _parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass(slots=True)
class Selection:
    """The servers to export, the window the bundle really covers, and preloaded events (Debug ID scopes)."""

    servers: list[str]
    since: datetime
    until: datetime
    preloaded: dict[str, list[dict[str, Any]]] | None = None

    async def events(
        self, store: EventStore, scope: BundleScope, server: str
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of `server`, oldest first, without holding them all in memory (except Debug ID ones)."""
        if self.preloaded is not None:
            for doc in self.preloaded.get(server, []):
                yield doc
            return
        async for doc in store.iter(_query(scope, server)):
            yield doc

    async def batches(
        self, store: EventStore, scope: BundleScope, server: str, size: int
    ) -> AsyncIterator[list[str]]:
        """`events` as compact JSON text, up to `size` lines at a time (`EventStore.iter_json_batches`, the
        store's own if it has one)."""
        if self.preloaded is not None:
            docs = self.preloaded.get(server, [])
            for start in range(0, len(docs), size):
                yield [
                    json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                    for doc in docs[start : start + size]
                ]
            return
        async for batch in store.iter_json_batches(_query(scope, server), chunk_size=size):
            yield batch


def _query(scope: BundleScope, server: str) -> EventQuery:
    return EventQuery(
        server=server,
        user_id=scope.user_id,
        min_severity=scope.min_severity,
        since=scope.since,
        until=scope.until,
        oldest_first=True,
    )


async def select(store: EventStore, scope: BundleScope, visible: Sequence[str] | None = None) -> Selection:
    """Plan the export of `scope`; `visible` limits an all-servers scope to what the caller may see."""
    if scope.debug_id is not None:
        return await _debug_selection(store, scope)
    servers = list(scope.servers) or list(visible if visible is not None else await store.list_servers())
    return Selection(sorted(servers), scope.since, scope.until)


def _wanted(doc: dict[str, Any], scope: BundleScope) -> bool:
    if scope.servers and doc.get("server") not in scope.servers:
        return False
    if scope.user_id is not None and doc.get("userId") not in (scope.user_id, None):
        return False
    rank = SEVERITY_RANK.get(str(doc.get("severity")), 0)
    return scope.min_severity is None or rank >= scope.min_severity.rank


async def _debug_selection(store: EventStore, scope: BundleScope) -> Selection:
    """The Debug ID's events plus the related window (same server and user, ±10 min) around them."""
    assert scope.debug_id is not None
    # The trace the support lookup resolves the Debug ID to, whole: never another trace its characters begin.
    match = await find_trace(store, scope.debug_id)
    if match.traces and match.trace_id is None:
        shown = ", ".join(match.candidates)
        count = len(match.traces)
        raise InvalidScopeError("debugId", f"matches {count} traces ({shown}); give more characters")
    traced = [doc for doc in match.events if _wanted(doc, scope)]
    # (server, user) → [first, last]; a server-wide event (user None) widens to every user of the server.
    windows: dict[tuple[str, str | None], list[datetime]] = {}
    for doc in traced:
        key = (str(doc["server"]), scope.user_id or doc.get("userId"))
        ts = _parse_ts(str(doc["ts"]))
        span = windows.setdefault(key, [ts, ts])
        span[0], span[1] = min(span[0], ts), max(span[1], ts)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for (server, user), (first, last) in sorted(windows.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        query = EventQuery(
            server=server,
            user_id=user,
            min_severity=scope.min_severity,
            since=first - RELATED_WINDOW,
            until=last + RELATED_WINDOW + timedelta(milliseconds=1),
            oldest_first=True,
        )
        bucket = found.setdefault(server, {})
        async for doc in store.iter(query):
            bucket[str(doc["id"])] = doc
        for doc in traced:
            if doc["server"] == server:
                bucket[str(doc["id"])] = doc
    preloaded = {
        server: sorted(docs.values(), key=lambda d: (str(d["ts"]), str(d["id"])))
        for server, docs in found.items()
    }
    stamps = [ts for span in windows.values() for ts in span]
    since = min(stamps) - RELATED_WINDOW if stamps else scope.since
    until = max(stamps) + RELATED_WINDOW if stamps else scope.until
    return Selection(sorted(preloaded), since, until, preloaded)
