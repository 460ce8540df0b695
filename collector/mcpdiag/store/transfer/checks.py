"""Checking an import's lines: each one redacted and validated as the wire event, its times made honest.

A line becomes a `StoredDocument` (valid), is counted as expired (valid, but its retention has passed at
the importing store: skipped), or is a problem naming its line and field. Redaction runs before
validation, as at ingest: what is stored is exactly what passed validation.

Times: `receivedAt` is kept (when the source collector received the event; the import time if absent).
`expireAt` is the earlier of the file's and what the importing store's retention gives the event, so an
import never keeps an event longer than either deployment promised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from mcpdiag.emitters import DiagnosticEvent, Redactor
from mcpdiag.emitters.event import field_path
from mcpdiag.emitters.text import json_problem
from mcpdiag.store.base import Retention, to_ms
from mcpdiag.store.documents import StoredDocument, stored_document
from mcpdiag.store.transfer.wire import MAX_LINE_BYTES

Redact = Callable[[dict[str, Any], dict[str, int]], dict[str, Any]]
"""A redaction step: an event dict in, its redacted copy out, rule firings added to the counts."""
Problem = tuple[int, str, str]
"""A bad line: its number, the field at fault and why."""

MAX_FUTURE = timedelta(minutes=5)
MAX_PROBLEMS = 20
"""Bad lines described in a report (all of them are counted)."""
MAX_BAD_LINES = 1000
"""Past this many bad lines a check stops: the file is not worth reading further."""
MAX_TALLIED_SERVERS = 10_000
MAX_FIELD_NAME = 64
OTHER_SERVERS = "(other servers)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def default_redact(known_secrets: Sequence[str] = ()) -> Redact:
    """The redactor's own event step (the collector passes its faster, caching one)."""
    redactor = Redactor(known_secrets)

    def redact(event: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        redacted, fired = redactor.event(event)
        for rule, count in fired.items():
            counts[rule] = counts.get(rule, 0) + count
        return redacted

    return redact


@dataclass(slots=True)
class ServerTally:
    """One server's valid lines in an import: to store, and already past their retention."""

    valid: int = 0
    expired: int = 0


@dataclass(slots=True)
class LineChecker:
    """Checks batches of raw lines against one store's clock and retention; keeps the tallies."""

    now: datetime
    retention: Retention
    redact: Redact = field(default_factory=default_redact)
    max_future: timedelta = MAX_FUTURE
    valid: int = 0
    """Valid lines whose retention has not passed: what the import stores."""
    expired: int = 0
    """Valid lines whose retention has passed at the importing store: skipped."""
    bad: int = 0
    problems: list[Problem] = field(default_factory=list)
    servers: dict[str, ServerTally] = field(default_factory=dict)
    redactions: dict[str, int] = field(default_factory=dict)

    @property
    def gave_up(self) -> bool:
        """Whether so many lines were bad that reading on is pointless."""
        return self.bad >= MAX_BAD_LINES

    def check(self, batch: Sequence[tuple[int, bytes | str | None]]) -> list[StoredDocument]:
        """The valid, unexpired documents of `batch`; the rest is tallied."""
        docs: list[StoredDocument] = []
        now_ms = to_ms(self.now)
        for number, raw in batch:
            outcome = self.check_one(raw, now_ms)
            if isinstance(outcome, StoredDocument):
                tally = self.tally(outcome.server)
                if outcome.expire_ms > now_ms:
                    tally.valid += 1
                    self.valid += 1
                    docs.append(outcome)
                else:
                    tally.expired += 1
                    self.expired += 1
            else:
                self.bad += 1
                if len(self.problems) < MAX_PROBLEMS:
                    self.problems.append((number, *self._quoted(*outcome)))
        return docs

    def check_one(self, raw: bytes | str | None, now_ms: int) -> StoredDocument | tuple[str, str]:
        """The stored document of one line (expired ones included), or `(field, message)`."""
        if raw is None:
            return "event", f"is longer than {MAX_LINE_BYTES:,} bytes"
        try:
            item = parse_line(raw)
        except ValueError as exc:
            return "event", f"is not valid JSON ({json_problem(exc)})"
        except RecursionError:
            return "event", "is nested too deeply"
        if not isinstance(item, dict):
            return "event", "must be a JSON object"
        times: dict[str, datetime | None] = {}
        for name in ("receivedAt", "expireAt"):
            value = item.pop(name, None)
            parsed = _instant(value)
            if value is not None and parsed is None:
                return name, "must be an RFC 3339 timestamp with an offset, from 1970 on"
            times[name] = parsed
        try:
            event = DiagnosticEvent.model_validate(self.redact(item, self.redactions))
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            return field_path(tuple(error["loc"])), _message(error["msg"], len(exc.errors()))
        except RecursionError:
            return "event", "is nested too deeply"
        limit = self.now + self.max_future
        if event.ts > limit:
            return "ts", f"is more than {int(self.max_future.total_seconds() // 60)} minutes in the future"
        received, expire = times["receivedAt"], times["expireAt"]
        if received is not None and received > limit:
            return "receivedAt", "is in the future"
        if expire is not None and expire < event.ts:
            return "expireAt", "is earlier than ts"
        try:
            kept = self.retention.expire_at(event.ts, event.severity)
        except OverflowError:
            return "ts", "leaves no room for its retention before the year 9999 ends"
        return stored_document(
            event,
            received_ms=now_ms if received is None else to_ms(received),
            expire_ms=to_ms(kept if expire is None else min(expire, kept)),
        )

    def _quoted(self, name: str, message: str) -> tuple[str, str]:
        """A problem as it may be shown: what it quotes from the file (a field's name) redacted, bounded."""
        shown = self.redact({"field": name[:MAX_FIELD_NAME], "message": message}, {})
        cut = "…" if len(name) > MAX_FIELD_NAME else ""
        return str(shown["field"]) + cut, str(shown["message"])

    def tally(self, server: str) -> ServerTally:
        """The running tally of `server` (past `MAX_TALLIED_SERVERS`, the shared one of the others)."""
        tally = self.servers.get(server)
        if tally is None:
            name = server if len(self.servers) < MAX_TALLIED_SERVERS else OTHER_SERVERS
            tally = self.servers.setdefault(name, ServerTally())
        return tally


def parse_line(raw: bytes | str) -> Any:
    """The JSON value of one line, as `json.loads` reads it (`ValueError` or `RecursionError` if none)."""
    # orjson first (twice as fast, the same values). What it refuses or reads differently goes to the
    # standard parser, which then decides and words the error as before: lone surrogates, NaN, other
    # encodings, nesting past orjson's limit, and a run of 19 digits or more (a number orjson may read as
    # a float). The run is looked for with translate and find, both in C: a regex took longer than parsing.
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        return None
    return utc if utc >= _EPOCH else None


def _message(message: str, errors: int) -> str:
    # pydantic prefixes validator messages with "Value error, "; the field name already says where.
    message = message.removeprefix("Value error, ")
    return message if errors == 1 else f"{message} (and {errors - 1} more problem{'s' if errors > 2 else ''})"
