"""The staff rollups (`mcpdiag.store.fleet`) on every backend: staff problems and users affected read from
them equal a brute-force count over the raw events and the hourly rows' answers, through expiry, kept Debug
IDs, the purge, windows in the past and an older file or database that had none of them."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent, Severity
from mcpdiag.store import EventStore, MongoEventStore, SQLiteEventStore
from mcpdiag.store.fleet import Affected
from mcpdiag.store.rollup import HOUR_MS, Problem, window_hours
from tests.factories import FakeClock, make_event

SERVERS = ("a", "b", "c")
USERS = (None, None, "alice", "bob", "carol", "dave")
CODES = ("MCP_TIMEOUT", "MCP_TOOL_ERROR", "MCP_SERVER_ERROR", "MCP_CONNECTED", "MCP_AUTH_REQUIRED")
TOOL_ERROR = "MCP_TOOL_ERROR"


def ahead_of_real_time(clock: FakeClock) -> None:
    """Set `clock` an hour ahead of the real time: mongomock's TTL monitor deletes by the real time, so a
    fake clock behind it would still see events the monitor has already removed near the retention edge,
    which these tests cross on purpose. Ahead of it, the monitor removes only what the store hides anyway."""
    clock.now = datetime.now(UTC) + timedelta(hours=1)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def random_events(rng: random.Random, end: datetime, days: int, n: int) -> list[DiagnosticEvent]:
    """`n` events over the `days` before `end`: a few servers, users (some server-wide), codes, tools and
    severities, some of them coalesced."""
    events = []
    for _ in range(n):
        ts = end - timedelta(seconds=rng.randrange(days * 86_400))
        coalesced = rng.random() < 0.1
        events.append(
            make_event(
                server=rng.choice(SERVERS),
                code=rng.choice(CODES),
                touchpoint=rng.choice(["connect", "tool_call"]),
                tool=rng.choice([None, "search"]),
                user_id=rng.choice(USERS),
                severity=rng.choice(["warning", "error", "critical", "info"]),
                ts=ts,
                **({"count": 5, "first_ts": ts, "last_ts": ts} if coalesced else {}),
            )
        )
    return events


@dataclass
class Raw:
    """The events a store holds, with the expiry each was given, counted by brute force."""

    store: EventStore
    expiry: dict[str, int]
    events: dict[str, DiagnosticEvent]

    @classmethod
    def of(cls, store: EventStore) -> Raw:
        return cls(store, {}, {})

    async def add(self, events: Sequence[DiagnosticEvent]) -> None:
        await self.store.append(events)
        for event in events:
            if event.id not in self.events:
                self.events[event.id] = event
                self.expiry[event.id] = _ms(self.store.retention.expire_at(event.ts, event.severity))

    def keep(self, ids: Sequence[str], until: datetime, now: datetime) -> None:
        for event_id in ids:
            if self.expiry[event_id] > _ms(now):
                self.expiry[event_id] = max(self.expiry[event_id], _ms(until))

    def purge(self, now: datetime) -> None:
        for event_id in [i for i, ms in self.expiry.items() if ms <= _ms(now)]:
            del self.expiry[event_id], self.events[event_id]

    def visible(
        self, since: datetime, until: datetime, now: datetime, user_id: str | None
    ) -> list[DiagnosticEvent]:
        """The events an hourly rollup row of the window counts: its hours, rows (server, hour,
        fingerprint, user, severity) whose latest expiry has not passed, in `user_id`'s scope."""
        first, last = window_hours(since, until)
        rows: dict[tuple[object, ...], list[DiagnosticEvent]] = {}
        for event in self.events.values():
            hour = _ms(event.ts) // HOUR_MS
            if not first <= hour < last or (user_id is not None and event.user_id not in (None, user_id)):
                continue
            key = (
                event.server,
                hour,
                event.code,
                event.touchpoint,
                event.tool,
                event.user_id,
                event.severity,
            )
            rows.setdefault(key, []).append(event)
        return [
            e for group in rows.values() if max(self.expiry[e.id] for e in group) > _ms(now) for e in group
        ]


def brute_problems(
    events: Sequence[DiagnosticEvent], min_rank: int
) -> dict[tuple[object, ...], tuple[int, int, bool]]:
    """(count, distinct users, server-wide) per fingerprint."""
    found: dict[tuple[object, ...], list[DiagnosticEvent]] = {}
    for event in events:
        if SEVERITY_RANK[event.severity] >= min_rank:
            found.setdefault((event.server, event.code, event.touchpoint.value, event.tool), []).append(event)
    return {
        key: (
            sum(e.count for e in group),
            len({e.user_id for e in group if e.user_id}),
            any(e.user_id is None for e in group),
        )
        for key, group in found.items()
    }


def brute_affected(events: Sequence[DiagnosticEvent], min_rank: int) -> Affected:
    by_server: dict[str, set[str]] = {}
    for event in events:
        if SEVERITY_RANK[event.severity] >= min_rank and event.code != TOOL_ERROR and event.user_id:
            by_server.setdefault(event.server, set()).add(event.user_id)
    return Affected({s: len(u) for s, u in by_server.items()}, len(set().union(*by_server.values())))


def _as_found(problems: Sequence[Problem]) -> dict[tuple[object, ...], tuple[int, int, bool]]:
    return {(p.server, p.code, p.touchpoint, p.tool): (p.count, p.users, p.server_wide) for p in problems}


