"""Bounded aggregates of the exported events: what summary.json and analysis.md are computed from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mcpdiag.emitters import Severity, code_info
from mcpdiag.emitters.codes import LIFECYCLE_CODES, SEVERITY_RANK

_FAILURE_RANK = Severity.WARNING.rank


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

    def add(self, event: dict[str, Any]) -> None:
        """Count one exported (sanitized) wire event."""
        ts, server = str(event.get("ts", "")), str(event.get("server", ""))
        code = code_info(str(event.get("code", ""))).code
        severity = str(event.get("severity", ""))
        hour = hour_of(ts)
        self.total += 1
        self.by_server[server] += 1
        self.by_code[code] += 1
        self.by_severity[severity] += 1
        self.by_touchpoint[str(event.get("touchpoint", ""))] += 1
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
        """summary.json: counts by server / code / severity / touchpoint / hour, first and last per code."""
        return {
            "events": self.total,
            "first_event": self.first_ts or None,
            "last_event": self.last_ts or None,
            "by_server": dict(sorted(self.by_server.items())),
            "by_code": dict(sorted(self.by_code.items())),
            "by_severity": {
                s.value: self.by_severity[s.value] for s in Severity if self.by_severity[s.value]
            },
            "by_touchpoint": dict(sorted(self.by_touchpoint.items())),
            "by_hour": dict(sorted(self.by_hour.items())),
            "codes": {code: seen.to_dict() for code, seen in sorted(self.seen.items())},
            "failures_by_server": {
                server: {
                    "total": f.total,
                    "codes": {code: seen.to_dict() for code, seen in sorted(f.codes.items())},
                }
                for server, f in sorted(self.failures.items())
            },
        }
