"""The staff rollups: hourly counts without the user, and each user's latest hour per failure.

The hourly rollup keeps users apart (a user's view counts only what they may see), so in a fleet of many
users almost every event is a row of its own and a staff read of the whole fleet reads about as many rows as
there were events. Beside it both backends keep, in the same write:

* fleet rows: (server, hour, code, touchpoint, tool, severity) -> occurrences, whether any was server-wide,
  first/last seen, the newest event, and the lowest and highest expiry of the user rows they sum;
* presence rows: (server, code, touchpoint, tool, severity, user) -> the latest hour the user ran into it
  and that hour's expiry (MongoDB keeps the two as one sortable `mark`, which `$max` can update; SQLite as
  two columns), and the highest expiry of all its hours.

A staff read answers from these and stays exactly what the hourly rows say: a fleet row some of whose user
rows may have expired is replaced by those user rows, and when a user's latest hour is past the window or
has expired, the users are counted from the hourly rows. A user's own view still reads the hourly rows of
their own and server-wide events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcpdiag.emitters import Severity
from mcpdiag.store.rollup import (
    HourlyCounts,
    HourlyKey,
    HourlyRow,
    Problem,
    bucket_count,
    bucket_edges,
)

_SEVERITIES = list(Severity)

Group = tuple[str, str, str, str]
"""A problem's fingerprint: (server, code, touchpoint, tool)."""


@dataclass(frozen=True, slots=True)
class FleetKey:
    """What one fleet row counts: a failure fingerprint and severity in one hour, all users together."""

    server: str
    hour: int
    code: str
    touchpoint: str
    tool: str
    severity: int


@dataclass(slots=True)
class FleetCounts:
    """A fleet row's values: the merge of its user rows."""

    counts: HourlyCounts
    """Occurrences, first/last seen, the newest event and (as `expire_ms`) the highest expiry."""
    wide: bool
    """Whether any of its events was server-wide."""
    min_expire_ms: int
    """At most the lowest expiry among its user rows: while now is before it, none of them has expired."""

    def merge(self, other: FleetCounts) -> None:
        """Fold `other` (more user rows of the same key) into this row."""
        self.counts.merge(other.counts)
        self.wide = self.wide or other.wide
        self.min_expire_ms = min(self.min_expire_ms, other.min_expire_ms)


@dataclass(frozen=True, slots=True)
class PresenceKey:
    """One user's failure fingerprint at one severity."""

    server: str
    code: str
    touchpoint: str
    tool: str
    severity: int
    user_key: str


@dataclass(slots=True)
class Presence:
    """A presence row's values."""

    mark: str
    """`presence_mark(latest hour, that hour's expiry)`: the greatest string is the latest hour."""
    expire_ms: int
    """The highest expiry among all the user's hourly rows of this key."""


@dataclass(frozen=True, slots=True)
class Affected:
    """Distinct users with a failure in a window: per server (servers with none are absent), and across the
    fleet (each person once)."""

    by_server: dict[str, int] = field(default_factory=dict)
    total: int = 0


def from_ms(ms: int) -> datetime:
    """The aware UTC time of epoch milliseconds (as the hourly rollup's problems make it)."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def presence_mark(hour: int, expire_ms: int) -> str:
    """The sortable mark of a user's latest hour and its expiry (`hour|expire`, fixed width)."""
    return f"{hour:010d}|{expire_ms:015d}"


def mark_floor(hour: int) -> str:
    """The least mark of `hour`: marks of hours from `hour` on are at least this."""
    return f"{hour:010d}|"


def split_mark(mark: str) -> tuple[int, int]:
    """`(hour, expire_ms)` of a mark."""
    hour, expire = mark.split("|")
    return int(hour), int(expire)


