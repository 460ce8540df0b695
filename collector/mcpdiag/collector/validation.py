"""Per-event intake checks: redact again, validate as a `DiagnosticEvent`, refuse timestamps from the future.

Each event of a request is judged on its own: the valid ones go on, each invalid one becomes a `Rejection`
naming its index and the wire field at fault. Redaction runs on the raw event before validation, so the
event that is stored is exactly the one that passed validation (a placeholder that pushes a field over its
length limit is caught, not stored).

Redaction gives exactly what `Redactor.event` gives, but most strings of an event recur from one event to
the next (server, code, messageSafe, touchpoint, source, attrs): the validator remembers strings that the
redactor left untouched, so those are not scanned again. Only strings in which no rule fired are remembered
(they hold no secret), never a string that was redacted, and the memory is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from mcpdiag.collector.body import Malformed
from mcpdiag.emitters import DiagnosticEvent, Redactor
from mcpdiag.emitters.event import MAX_DETAIL, field_path
from mcpdiag.emitters.redact import is_secret_key
from mcpdiag.store.base import Clock, Retention, utc_now

MAX_FUTURE = timedelta(minutes=5)
CLEAN_CACHE_STRINGS = 8192
"""How many untouched strings the validator remembers (then it forgets them all and starts over)."""
CLEAN_CACHE_LENGTH = 256
"""Longer strings (details, stack excerpts) are rarely repeated: always scanned, never remembered."""


class Rejection(BaseModel):
    """One event the collector refused: its index in the request, the field at fault and why."""

    index: int
    field: str
    message: str


@dataclass(slots=True)
class Intake:
    """The outcome of checking one request's events."""

    events: list[DiagnosticEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    """How often each redaction rule fired."""
    indexes: list[int] = field(default_factory=list)
    """The request index of each of `events`."""

    def refuse(self, position: int, field_name: str, message: str) -> None:
        """Move `events[position]` to the rejected ones, naming the field and why."""
        self.rejected.append(Rejection(index=self.indexes[position], field=field_name, message=message))
        del self.events[position], self.indexes[position]
        self.rejected.sort(key=lambda r: r.index)


class EventValidator:
    """Redacts and validates raw wire events; built once with the collector's known secrets."""

    def __init__(
        self,
        known_secrets: Iterable[str] = (),
        *,
        clock: Clock = utc_now,
        max_future: timedelta = MAX_FUTURE,
        retention: Retention | None = None,
    ) -> None:
        self.redactor = Redactor(known_secrets)
        self.clock = clock
        self.max_future = max_future
        self.retention = retention or Retention()
        # Strings the redactor returned unchanged, without firing a rule. Shared by the worker threads
        # that check requests: set lookups, adds and clears are atomic, and a race costs only a rescan.
        self._clean: set[str] = set()

    def check(self, items: Sequence[Any], *, truncate_detail: bool = False) -> Intake:
        """The valid events of `items` and a rejection for each invalid one (thread-safe)."""
        intake = Intake()
        now = self.clock()
        for index, item in enumerate(items):
            outcome = self.check_one(item, now, intake.redactions, truncate_detail=truncate_detail)
            if isinstance(outcome, DiagnosticEvent):
                intake.events.append(outcome)
                intake.indexes.append(index)
            else:
                intake.rejected.append(Rejection(index=index, field=outcome[0], message=outcome[1]))
        return intake

    def check_one(
        self, item: Any, now: datetime, counts: dict[str, int], *, truncate_detail: bool = False
    ) -> DiagnosticEvent | tuple[str, str]:
        """The event `item` describes, or `(field, message)` saying why it is refused."""
        if isinstance(item, Malformed):
            return "event", item.message
        if not isinstance(item, dict):
            return "event", "must be a JSON object"
        try:
            redacted = self.redact(item, counts)
        except RecursionError:
            return "event", "is nested too deeply"
        if (
            truncate_detail
            and isinstance(redacted.get("detail"), str)
            and len(redacted["detail"]) > MAX_DETAIL
        ):
            redacted["detail"] = redacted["detail"][: MAX_DETAIL - 1] + "…"
        try:
            event = DiagnosticEvent.model_validate(redacted)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            return field_path(tuple(error["loc"])), _message(error["msg"], len(exc.errors()))
        if event.ts > now + self.max_future:
            return "ts", f"is more than {int(self.max_future.total_seconds() // 60)} minutes in the future"
        # Stored, it would be expired on arrival: never listed, purged at once. Say so instead of a 202.
        kept = self.retention.expire_at(event.ts, event.severity) - event.ts
        if event.ts + kept <= now:
            days = kept.total_seconds() / 86400
            return "ts", f"is older than this {event.severity.value} event's retention ({days:g} days)"
        return event

    def redact(self, event: Mapping[Any, Any], counts: dict[str, int]) -> dict[Any, Any]:
        """What `self.redactor.event(event)` returns, adding how often each rule fired to `counts`."""
        clean = self._clean
        out: dict[Any, Any] = {}
        for key, value in event.items():
            if isinstance(key, str) and is_secret_key(key):
                # The whole value goes, whatever it is: the redactor's own rule, through its public API.
                redacted, fired = self.redactor.event({key: value})
                _add(counts, fired)
                out[key] = redacted[key]
                continue
            # Exact types first (what JSON gives); anything else takes the general path in `_value`.
            kind = type(value)
            if kind is str:
                out[key] = value if value in clean else self._text(value, counts)
            elif value is None or kind is int or kind is bool or kind is float:
                out[key] = value
            else:
                out[key] = self._value(value, counts)
        return out

    def _value(self, value: Any, counts: dict[str, int]) -> Any:
        if isinstance(value, str):
            return value if value in self._clean else self._text(value, counts)
        if isinstance(value, Mapping):
            return self.redact(value, counts)
        if isinstance(value, list):
            return [self._value(item, counts) for item in value]
        if isinstance(value, tuple):
            return tuple(self._value(item, counts) for item in value)
        return value

    def _text(self, text: str, counts: dict[str, int]) -> str:
        fired: dict[str, int] = {}
        redacted = self.redactor.text(text, fired)
        if fired:
            _add(counts, fired)
            return redacted
        # No rule fired, so the redactor returned the text as it was: remember it as clean.
        if len(text) <= CLEAN_CACHE_LENGTH:
            if len(self._clean) >= CLEAN_CACHE_STRINGS:
                self._clean.clear()
            self._clean.add(text)
        return text


def _add(counts: dict[str, int], fired: dict[str, int]) -> None:
    for rule, count in fired.items():
        counts[rule] = counts.get(rule, 0) + count


def _message(message: str, errors: int) -> str:
    # pydantic prefixes validator messages with "Value error, "; the field name already says where.
    message = message.removeprefix("Value error, ")
    return message if errors == 1 else f"{message} (and {errors - 1} more problem{'s' if errors > 2 else ''})"
