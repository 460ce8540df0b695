"""A past for the demo: the wire events real sessions produced, copied to earlier times.

Each real scenario's events are recorded on their way to the collector (`RecordingSink`); `spread_history`
clones them with shifted `ts`, fresh event ids and fresh trace ids (one per original trace, so a copied
session stays correlated), and the clones go through the collector's `/v1/events` like any event: the
wire contract accepts any past `ts` within retention.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from mcpdiag.emitters import SinkResult, format_ts, new_event_id, new_trace_id
from mcpdiag.emitters.sinks import Outcome, Sink

WireEvent = dict[str, Any]
MAX_BATCH = 1000
RECENT = timedelta(minutes=5)
"""Copies end at least this long before now, so the live events stay the latest."""


class RecordingSink:
    """Sends through `inner` and keeps a copy of every event it delivered."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.events: list[WireEvent] = []
        self._lock = threading.Lock()

    def send(self, events: Sequence[WireEvent]) -> SinkResult | None:
        """Deliver through the inner sink; remember the batch once it is sent."""
        result = self.inner.send(events)
        if result is None or result.outcome is Outcome.SENT:
            with self._lock:
                self.events.extend(events)
        return result

    def close(self) -> None:
        """Close the inner sink."""
        self.inner.close()

    def take(self) -> list[WireEvent]:
        """The events recorded so far (and forget them)."""
        with self._lock:
            taken, self.events = self.events, []
        return taken


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def clone_at(events: Sequence[WireEvent], start: datetime) -> list[WireEvent]:
    """Copies of one session's `events` moved so the first happens at `start`, with fresh ids."""
    first = min(_parse_ts(e["ts"]) for e in events)
    traces: dict[str, str] = defaultdict(new_trace_id)
    copies = []
    for event in events:
        ts = start + (_parse_ts(event["ts"]) - first)
        copies.append(
            {
                **event,
                "id": new_event_id(int(ts.timestamp() * 1000)),
                "ts": format_ts(ts),
                "traceId": traces[event["traceId"]],
                "spanId": None,
            }
        )
    return copies


def spread_history(
    sessions: Sequence[tuple[Sequence[WireEvent], int, float]],
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[WireEvent]:
    """For each `(events, copies, window_h)`: `copies` clones of the session at random earlier times
    within the last `window_h` hours (a failure that "started" a few hours ago has a short window)."""
    now = now or datetime.now(UTC)
    rng = rng or random.Random()
    out: list[WireEvent] = []
    for events, copies, window_h in sessions:
        if not events:
            continue
        window = timedelta(hours=window_h) - RECENT
        for _ in range(copies):
            out.extend(clone_at(events, now - RECENT - window * rng.random()))
    return out


async def post_events(base_url: str, api_key: str, events: Sequence[WireEvent]) -> int:
    """POST events to the collector's `/v1/events` in batches; how many it accepted."""
    accepted = 0
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key}, timeout=30) as client:
        for start in range(0, len(events), MAX_BATCH):
            response = await client.post(
                "/v1/events", json={"events": list(events[start : start + MAX_BATCH])}
            )
            response.raise_for_status()
            accepted += int(response.json().get("accepted", 0))
    return accepted
