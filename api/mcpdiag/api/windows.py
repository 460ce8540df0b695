"""Time windows of the listing endpoints: `from`/`to` query parameters, defaulted and bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mcpdiag.api.errors import InvalidParameterError

DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Window:
    """`[since, until)`, aware UTC."""

    since: datetime
    until: datetime

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None, now: datetime) -> Window:
        """The window `from`/`to` name: `to` defaults to now, `from` to 24 h before `to`; at most 30 days."""
        try:
            end = until or now
            start = since or end - DEFAULT_SPAN
        except OverflowError:
            raise InvalidParameterError("to", "leaves the calendar once the default span is taken") from None
        if start >= end:
            raise InvalidParameterError("from", "must be earlier than to")
        if end - start > MAX_SPAN:
            raise InvalidParameterError("from", f"the window may span at most {MAX_SPAN.days} days")
        return cls(start, end)
