"""The staff rollups: hourly counts without the user, and each user's latest hour per failure.

The hourly rollup keeps users apart (a user's view counts only what they may see), so in a fleet of many
users almost every event is a row of its own and a staff read of the whole fleet reads about as many rows as
there were events. Beside it both backends keep, in the same write:

* fleet rows: (server, hour, code, touchpoint, tool, severity) -> occurrences, whether any was server-wide,
  first/last seen, the newest event, and the lowest and highest expiry of the user rows they sum;
* presence rows: (server, code, touchpoint, tool, severity, user) -> the latest hour the user ran into it
  (with that hour's expiry, as one sortable `mark`) and the highest expiry of all its hours.

A staff read answers from these and stays exactly what the hourly rows say: a fleet row some of whose user
rows have expired is replaced by those user rows, and a user whose latest hour is past the window or has
expired is looked up in the hourly rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mcpdiag.store.rollup import HourlyCounts, HourlyKey, HourlyRow, Problem, group_problems

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
    rows: Iterable[tuple[FleetKey, FleetCounts]],
    users: Mapping[Group, int],
    since: datetime,
    until: datetime,
    *,
    buckets: int,
    min_rank: int,
) -> list[Problem]:
    """Problems from fleet rows and each fingerprint's distinct users, as `problems_of` finds them from
    the hourly rows."""
    items = (
        (k.server, k.hour, k.code, k.touchpoint, k.tool, k.severity, c.counts, None, c.wide)
        for k, c in rows
        if k.severity >= min_rank
    )
    found = group_problems(items, since, until, buckets=buckets)
    for problem in found:
        problem.users = users.get((problem.server, problem.code, problem.touchpoint, problem.tool or ""), 0)
    return found


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
