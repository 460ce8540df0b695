"""Hourly rollups: occurrences per server, code, touchpoint, tool, user and severity, kept beside the events.

Problems, trends and the fleet Overview read these instead of the events, so their cost depends on how
many distinct failures there were, not on how often they happened (a storm of a million timeouts is one row
an hour). Both backends write a row's counts in the same transaction or bulk write as the events, only for
events newly stored (a re-sent event id never counts twice), and expire a row with the last event it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent, Severity
from mcpdiag.store.documents import StoredDocument

HOUR_MS = 3_600_000
_SEVERITIES = list(Severity)


@dataclass(frozen=True, slots=True)
class HourlyKey:
    """What one rollup row counts: a failure fingerprint in one hour, for one user (or server-wide)."""

    server: str
    hour: int
    """Hours since the epoch (`ts_ms // HOUR_MS`)."""
    code: str
    touchpoint: str
    tool: str
    """'' when the events name no tool."""
    user_key: str
    """'' for server-wide events."""
    severity: int


@dataclass(slots=True)
class HourlyCounts:
    """A rollup row's values."""

    n: int
    first_ms: int
    last_ms: int
    last_key: str
    """`<ts_ms, 15 digits>|<trace id>|<event id>` of its newest event: the greatest string is the newest."""
    expire_ms: int

    @property
    def row(self) -> tuple[int, int, int, str, int]:
        """The values in the order of the SQLite `hourly` columns after the key."""
        return (self.n, self.first_ms, self.last_ms, self.last_key, self.expire_ms)

    def merge(self, other: HourlyCounts) -> None:
        """Fold `other` (more occurrences of the same key) into this row."""
        self.n += other.n
        self.first_ms = min(self.first_ms, other.first_ms)
        self.last_ms = max(self.last_ms, other.last_ms)
        self.last_key = max(self.last_key, other.last_key)
        self.expire_ms = max(self.expire_ms, other.expire_ms)


def latest_key(ts_ms: int, trace_id: str, event_id: str) -> str:
    """The sortable `last_key` of one event."""
    return f"{ts_ms:015d}|{trace_id}|{event_id}"


def rollup(events: Iterable[tuple[DiagnosticEvent, int]]) -> dict[HourlyKey, HourlyCounts]:
    """The rollup rows of newly stored `(event, expire_ms)` pairs, merged within the batch."""
    rows: dict[HourlyKey, HourlyCounts] = {}
    for event, expire_ms in events:
        ts_ms = int(event.ts.timestamp() * 1000)
        last_ms = int(event.last_ts.timestamp() * 1000) if event.last_ts else ts_ms
        first_ms = int(event.first_ts.timestamp() * 1000) if event.first_ts else ts_ms
        key = HourlyKey(
            event.server,
            ts_ms // HOUR_MS,
            event.code,
            event.touchpoint.value,
            event.tool or "",
            event.user_id or "",
            SEVERITY_RANK[event.severity],
        )
        counts = HourlyCounts(
            event.count,
            min(first_ms, ts_ms),
            max(last_ms, ts_ms),
            latest_key(ts_ms, event.trace_id, event.id),
            expire_ms,
        )
        if key in rows:
            rows[key].merge(counts)
        else:
            rows[key] = counts
    return rows


def rollup_documents(docs: Iterable[StoredDocument]) -> dict[HourlyKey, HourlyCounts]:
    """The rollup rows of newly stored documents (an import), merged within the batch."""
    rows: dict[HourlyKey, HourlyCounts] = {}
    for doc in docs:
        key = HourlyKey(
            doc.server, doc.ts_ms // HOUR_MS, doc.code, doc.touchpoint, doc.tool, doc.user_key, doc.severity
        )
        counts = HourlyCounts(
            doc.n,
            min(doc.first_ms or doc.ts_ms, doc.ts_ms),
            max(doc.last_ms or doc.ts_ms, doc.ts_ms),
            latest_key(doc.ts_ms, doc.trace_id, doc.id),
            doc.expire_ms,
        )
        if key in rows:
            rows[key].merge(counts)
        else:
            rows[key] = counts
    return rows


@dataclass(frozen=True, slots=True)
class HourlyRow:
    """One stored rollup row, as a query returns it."""

    key: HourlyKey
    counts: HourlyCounts


