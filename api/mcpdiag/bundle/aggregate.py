"""Bounded aggregates of the exported events: what summary.json and analysis.md are computed from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import le
from typing import Any

from mcpdiag.bundle.insight import Insights
from mcpdiag.emitters import Severity, code_info
from mcpdiag.emitters.codes import LIFECYCLE_CODES, SEVERITY_RANK

_FAILURE_RANK = Severity.WARNING.rank

EventFields = tuple[str, str, str, str, str]
"""What the aggregates read of an event: (server, code, severity, touchpoint, ts), each a string."""
HourKey = tuple[str, str, str, str, str]
"""What events are tallied by: (server, code, severity, touchpoint, the first 13 characters of ts)."""


def event_fields(event: Mapping[str, Any]) -> EventFields:
    """The `EventFields` of a wire event (a missing field is an empty string, any other value its `str`)."""
    get = event.get
    return (
        str(get("server", "")),
        str(get("code", "")),
        str(get("severity", "")),
        str(get("touchpoint", "")),
        str(get("ts", "")),
    )


@dataclass(slots=True)
class Seen:
    """How often a code occurred and its first and last timestamps (RFC 3339 strings sort by time)."""

    count: int = 0
    first: str = ""
    last: str = ""

    def add(self, ts: str) -> None:
        """Count one occurrence at `ts`."""
        self.count += 1
        if not self.first or ts < self.first:
            self.first = ts
        if ts > self.last:
            self.last = ts

    def merge(self, count: int, first: str, last: str) -> None:
        """Count `count` occurrences, the earliest at `first` and the latest at `last` (both non-empty)."""
        self.count += count
        if not self.first or first < self.first:
            self.first = first
        if last > self.last:
            self.last = last

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: count, first_seen, last_seen."""
        return {"count": self.count, "first_seen": self.first, "last_seen": self.last}


@dataclass(slots=True)
class ServerFailures:
    """Failures (warning and worse, lifecycle excluded) of one server, by code and by UTC hour."""

    total: int = 0
    codes: dict[str, Seen] = field(default_factory=dict)
    hours: Counter[str] = field(default_factory=Counter)
    code_hours: Counter[tuple[str, str]] = field(default_factory=Counter)


def hour_key(fields: EventFields) -> HourKey:
    """The `HourKey` of an event's fields."""
    server, code, severity, touchpoint, ts = fields
    return server, code, severity, touchpoint, ts[:13]


def hour_of(ts: str) -> str:
    """The UTC hour bucket of an RFC 3339 UTC timestamp: `2026-11-21T09:00Z`."""
    return ts[:13] + ":00Z"


