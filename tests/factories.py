"""Builders of realistic test events, shared by the test suites and benchmarks."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from mcpdiag.emitters import CATALOG, DiagnosticEvent, new_event_id, new_trace_id

_counter = itertools.count()


def anchor_time(now: datetime | None = None) -> datetime:
    """The latest 12:00 UTC at or before `now` (the real time by default): 0 to 24 hours ago.

    Fixtures are built around it instead of a calendar date, so the suite behaves the same on any day (and
    under libfaketime): parts the tests cannot hand a clock (mongomock's TTL monitor, the ingest's
    future-timestamp check in a separate process) see events as fresh as the fixture says they are.
    """
    now = now or datetime.now(UTC)
    return (now - timedelta(hours=12)).replace(hour=12, minute=0, second=0, microsecond=0)


NOW = anchor_time()
"""What the tests' fixed clocks read: noon UTC of the last day that has had one."""
DAY = NOW.date().isoformat()
"""NOW's date, `YYYY-MM-DD`, for fixtures written as text."""


class FakeClock:
    """A settable clock for stores (time is the boundary we fake; everything else is real)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_event(
    *,
    server: str = "github",
    code: str = "MCP_TIMEOUT",
    ts: datetime | None = None,
    user_id: str | None = None,
    **fields: Any,
) -> DiagnosticEvent:
    """A valid event; unset fields come from the catalog, ids are fresh."""
    ts = ts or NOW - timedelta(hours=1) + timedelta(milliseconds=next(_counter))
    info = CATALOG.get(code)
    data: dict[str, Any] = {
        "id": fields.pop("id", None) or new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts,
        "server": server,
        "user_id": user_id,
        "touchpoint": fields.pop("touchpoint", "lifecycle" if info and not info.failure else "connect"),
        "code": code,
        "trace_id": fields.pop("trace_id", None) or new_trace_id(),
        "detail": fields.pop("detail", "httpx2.ReadTimeout after 30.0 s on POST /mcp (attempt 1 of 1)"),
        "attrs": fields.pop("attrs", {"attempt": 1, "endpoint": "/mcp"}),
        "source": {"service": "chat-host", "host": "web-1", "version": "1.0.0"},
        **fields,
    }
    return DiagnosticEvent.model_validate(data)
