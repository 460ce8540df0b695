"""What a bundle covers: `BundleScope`, parsed from the same raw parameters by the API and the CLI."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mcpdiag.bundle.errors import InvalidScopeError
from mcpdiag.emitters import Severity, format_ts
from mcpdiag.emitters.redact import quoted
from mcpdiag.store.base import trace_key
from mcpdiag.store.errors import InvalidQueryError

DEFAULT_WINDOW = timedelta(hours=24)
MAX_SERVERS = 200
_DURATION = re.compile(r"(?P<n>[0-9]{1,6})(?P<unit>[smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_duration(value: str, field: str = "since") -> timedelta:
    """`90m`, `24h`, `7d`, `2w` or `30s` as a timedelta; raises `InvalidScopeError` naming `field`."""
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None or int(match["n"]) == 0:
        raise InvalidScopeError(field, f"expected a duration like 90m, 24h or 7d, got {quoted(value)}")
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def parse_instant(value: str, field: str) -> datetime:
    """An RFC 3339 timestamp with an offset (`2026-11-21T09:00:00Z`) as an aware UTC datetime."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text.upper():
        raise InvalidScopeError(
            field, f"expected RFC 3339 with an offset, e.g. 2026-11-21T09:00:00Z; got {quoted(value)}"
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidScopeError(field, f"{quoted(value)} falls outside the years 1 to 9999 in UTC") from None


def _earlier(instant: datetime, span: timedelta, field: str) -> datetime:
    """`instant - span`, or `InvalidScopeError` naming `field` when that leaves the calendar."""
    try:
        return instant - span
    except OverflowError:
        raise InvalidScopeError(field, "reaches back before the year 1") from None


def _name(value: str | None, field: str, max_len: int = 128) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > max_len or _CONTROL.search(value):
        raise InvalidScopeError(field, f"must be 1-{max_len} characters without control characters")
    return value


def _flag(value: bool | str, field: str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise InvalidScopeError(field, f"expected true or false, got {quoted(value)}")


@dataclass(frozen=True, slots=True)
class BundleScope:
    """Which events a bundle holds. Empty `servers` = every server the caller may see."""

    since: datetime
    until: datetime
    servers: tuple[str, ...] = ()
    user_id: str | None = None
    debug_id: str | None = None
    """With a Debug ID the window is the trace's own (its events ±10 min), not `since`/`until`."""
    min_severity: Severity | None = None
    include_detail: bool = True

    @classmethod
    def parse(
        cls,
        *,
        servers: Sequence[str] = (),
        since: str | None = None,
        from_: str | None = None,
        to: str | None = None,
        user_id: str | None = None,
        debug_id: str | None = None,
        severity: str | None = None,
        include_detail: bool | str = True,
        now: datetime | None = None,
    ) -> BundleScope:
        """Build a scope from raw parameters; raises `InvalidScopeError` naming the bad field."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if since and (from_ or to):
            raise InvalidScopeError("since", "use either since or from/to, not both")
        if since:
            start, end = _earlier(now, parse_duration(since), "since"), now
        else:
            end = parse_instant(to, "to") if to else now
            start = parse_instant(from_, "from") if from_ else _earlier(end, DEFAULT_WINDOW, "to")
        if start >= end:
            raise InvalidScopeError("from", "must be earlier than to")
        names = tuple(dict.fromkeys(n for s in servers if (n := _name(s.strip(), "server")) is not None))
        if len(names) > MAX_SERVERS:
            raise InvalidScopeError("server", f"at most {MAX_SERVERS} servers per bundle")
        level: Severity | None = None
        if severity:
            try:
                level = Severity(severity.strip().lower())
            except ValueError:
                allowed = ", ".join(s.value for s in Severity)
                raise InvalidScopeError(
                    "severity", f"expected one of {allowed}, got {quoted(severity)}"
                ) from None
        debug = _name(debug_id.strip() if debug_id else None, "debugId", 64)
        if debug is not None:
            try:
                trace_key(debug)
            except InvalidQueryError as exc:
                raise InvalidScopeError("debugId", str(exc).split(": ", 1)[-1]) from None
        return cls(
            since=start,
            until=end,
            servers=names,
            user_id=_name(user_id, "userId", 256),
            debug_id=debug,
            min_severity=level,
            include_detail=_flag(include_detail, "includeDetail"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The scope as the wire names the API takes (for MANIFEST.json and the audit log)."""
        return {
            "server": list(self.servers) or "all",
            "from": format_ts(self.since),
            "to": format_ts(self.until),
            "userId": self.user_id,
            "debugId": self.debug_id,
            "severity": self.min_severity.value if self.min_severity else None,
            "includeDetail": self.include_detail,
        }


def bundle_filename(now: datetime) -> str:
    """`mcpdiag-support-YYYY-MM-DD-HHMMSS.zip` for the UTC time `now`."""
    return f"mcpdiag-support-{now.astimezone(UTC):%Y-%m-%d-%H%M%S}.zip"
