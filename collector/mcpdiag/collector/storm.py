"""Ingest budgets: a token bucket per server and per ingest key, and the summaries over-budget events become.

When one MCP server goes down for thousands of users, every reconnect of every user fails the same way and
the emitters' own coalescing still leaves a row per user per window. Past its budget — `server_rate` events
a second with bursts of `server_burst`, and the same per ingest key — a server's events are not stored one
by one: they are merged, by fingerprint, into **summary events** written once per merge interval:

- the fingerprint of a failure (warning or worse, lifecycle codes excluded) is its server, code,
  touchpoint, tool and severity — across users, since a storm is everyone's; any other event also keeps
  its user, conversation and run, so a user's own connects never become someone else's;
- the summary is the first merged event — its `id` (a spooled summary replays idempotently), `ts`,
  Debug ID (`traceId`) and detail — with `count` the occurrences of all of them (`count` of each),
  `firstTs`/`lastTs` their first and last occurrence, and its user (conversation, run, attrs,
  messageSafe) only where every merged event agreed on it; otherwise it is server-wide, and
  `attrs["mcpdiag.coalesced_users"]` says how many distinct users it stands for (up to `MAX_USERS`);
- nothing is dropped: every occurrence is counted in the stored summary, in the rollups and in
  `mcpdiag_events_total`; `mcpdiag_events_coalesced_total{server}` counts the events merged away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcpdiag.emitters import DiagnosticEvent, code_info
from mcpdiag.emitters.codes import LIFECYCLE_CODES, SEVERITY_RANK
from mcpdiag.emitters.event import MAX_ATTRS

COALESCED_EVENTS_ATTR = "mcpdiag.coalesced_events"
"""On a summary: how many stored-event candidates it merged."""
COALESCED_USERS_ATTR = "mcpdiag.coalesced_users"
"""On a server-wide summary: distinct users among the merged events (at most `MAX_USERS` are told apart)."""
MAX_USERS = 1000
MAX_BUCKETS = 20_000
_FAILURE_RANK = SEVERITY_RANK["warning"]

Fingerprint = tuple[Any, ...]


class TokenBucket:
    """`rate` tokens a second up to `burst`; `take()` spends one when there is one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, max(1.0, burst)
        self.tokens, self.stamp = self.burst, now

    def take(self, now: float) -> bool:
        """Spend one token if there is one (refilled for the time since the last call)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def full(self, now: float) -> bool:
        """Whether the bucket would be full now (idle long enough to be forgotten)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class Buckets:
    """A token bucket per name, made on first use; bounded by forgetting the full (idle) ones."""

    def __init__(self, rate: float, burst: float, *, limit: int = MAX_BUCKETS) -> None:
        self.rate, self.burst, self.limit = rate, burst, limit
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        """False when the rate is 0 (no budget)."""
        return self.rate > 0

    def take(self, name: str, now: float) -> bool:
        """Spend a token of `name`'s bucket; True when it had one (always, when disabled)."""
        if not self.enabled:
            return True
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= self.limit:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
            bucket = self._buckets[name] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)


class IngestBudget:
    """Decides, event by event, which events of a request are stored as sent and which are merged."""

    def __init__(
        self,
        *,
        server_rate: float,
        server_burst: float,
        key_rate: float,
        key_burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = Buckets(server_rate, server_burst)
        self.keys = Buckets(key_rate, key_burst)
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether any budget applies."""
        return self.servers.enabled or self.keys.enabled

    def split(
        self, events: Sequence[DiagnosticEvent], key_id: str
    ) -> tuple[list[DiagnosticEvent], list[tuple[DiagnosticEvent, str]]]:
        """The events within budget, and the others with the budget they were over (`server` or `key`)."""
        within: list[DiagnosticEvent] = []
        over: list[tuple[DiagnosticEvent, str]] = []
        now = self._clock()
        for event in events:
            if not self.keys.take(key_id, now):
                over.append((event, "key"))
            elif not self.servers.take(event.server, now):
                over.append((event, "server"))
            else:
                within.append(event)
        return within, over


def fingerprint(event: DiagnosticEvent) -> Fingerprint:
    """What over-budget events are merged by (see the module docstring)."""
    failure = SEVERITY_RANK[event.severity] >= _FAILURE_RANK and event.code not in LIFECYCLE_CODES
    who = None if failure else (event.user_id, event.conversation_id, event.run_id)
    return (event.server, event.code, event.touchpoint, event.tool, event.severity, who)


@dataclass(slots=True)
class _Merge:
    first: DiagnosticEvent
    events: int = 1
    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    users: set[str] = field(default_factory=set)
    server_wide: bool = False
    same: dict[str, bool] = field(default_factory=dict)

    def add(self, event: DiagnosticEvent) -> None:
        self.count += event.count
        first = event.first_ts or event.ts
        last = event.last_ts or event.ts
        self.first_at = first if self.first_at is None else min(self.first_at, first)
        self.last_at = last if self.last_at is None else max(self.last_at, last)
        if event.user_id is None:
            self.server_wide = True
        elif len(self.users) < MAX_USERS:
            self.users.add(event.user_id)
        if event is self.first:
            return
        self.events += 1
        for name in _AGREE:
            if self.same[name] and getattr(event, name) != getattr(self.first, name):
                self.same[name] = False

    def summary(self) -> DiagnosticEvent:
        first = self.first
        if self.events == 1:
            return first
        one_user = not self.server_wide and len(self.users) == 1
        update: dict[str, Any] = {
            "count": self.count,
            "first_ts": self.first_at,
            "last_ts": self.last_at,
        }
        if not one_user:
            update.update(user_id=None, conversation_id=None, run_id=None)
        for name in ("conversation_id", "run_id"):
            if not self.same[name]:
                update[name] = None
        if not self.same["message_safe"]:
            update["message_safe"] = code_info(first.code).render(first.server)
        attrs = dict(first.attrs) if one_user and self.same["attrs"] else {}
        notes = {COALESCED_EVENTS_ATTR: self.events}
        if not one_user:
            notes[COALESCED_USERS_ATTR] = len(self.users)
        while attrs and len(attrs) + len(notes) > MAX_ATTRS:
            attrs.pop(next(reversed(attrs)))
        update["attrs"] = {**attrs, **notes}
        return first.model_copy(update=update)


_AGREE = ("conversation_id", "run_id", "message_safe", "attrs")


class Overflow:
    """Over-budget events merged by fingerprint until `take()` turns them into summary events."""

    def __init__(self) -> None:
        self._merges: dict[Fingerprint, _Merge] = {}
        self.events = 0
        """Events merged since the last `take()`."""

    def __len__(self) -> int:
        """The summaries `take()` would give now."""
        return len(self._merges)

    def add(self, events: Iterable[DiagnosticEvent]) -> None:
        """Merge `events` into the summaries of their fingerprints."""
        for event in events:
            key = fingerprint(event)
            merge = self._merges.get(key)
            if merge is None:
                merge = self._merges[key] = _Merge(event, same=dict.fromkeys(_AGREE, True))
            merge.add(event)
            self.events += 1

    def take(self) -> list[tuple[DiagnosticEvent, int]]:
        """The summary event of each fingerprint merged so far (in order of first arrival) and how many
        events it merged; starts over."""
        merges, self._merges, self.events = self._merges, {}, 0
        return [(merge.summary(), merge.events) for merge in merges.values()]
