"""Bounded aggregates of the exported events: what summary.json and analysis.md are computed from.

Everything that counts, counts occurrences: an event that stands for `count` coalesced repeats counts as
`count`, first seen at its `firstTs` and last at its `lastTs`; only `total` counts the events themselves
(the lines of the bundle).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import le
from typing import Any

from mcpdiag.bundle.insight import Insights
from mcpdiag.emitters import Severity, code_info
from mcpdiag.emitters.codes import TOOL_ERROR, counts_as_failure

EventFields = tuple[str, str, str, str, str]
"""What the aggregates read of an event: (server, code, severity, touchpoint, ts), each a string."""
HourKey = tuple[str, str, str, str, str]
"""What events are tallied by: (server, code, severity, touchpoint, the first 13 characters of ts)."""


Span = tuple[str, str]
"""When an event's occurrences happened: (first, last), RFC 3339 strings (`firstTs`, `lastTs`, else `ts`)."""


def occurrences(event: Mapping[str, Any]) -> tuple[int, Span | None]:
    """The occurrences a wire event stands for and their span (None: just its `ts`)."""
    count = event.get("count", 1)
    if type(count) is not int or count < 1:
        count = 1
    first, last = event.get("firstTs"), event.get("lastTs")
    if count > 1 and isinstance(first, str) and isinstance(last, str) and first and last:
        return count, (first, last)
    return count, None


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

    def add(self, ts: str, count: int = 1, span: Span | None = None) -> None:
        """Count `count` occurrences at `ts` (from `span[0]` to `span[1]` when given)."""
        self.count += count
        first, last = span or (ts, ts)
        if not self.first or first < self.first:
            self.first = first
        if last > self.last:
            self.last = last

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
    """Failures (`counts_as_failure`) of one server, by code and by UTC hour."""

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
    """Events (the bundle's lines); every other counter counts occurrences."""
    occurrences: int = 0
    events_by_server: Counter[str] = field(default_factory=Counter)
    """Events (lines) per server."""
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
        self,
        keys: Sequence[HourKey],
        stamps: Sequence[str],
        lines: Sequence[str] | None = None,
        *,
        counts: Sequence[int] | None = None,
        spans: Sequence[Span | None] | None = None,
    ) -> None:
        """Count events given by their `HourKey` and `ts` (`keys[i]` is the key of the event at `stamps[i]`),
        each standing for `counts[i]` occurrences over `spans[i]` (default: one, at its `ts`): the same
        result as `add` on each. With `lines` (the events' sanitized JSON, same order) the `insights` read
        them too.

        Events are tallied by key and folded into the counters by `settle` (which every reader of the
        counters runs first); only `total` and `occurrences` are kept current. Events oldest first (a
        server's, as exported) and each one occurrence are tallied in C: counted by key, and the first and
        last time of each key are the first and last of its events.
        """
        pending = self._pending
        if len(keys) != len(stamps) or (counts is not None and len(counts) != len(stamps)):
            raise ValueError("one timestamp and one count per key")
        if lines is not None:
            self.insights.add_lines(lines, keys, stamps)
        for key in keys:
            self.events_by_server[key[0]] += 1
        single = counts is None or all(n == 1 for n in counts)
        if single and stamps and stamps[0] and all(map(le, stamps, islice(stamps, 1, None))):
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
            self.occurrences += len(stamps)
            return
        for i, (key, ts) in enumerate(zip(keys, stamps, strict=True)):
            n = 1 if counts is None else counts[i]
            span = None if spans is None else spans[i]
            if not ts:
                # `Seen` takes an empty first timestamp for unset: keep the exact order of `add` here.
                self.settle()
                self._add((key[0], key[1], key[2], key[3], ts), n, span)
                continue
            first, last = span or (ts, ts)
            tally = pending.get(key)
            if tally is None:
                pending[key] = [n, first, last]
            else:
                tally[0] += n
                if first < tally[1]:
                    tally[1] = first
                if last > tally[2]:
                    tally[2] = last
            self.total += 1
            self.occurrences += n

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
                failing = counts_as_failure(code, severity)
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
        """Count one exported (sanitized) wire event, as the occurrences it stands for."""
        self.settle()
        self.insights.add_event(event)
        row = event_fields(event)
        self.events_by_server[row[0]] += 1
        self._add(row, *occurrences(event))

    def _add(self, row: EventFields, n: int = 1, span: Span | None = None) -> None:
        server, raw_code, severity, touchpoint, ts = row
        code = code_info(raw_code).code
        hour = hour_of(ts)
        first, last = span or (ts, ts)
        self.total += 1
        self.occurrences += n
        self.by_server[server] += n
        self.by_code[code] += n
        self.by_severity[severity] += n
        self.by_touchpoint[touchpoint] += n
        self.by_hour[hour] += n
        seen = self.seen.get(code)
        if seen is None:
            seen = self.seen[code] = Seen()
        seen.add(ts, n, span)
        if not self.first_ts or first < self.first_ts:
            self.first_ts = first
        self.last_ts = max(self.last_ts, last)
        if counts_as_failure(code, severity):
            failures = self.failures.get(server)
            if failures is None:
                failures = self.failures[server] = ServerFailures()
            failures.total += n
            failures.hours[hour] += n
            failures.code_hours[code, hour] += n
            code_seen = failures.codes.get(code)
            if code_seen is None:
                code_seen = failures.codes[code] = Seen()
            code_seen.add(ts, n, span)

    @property
    def failure_count(self) -> int:
        """Occurrences that are failures of their server (`counts_as_failure`)."""
        self.settle()
        return sum(f.total for f in self.failures.values())

    @property
    def tool_errors(self) -> int:
        """Occurrences of a tool's own error, counted apart from the failures."""
        self.settle()
        return self.by_code.get(TOOL_ERROR, 0)

    def summary(self) -> dict[str, Any]:
        """summary.json: occurrences by server / code / severity / touchpoint / hour, first and last per code.

        Names, codes and hours are values, never keys (`{"server": "google-oauth", "occurrences": 3}`): as
        keys, a server called `auth` would read as a secret field to the redactor and to the leak scan.
        """
        self.settle()
        return {
            "events": self.total,
            "occurrences": self.occurrences,
            "first_event": self.first_ts or None,
            "last_event": self.last_ts or None,
            "by_server": _rows("server", self.by_server),
            "by_code": _rows("code", self.by_code),
            "by_severity": [
                {"severity": s.value, "occurrences": self.by_severity[s.value]}
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
    """`{"a": 2}` as `[{name: "a", "occurrences": 2}]`, sorted by name."""
    return [{name: key, "occurrences": n} for key, n in sorted(counts.items())]
