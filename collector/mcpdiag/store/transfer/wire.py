"""The export format: gzipped NDJSON, a header line, one event per line, an end line; and what to export.

```
{"format":"mcpdiag-events","version":1,"createdAt":…,"sourceHost":…,"window":{…},"filters":{…},"counts":{…}}
{"id":…,"ts":…,"server":…, … the wire event …,"receivedAt":"2026-11-21T10:41:05.200Z","expireAt":…}
…
{"end":{"events":98412}}
```

Event lines are the wire event (`DiagnosticEvent`, camelCase) with the stored `receivedAt` and `expireAt`
appended. The header's counts are taken when the export starts; the end line holds the count actually
written, so an export cut short (a download that stopped, a crashed exporter) is refused on import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, StrictInt, StrictStr

from mcpdiag.emitters import Severity, format_ts
from mcpdiag.emitters.redact import quoted
from mcpdiag.store.base import EventQuery
from mcpdiag.store.errors import InvalidQueryError

FORMAT = "mcpdiag-events"
VERSION = 1
MAX_LINE_BYTES = 64 * 1024
"""Longest line read (an event is at most 16 KiB encoded; escapes and whitespace may add to it)."""
MAX_SELECTED_SERVERS = 1000
CONTENT_TYPE = "application/gzip"
_DURATION = re.compile(r"(?P<n>[0-9]{1,6})(?P<unit>[smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Window(BaseModel):
    """The time window of an export: `since` inclusive, `until` exclusive; None = unbounded."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = None
    until: datetime | None = None


class Filters(BaseModel):
    """The filters an export was made with, as the API names them."""

    model_config = ConfigDict(extra="forbid")

    servers: list[StrictStr] = Field(default_factory=list)
    user_id: StrictStr | None = Field(default=None, alias="userId")
    severity: StrictStr | None = None


class Counts(BaseModel):
    """How many events (and of how many servers) the export held when it started."""

    model_config = ConfigDict(extra="allow")

    events: NonNegativeInt
    servers: NonNegativeInt = 0


class ExportHeader(BaseModel):
    """The first line of an export."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    format: StrictStr
    version: StrictInt
    created_at: datetime = Field(alias="createdAt")
    source_host: StrictStr = Field(alias="sourceHost", max_length=256)
    window: Window
    filters: Filters = Field(default_factory=Filters)
    counts: Counts

    def to_line(self) -> str:
        """The header as its JSON line (no newline)."""
        body = self.model_dump(mode="json", by_alias=True)
        body["createdAt"] = format_ts(self.created_at)
        body["window"] = {
            "since": format_ts(self.window.since) if self.window.since else None,
            "until": format_ts(self.window.until) if self.window.until else None,
        }
        return _compact(body)


def end_line(events: int) -> str:
    """The last line of an export: how many event lines precede it."""
    return _compact({"end": {"events": events}})


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """Which events to export: servers (none = all), one user's (and server-wide), a minimum severity and a
    window (None = unbounded: an export of everything also takes events that arrive while it runs)."""

    servers: tuple[str, ...] = ()
    user_id: str | None = None
    min_severity: Severity | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls,
        *,
        servers: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        user_id: str | None = None,
        severity: str | None = None,
        now: datetime,
    ) -> ExportSelection:
        """A selection from raw CLI/API values: `since`/`until` are a duration back from `now` (`7d`,
        `90m`) or an RFC 3339 instant; raises `InvalidQueryError` naming the field."""
        names = tuple(dict.fromkeys(_name(s.strip(), "server", 128) for s in servers if s.strip()))
        if len(names) > MAX_SELECTED_SERVERS:
            raise InvalidQueryError("server", f"at most {MAX_SELECTED_SERVERS} servers per export")
        level = None
        if severity:
            try:
                level = Severity(severity.strip().lower())
            except ValueError:
                allowed = ", ".join(s.value for s in Severity)
                raise InvalidQueryError(
                    "severity", f"expected one of {allowed}, got {quoted(severity)}"
                ) from None
        start = _instant(since, "since", now) if since else None
        end = _instant(until, "until", now) if until else None
        if start is not None and end is not None and start >= end:
            raise InvalidQueryError("since", "must be earlier than until")
        user = _name(user_id, "userId", 256) if user_id else None
        return cls(servers=names, user_id=user, min_severity=level, since=start, until=end)

    def query(self, server: str) -> EventQuery:
        """The store query of this selection on one server, oldest first."""
        return EventQuery(
            server=server,
            user_id=self.user_id,
            min_severity=self.min_severity,
            since=self.since,
            until=self.until,
            oldest_first=True,
        )

    def filters(self) -> Filters:
        """The filters as the header records them."""
        return Filters(
            servers=list(self.servers),
            userId=self.user_id,
            severity=self.min_severity.value if self.min_severity else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The selection in API names (for the audit log)."""
        return {
            "server": list(self.servers) or "all",
            "since": format_ts(self.since) if self.since else None,
            "until": format_ts(self.until) if self.until else None,
            "userId": self.user_id,
            "severity": self.min_severity.value if self.min_severity else None,
        }


def _name(value: str, field_name: str, max_len: int) -> str:
    if not value or len(value) > max_len or _CONTROL.search(value):
        raise InvalidQueryError(field_name, f"must be 1-{max_len} characters without control characters")
    return value


def _instant(value: str, field_name: str, now: datetime) -> datetime:
    text = value.strip()
    match = _DURATION.fullmatch(text.lower())
    if match is not None:
        try:
            return now - timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
        except OverflowError:
            raise InvalidQueryError(field_name, "reaches back before the year 1") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text.upper():
        raise InvalidQueryError(
            field_name, f"expected a duration like 7d or 90m, or RFC 3339 with an offset; got {quoted(value)}"
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidQueryError(
            field_name, f"{quoted(value)} falls outside the years 1 to 9999 in UTC"
        ) from None