@dataclass(slots=True)
class Problem:
    """Events grouped by fingerprint (server, code, touchpoint, tool) over a window."""

    server: str
    code: str
    touchpoint: str
    tool: str | None
    severity: Severity
    """The highest severity among its events."""
    count: int
    first_seen: datetime
    last_seen: datetime
    users: int
    """Distinct users affected; server-wide events count no user."""
    server_wide: bool
    """Whether any of its events was server-wide (affects everyone)."""
    latest_trace_id: str
    latest_event_id: str
    trend: list[int] = field(default_factory=list)
    """Occurrences per bucket of the window, oldest first."""

    @property
    def fingerprint(self) -> str:
        """A stable name of the problem: `server|code|touchpoint|tool`."""
        return "|".join((self.server, self.code, self.touchpoint, self.tool or ""))


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def bucket_edges(since: datetime, until: datetime, buckets: int) -> tuple[int, int, int]:
    """`(first_hour, end_hour, hours_per_bucket)` covering `[since, until)` in at most `buckets` buckets."""
    first = int(since.timestamp() * 1000) // HOUR_MS
    last = -(-int(until.timestamp() * 1000) // HOUR_MS)
    per = max(1, -(-(last - first) // max(1, buckets)))
    return first, last, per


def bucket_count(since: datetime, until: datetime, buckets: int) -> int:
    """How many buckets of `bucket_edges` the window needs: at most `buckets`, fewer when the hours it
    touches do not fill that many (24 h from half past touch 25 hours: 12 buckets of 3 h need only 9). A
    bucket that would start at or after `until` is never made: a chart does not show hours to come, and
    empty buckets past the window would lower the median spikes are measured against."""
    first, last, per = bucket_edges(since, until, buckets)
    return max(1, -(-(last - first) // per))


Item = tuple[str, int, str, str, str, int, HourlyCounts, str | None, bool]
"""What `group_problems` reads of a row: server, hour, code, touchpoint, tool, severity, its counts, its
user key (None: the caller counts users itself) and whether it counts server-wide events."""


def problems_of(
    rows: Sequence[HourlyRow], since: datetime, until: datetime, *, buckets: int = 12, min_rank: int = 0
) -> list[Problem]:
    """Problems from rollup rows, busiest first (ties: most recent first)."""
    items = (
        (k.server, k.hour, k.code, k.touchpoint, k.tool, k.severity, row.counts, k.user_key, not k.user_key)
        for row in rows
        if (k := row.key).severity >= min_rank
    )
    return group_problems(items, since, until, buckets=buckets)


def group_problems(items: Iterable[Item], since: datetime, until: datetime, *, buckets: int) -> list[Problem]:
    """Problems from rows of either rollup, busiest first (ties: most recent first); users are counted
    from the items' user keys (a user key of None counts none)."""
    first_hour, _, per = bucket_edges(since, until, buckets)
    buckets = bucket_count(since, until, buckets)
    found: dict[tuple[str, str, str, str], Problem] = {}
    users: dict[tuple[str, str, str, str], set[str]] = {}
    latest: dict[tuple[str, str, str, str], str] = {}
    for server, hour, code, touchpoint, tool, severity, c, user_key, wide in items:
        group = (server, code, touchpoint, tool)
        problem = found.get(group)
        if problem is None:
            problem = found[group] = Problem(
                server=server,
                code=code,
                touchpoint=touchpoint,
                tool=tool or None,
                severity=_SEVERITIES[severity],
                count=0,
                first_seen=_at(c.first_ms),
                last_seen=_at(c.last_ms),
                users=0,
                server_wide=False,
                latest_trace_id="",
                latest_event_id="",
                trend=[0] * buckets,
            )
            users[group] = set()
            latest[group] = ""
        problem.count += c.n
        problem.first_seen = min(problem.first_seen, _at(c.first_ms))
        problem.last_seen = max(problem.last_seen, _at(c.last_ms))
        problem.severity = max(problem.severity, _SEVERITIES[severity], key=lambda s: s.rank)
        if user_key:
            users[group].add(user_key)
        problem.server_wide = problem.server_wide or wide
        latest[group] = max(latest[group], c.last_key)
        slot = (hour - first_hour) // per
        if 0 <= slot < buckets:
            problem.trend[slot] += c.n
    for group, problem in found.items():
        problem.users = len(users[group])
        _, problem.latest_trace_id, problem.latest_event_id = latest[group].split("|", 2)
    return sorted(found.values(), key=lambda p: (-p.count, -p.last_seen.timestamp(), p.fingerprint))


def timeline_of(
    rows: Sequence[HourlyRow], since: datetime, until: datetime, *, buckets: int
) -> dict[str, dict[str, list[int]]]:
    """Occurrences per server, per severity, per bucket of `[since, until)`."""
    first_hour, _, per = bucket_edges(since, until, buckets)
    buckets = bucket_count(since, until, buckets)
    series: dict[str, dict[str, list[int]]] = {}
    for row in rows:
        slot = (row.key.hour - first_hour) // per
        if not 0 <= slot < buckets:
            continue
        by_severity = series.setdefault(row.key.server, {})
        counts = by_severity.setdefault(_SEVERITIES[row.key.severity].value, [0] * buckets)
        counts[slot] += row.counts.n
    return series


def bucket_starts(since: datetime, until: datetime, buckets: int) -> list[datetime]:
    """The start of each bucket `timeline_of` and `problems_of` count into."""
    first_hour, _, per = bucket_edges(since, until, buckets)
    return [_at((first_hour + i * per) * HOUR_MS) for i in range(bucket_count(since, until, buckets))]


def window_hours(since: datetime, until: datetime) -> tuple[int, int]:
    """The hour numbers `[first, last)` a rollup query over `[since, until)` reads."""
    first, last, _ = bucket_edges(since, until, 1)
    return first, last


def span_of(buckets: int, since: datetime, until: datetime) -> timedelta:
    """How long one bucket is."""
    return timedelta(hours=bucket_edges(since, until, buckets)[2])