async def check(raw: Raw, clock: FakeClock, rng: random.Random, *, windows: int = 6) -> None:
    """Random windows (ending now, in the past, reaching past retention): the staff rollups' answers equal
    the hourly rows' (the whole problem) and the brute force; a user's view counts only what they see."""
    store = raw.store
    for _ in range(windows):
        until = clock.now - timedelta(minutes=rng.choice([0, 0, 0, 30, 300, 3000]))
        since = until - timedelta(hours=rng.choice([1, 6, 24, 24 * 7, 24 * 15]), minutes=rng.randrange(60))
        buckets, severity = rng.choice([1, 12, 25, 29]), rng.choice([Severity.WARNING, Severity.ERROR])
        servers = rng.choice([None, ["a"], ["a", "c"]])
        rank = severity.rank

        staff = await store.problems(servers, since, until, min_severity=severity, buckets=buckets)
        hourly = await EventStore.problems(
            store, servers, since, until, min_severity=severity, buckets=buckets
        )
        assert staff == hourly, (since, until, buckets, severity, servers)
        visible = [
            e for e in raw.visible(since, until, clock.now, None) if servers is None or e.server in servers
        ]
        assert _as_found(staff) == brute_problems(visible, rank)
        for problem in staff:
            assert sum(problem.trend) == problem.count

        affected = await store.affected(
            servers, since, until, min_severity=severity, except_codes=(TOOL_ERROR,)
        )
        assert affected == await EventStore.affected(
            store, servers, since, until, min_severity=severity, except_codes=(TOOL_ERROR,)
        )
        assert affected == brute_affected(visible, rank)

        user = rng.choice(["alice", "bob", "zoe"])
        mine = await store.problems(
            servers, since, until, user_id=user, min_severity=severity, buckets=buckets
        )
        seen = [
            e for e in raw.visible(since, until, clock.now, user) if servers is None or e.server in servers
        ]
        assert _as_found(mine) == brute_problems(seen, rank)
        assert all(p.users <= 1 for p in mine)


async def test_staff_reads_equal_a_brute_force_count_through_expiry_keep_and_purge(
    store: EventStore, clock: FakeClock
) -> None:
    """Over 16 days of random events, with re-sent ids, kept Debug IDs, the clock moving past retention
    edges and purges, every staff read equals the brute force and the hourly rows' answer."""
    ahead_of_real_time(clock)
    rng = random.Random(17)
    raw = Raw.of(store)
    events = random_events(rng, clock.now, 16, 900)
    await raw.add(events)
    await raw.add(events[:40])  # re-sent: counted once
    await check(raw, clock, rng)
    kept = [e.id for e in rng.sample(events, 30)]
    until = clock.now + timedelta(days=30)
    await store.keep(kept, until)
    raw.keep(kept, until, clock.now)
    for hours in (5, 30, 24 * 3, 24 * 8):
        clock.advance(hours=hours)
        await raw.add(random_events(rng, clock.now, 1, 120))
        await check(raw, clock, rng)
        await store.purge_expired()
        raw.purge(clock.now)
        await check(raw, clock, rng)


async def test_a_window_ending_before_later_events_counts_only_its_own_users(
    store: EventStore, clock: FakeClock
) -> None:
    """A user whose latest failure is after the window is counted from the hourly rows: in the window only
    if they failed there."""
    t = clock.now - timedelta(hours=10)
    await store.append(
        [
            make_event(server="a", user_id="alice", ts=t),
            make_event(server="a", user_id="alice", ts=t + timedelta(hours=5)),
            make_event(server="a", user_id="bob", ts=t + timedelta(hours=5)),
        ]
    )
    [problem] = await store.problems(None, t, t + timedelta(hours=1))
    assert (problem.count, problem.users) == (1, 1)
    affected = await store.affected(None, t, t + timedelta(hours=1))
    assert affected == Affected({"a": 1}, 1)
    assert await store.affected(None, t, clock.now) == Affected({"a": 2}, 2)


async def test_an_older_store_without_staff_rollups_is_backfilled_from_its_hourly_rows(
    store: EventStore, clock: FakeClock, tmp_path: object
) -> None:
    """A SQLite file or MongoDB database written before the staff rollups (hourly rows only) gains them
    once at `ensure_schema`, answering as before; a second `ensure_schema` changes nothing."""
    ahead_of_real_time(clock)
    rng = random.Random(5)
    raw = Raw.of(store)
    await raw.add(random_events(rng, clock.now, 3, 300))
    if isinstance(store, SQLiteEventStore):
        with sqlite3.connect(store.path) as conn:
            conn.executescript(
                "DROP TABLE hourly_fleet; DROP TABLE hourly_users; "
                "DELETE FROM meta WHERE name = 'fleet_rollup';"
            )
    else:
        assert isinstance(store, MongoEventStore)
        await store.fleet_counts.drop()
        await store.presence.drop()
        await store.meta.delete_one({"_id": "fleet_rollup"})
    await store.ensure_schema()
    await store.ensure_schema()
    await check(raw, clock, rng)
    await raw.add(random_events(rng, clock.now, 1, 50))
    await check(raw, clock, rng)


async def test_a_sqlite_purge_ahead_of_the_clock_leaves_no_staff_row_counting_purged_rows(
    store: EventStore, clock: FakeClock
) -> None:
    """SQLite purges its rollups with its events: after a purge with a cutoff later than the clock, staff
    reads at the clock count only the hourly rows left (MongoDB's rollups expire by their TTL index)."""
    if not isinstance(store, SQLiteEventStore):
        return
    rng = random.Random(11)
    raw = Raw.of(store)
    await raw.add(random_events(rng, clock.now, 9, 600))
    cutoff = clock.now + timedelta(days=2)
    await store.purge_expired(cutoff)
    raw.purge(cutoff)
    await check(raw, clock, rng, windows=10)
