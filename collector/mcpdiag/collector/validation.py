"""Per-event intake checks: redact again, validate as a `DiagnosticEvent`, refuse timestamps from the future.

Each event of a request is judged on its own: the valid ones go on, each invalid one becomes a `Rejection`
naming its index and the wire field at fault. Redaction runs on the raw event before validation, so the
event that is stored is exactly the one that passed validation (a placeholder that pushes a field over its
length limit is caught, not stored). It is the redactor's own walk (`Redactor.value`), whose memory of clean
strings answers the strings that recur from one event to the next (server, code, messageSafe, attrs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from mcpdiag.collector.body import Malformed
from mcpdiag.collector.lane import Steps, run_through
from mcpdiag.emitters import DiagnosticEvent, Redactor
from mcpdiag.emitters.event import MAX_DETAIL, field_path
from mcpdiag.store.base import Clock, Retention, utc_now

MAX_FUTURE = timedelta(minutes=5)
CHECK_STEP = 100
"""Events checked in one step: a small request waits for about this many of each request ahead of it."""
CLEAN_CACHE_LENGTH = 256
"""The longest string the intake remembers as clean: details and stack excerpts are rarely repeated."""


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
        # Shared by the worker threads that check requests (its memory of clean strings is thread-safe).
        self.redactor = Redactor(known_secrets, cache_chars=CLEAN_CACHE_LENGTH)
        self.clock = clock
        self.max_future = max_future
        self.retention = retention or Retention()

    def check(self, items: Sequence[Any], *, truncate_detail: bool = False) -> Intake:
        """The valid events of `items` and a rejection for each invalid one (thread-safe)."""
        return run_through(self.check_steps(items, truncate_detail=truncate_detail))

    def check_steps(self, items: Sequence[Any], *, truncate_detail: bool = False) -> Steps[Intake]:
        """`check` in steps of `CHECK_STEP` events (what the collector's `CheckLane` runs in turns)."""
        intake = Intake()
        now = self.clock()
        for index, item in enumerate(items):
            outcome = self.check_one(item, now, intake.redactions, truncate_detail=truncate_detail)
            if isinstance(outcome, DiagnosticEvent):
                intake.events.append(outcome)
                intake.indexes.append(index)
            else:
                intake.rejected.append(Rejection(index=index, field=outcome[0], message=outcome[1]))
            if index % CHECK_STEP == CHECK_STEP - 1:
                yield
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
            errors = exc.errors(include_url=False, include_input=False)
            return field_path(tuple(errors[0]["loc"])), _message(errors)
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
        redacted: dict[Any, Any] = self.redactor.value(event, counts)
        return redacted


_MORE_SHOWN = 3


def _message(errors: Sequence[Any]) -> str:
    """The first problem's message (its field is the rejection's), then the others with their fields, so a
    sender fixes every field at once: `Field required; also traceId: Field required`."""

    def text(error: Any) -> str:
        # pydantic prefixes validator messages with "Value error, "; the field name already says where.
        return str(error["msg"]).removeprefix("Value error, ")

    others = [f"{field_path(tuple(e['loc']))}: {text(e)}" for e in errors[1 : 1 + _MORE_SHOWN]]
    more = len(errors) - 1 - len(others)
    tail = f"; and {more} more problem{'s' if more > 1 else ''}" if more > 0 else ""
    return text(errors[0]) + (f"; also {'; '.join(others)}{tail}" if others else "")