@dataclass(slots=True)
class BundleStats:
    """Counters over every exported event; memory grows with servers x codes x hours, never with events."""

    total: int = 0
    by_server: Counter[str] = field(default_factory=Counter)
    by_code: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)
    by_touchpoint: Counter[str] = field(default_factory=Counter)
    by_hour: Counter[str] = field(default_factory=Counter)
    seen: dict[str, Seen] = field(default_factory=dict)
    failures: dict[str, ServerFailures] = field(default_factory=dict)
    first_ts: str = ""
    last_ts: str = ""
    insights: Insights = field(default_factory=Insights)
    """Users, quoted details and what came before each failure (`insight`): analysis.md's findings."""
    _pending: dict[HourKey, list[Any]] = field(default_factory=dict, repr=False)
    """Events counted by `add_batch` but not yet folded in: `HourKey` → [count, first ts, last ts]. Bounded
    like the rest (servers x codes x severities x touchpoints x hours)."""

    def add_batch(
        self, keys: Sequence[HourKey], stamps: Sequence[str], lines: Sequence[str] | None = None
    ) -> None:
        """Count events given by their `HourKey` and `ts` (`keys[i]` is the key of the event at `stamps[i]`):
        the same result as `add` on each. With `lines` (the events' sanitized JSON, same order) the
        `insights` read them too.

        Events are tallied by key and folded into the counters by `settle` (which every reader of the
        counters runs first); only `total` is kept current. Events oldest first (a server's, as exported)
        are tallied in C: counted by key, and the first and last time of each key are the first and last
        of its events.
        """
        pending = self._pending
        if len(keys) != len(stamps):
            raise ValueError("one timestamp per key")
        if lines is not None:
            self.insights.add_lines(lines, keys, stamps)
        if stamps and stamps[0] and all(map(le, stamps, islice(stamps, 1, None))):
            latest = dict(zip(keys, stamps, strict=True))
            earliest = dict(zip(reversed(keys), reversed(stamps), strict=True))
            for key, n in Counter(keys).items():
                tally = pending.get(key)
                if tally is None:
                    pending[key] = [n, earliest[key], latest[key]]
                else:
                    tally[0] += n
                    tally[1] = min(tally[1], earliest[key])
                    tally[2] = max(tally[2], latest[key])
            self.total += len(stamps)
            return
        for key, ts in zip(keys, stamps, strict=True):
            if not ts:
                # `Seen` takes an empty first timestamp for unset: keep the exact order of `add` here.
                self.settle()
                self._add((key[0], key[1], key[2], key[3], ts))
                continue
            tally = pending.get(key)
            if tally is None:
                pending[key] = [1, ts, ts]
            else:
                tally[0] += 1
                if ts < tally[1]:
                    tally[1] = ts
                elif ts > tally[2]:
                    tally[2] = ts
            self.total += 1

    def settle(self) -> None:
        """Fold what `add_batch` tallied into the counters."""
        if not self._pending:
            return
        # Emptied in place, after: `add_batch` holds on to the same dict.
        pending = self._pending
        # One pass over the hour keys into plain dicts: the hour counts, and the tallies without the hour
        # (a few per server and code), which the second pass folds into the counters and `Seen`s.
        kinds: dict[tuple[str, str], tuple[str, bool]] = {}
        tallies: dict[tuple[str, str, str, str], list[Any]] = {}
        hours: dict[str, int] = {}
        failing_hours: dict[tuple[str, str], int] = {}
        failing_code_hours: dict[tuple[str, str, str], int] = {}
        for (server, raw_code, severity, touchpoint, prefix), (n, first, last) in pending.items():
            kind = kinds.get((raw_code, severity))
            if kind is None:
                code = code_info(raw_code).code
                failing = SEVERITY_RANK.get(severity, 0) >= _FAILURE_RANK and code not in LIFECYCLE_CODES
                kind = kinds[raw_code, severity] = (code, failing)
            code, failing = kind
            hour = prefix + ":00Z"
            hours[hour] = hours.get(hour, 0) + n
            if failing:
                failing_hours[server, hour] = failing_hours.get((server, hour), 0) + n
                failing_code_hours[server, code, hour] = failing_code_hours.get((server, code, hour), 0) + n
            tally = tallies.get((server, code, severity, touchpoint))
            if tally is None:
                tallies[server, code, severity, touchpoint] = [n, first, last, failing]
            else:
                tally[0] += n
                tally[1] = min(tally[1], first)
                tally[2] = max(tally[2], last)
        pending.clear()
        self.by_hour.update(hours)
        for (server, code, severity, touchpoint), (n, first, last, failing) in tallies.items():
            self.by_server[server] += n
            self.by_code[code] += n
            self.by_severity[severity] += n
            self.by_touchpoint[touchpoint] += n
            seen = self.seen.get(code)
            if seen is None:
                seen = self.seen[code] = Seen()
            seen.merge(n, first, last)
            if not self.first_ts or first < self.first_ts:
                self.first_ts = first
            self.last_ts = max(self.last_ts, last)
            if failing:
                failures = self.failures.get(server)
                if failures is None:
                    failures = self.failures[server] = ServerFailures()
                failures.total += n
                code_seen = failures.codes.get(code)
                if code_seen is None:
                    code_seen = failures.codes[code] = Seen()
                code_seen.merge(n, first, last)
        for (server, hour), n in failing_hours.items():
            self.failures[server].hours[hour] += n
        for (server, code, hour), n in failing_code_hours.items():
            self.failures[server].code_hours[code, hour] += n

    def add(self, event: Mapping[str, Any]) -> None:
        """Count one exported (sanitized) wire event."""
        self.settle()
        self.insights.add_event(event)
        self._add(event_fields(event))

    def _add(self, row: EventFields) -> None:
        server, raw_code, severity, touchpoint, ts = row
        code = code_info(raw_code).code
        hour = hour_of(ts)
        self.total += 1
        self.by_server[server] += 1
        self.by_code[code] += 1
        self.by_severity[severity] += 1
        self.by_touchpoint[touchpoint] += 1
        self.by_hour[hour] += 1
        seen = self.seen.get(code)
        if seen is None:
            seen = self.seen[code] = Seen()
        seen.add(ts)
        if not self.first_ts or ts < self.first_ts:
            self.first_ts = ts
        self.last_ts = max(self.last_ts, ts)
        if SEVERITY_RANK.get(severity, 0) >= _FAILURE_RANK and code not in LIFECYCLE_CODES:
            failures = self.failures.get(server)
            if failures is None:
                failures = self.failures[server] = ServerFailures()
            failures.total += 1
            failures.hours[hour] += 1
            failures.code_hours[code, hour] += 1
            code_seen = failures.codes.get(code)
            if code_seen is None:
                code_seen = failures.codes[code] = Seen()
            code_seen.add(ts)

    def summary(self) -> dict[str, Any]:
        """summary.json: counts by server / code / severity / touchpoint / hour, first and last per code.

        Names, codes and hours are values, never keys (`{"server": "google-oauth", "events": 3}`): as keys,
        a server called `auth` would read as a secret field to the redactor and to the leak scan.
        """
        self.settle()
        return {
            "events": self.total,
            "first_event": self.first_ts or None,
            "last_event": self.last_ts or None,
            "by_server": _rows("server", self.by_server),
            "by_code": _rows("code", self.by_code),
            "by_severity": [
                {"severity": s.value, "events": self.by_severity[s.value]}
                for s in Severity
                if self.by_severity[s.value]
            ],
            "by_touchpoint": _rows("touchpoint", self.by_touchpoint),
            "by_hour": _rows("hour", self.by_hour),
            "codes": [{"code": code, **seen.to_dict()} for code, seen in sorted(self.seen.items())],
            "failures_by_server": [
                {
                    "server": server,
                    "total": f.total,
                    "codes": [{"code": code, **seen.to_dict()} for code, seen in sorted(f.codes.items())],
                }
                for server, f in sorted(self.failures.items())
            ],
        }


def _rows(name: str, counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """`{"a": 2}` as `[{name: "a", "events": 2}]`, sorted by name."""
    return [{name: key, "events": n} for key, n in sorted(counts.items())]