def fleet_rollup(
    rows: Mapping[HourlyKey, HourlyCounts],
) -> tuple[dict[FleetKey, FleetCounts], dict[PresenceKey, Presence]]:
    """The fleet and presence rows of a batch's hourly rows, merged within the batch."""
    fleet: dict[FleetKey, FleetCounts] = {}
    presence: dict[PresenceKey, Presence] = {}
    for k, c in rows.items():
        key = FleetKey(k.server, k.hour, k.code, k.touchpoint, k.tool, k.severity)
        counts = HourlyCounts(c.n, c.first_ms, c.last_ms, c.last_key, c.expire_ms)
        row = FleetCounts(counts, not k.user_key, c.expire_ms)
        if key in fleet:
            fleet[key].merge(row)
        else:
            fleet[key] = row
        if not k.user_key:
            continue
        pkey = PresenceKey(k.server, k.code, k.touchpoint, k.tool, k.severity, k.user_key)
        mark = presence_mark(k.hour, c.expire_ms)
        seen = presence.get(pkey)
        if seen is None:
            presence[pkey] = Presence(mark, c.expire_ms)
        else:
            seen.mark = max(seen.mark, mark)
            seen.expire_ms = max(seen.expire_ms, c.expire_ms)
    return fleet, presence


def hourly_as_fleet(rows: Iterable[HourlyRow]) -> dict[FleetKey, FleetCounts]:
    """Visible user rows merged into fleet rows (what a partly expired fleet row is replaced by)."""
    merged: dict[FleetKey, FleetCounts] = {}
    for row in rows:
        k, c = row.key, row.counts
        key = FleetKey(k.server, k.hour, k.code, k.touchpoint, k.tool, k.severity)
        counts = HourlyCounts(c.n, c.first_ms, c.last_ms, c.last_key, c.expire_ms)
        item = FleetCounts(counts, not k.user_key, c.expire_ms)
        if key in merged:
            merged[key].merge(item)
        else:
            merged[key] = item
    return merged


def fleet_problems_of(
    totals: Iterable[tuple[Group, int, FleetCounts]],
    trend: Iterable[tuple[Group, int, int]],
    users: Mapping[Group, int],
    since: datetime,
    until: datetime,
    *,
    buckets: int,
) -> list[Problem]:
    """Problems, equal to what `problems_of` finds in the hourly rows, from fleet rows already filtered by
    severity: `totals` (fingerprint, severity, counts) in any grouping, `trend` (fingerprint, hour, n) by
    any hours of each bucket, and each fingerprint's distinct users. On plain numbers and strings, times
    made once per problem."""
    first_hour, _, per = bucket_edges(since, until, buckets)
    buckets = bucket_count(since, until, buckets)
    found: dict[Group, list[Any]] = {}
    for group, rank, c in totals:
        counts = c.counts
        acc = found.get(group)
        if acc is None:
            found[group] = [rank, counts.n, c.wide, counts.first_ms, counts.last_ms, counts.last_key]
            continue
        acc[0] = max(acc[0], rank)
        acc[1] += counts.n
        acc[2] = acc[2] or c.wide
        acc[3] = min(acc[3], counts.first_ms)
        acc[4] = max(acc[4], counts.last_ms)
        acc[5] = max(acc[5], counts.last_key)
    trends = {group: [0] * buckets for group in found}
    for group, hour, n in trend:
        slot = (hour - first_hour) // per
        if 0 <= slot < buckets:
            trends[group][slot] += n
    problems = []
    for (server, code, touchpoint, tool), (rank, n, wide, first_ms, last_ms, last_key) in found.items():
        _, trace_id, event_id = last_key.split("|", 2)
        problems.append(
            Problem(
                server=server,
                code=code,
                touchpoint=touchpoint,
                tool=tool or None,
                severity=_SEVERITIES[rank],
                count=n,
                first_seen=from_ms(first_ms),
                last_seen=from_ms(last_ms),
                users=users.get((server, code, touchpoint, tool), 0),
                server_wide=wide,
                latest_trace_id=trace_id,
                latest_event_id=event_id,
                trend=trends[(server, code, touchpoint, tool)],
            )
        )
    return sorted(problems, key=lambda p: (-p.count, -p.last_seen.timestamp(), p.fingerprint))


def affected_of(rows: Sequence[HourlyRow], *, min_rank: int, except_codes: Sequence[str]) -> Affected:
    """`Affected` counted from hourly rows (their user keys), for stores without the staff rollups."""
    by_server: dict[str, set[str]] = {}
    everyone: set[str] = set()
    for row in rows:
        k = row.key
        if k.severity < min_rank or k.code in except_codes:
            continue
        if k.user_key:
            by_server.setdefault(k.server, set()).add(k.user_key)
            everyone.add(k.user_key)
    return Affected({s: len(u) for s, u in by_server.items()}, len(everyone))
