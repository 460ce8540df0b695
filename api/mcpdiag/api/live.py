"""Live streams of a server's diagnostics (Server-Sent Events): what each stream sends next, read from the
store in receipt order, and how many streams a caller and the process may hold."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from mcpdiag.api.acl import strip_detail
from mcpdiag.api.errors import ApiError
from mcpdiag.collector.changes import Changes
from mcpdiag.store import EventStore
from mcpdiag.store.base import to_ms

Position = tuple[int, str]
BATCH = 200


class TooManyStreamsError(ApiError):
    """The caller already holds as many live streams as one user may (429)."""

    status = 429
    code = "too_many_streams"


class StreamsFullError(ApiError):
    """The process holds as many live streams as it serves; retry later (503)."""

    status = 503
    code = "streams_full"


@dataclass
class StreamSlots:
    """Counts of open streams, per user and in all."""

    per_user: int
    total: int
    open: dict[str, int] = field(default_factory=dict)

    def take(self, user: str) -> Callable[[], None]:
        """A slot for one stream of `user`, and the function that gives it back (safe to call twice);
        `TooManyStreamsError`/`StreamsFullError` when there is none."""
        if self.open.get(user, 0) >= self.per_user:
            raise TooManyStreamsError(f"at most {self.per_user} live streams per user; close one first")
        if sum(self.open.values()) >= self.total:
            raise StreamsFullError("this instance serves no more live streams right now; retry shortly")
        self.open[user] = self.open.get(user, 0) + 1
        returned = False

        def give_back() -> None:
            nonlocal returned
            if returned:
                return
            returned = True
            self.open[user] -= 1
            if not self.open[user]:
                del self.open[user]

        return give_back


def position_of(last_event_id: str | None) -> Position | None:
    """The position a `Last-Event-ID` (`<received ms>.<event id>`) names; None when it names none."""
    if not last_event_id:
        return None
    received, _, event_id = last_event_id.partition(".")
    if not received.isascii() or not received.isdigit() or len(received) > 15 or not event_id:
        return None
    return int(received), event_id[:64]


def event_id_of(position: Position) -> str:
    """The SSE `id:` of the event at `position` (what a reconnecting client sends back)."""
    return f"{position[0]}.{position[1]}"


async def diagnostics_stream(
    store: EventStore,
    changes: Changes,
    server: str,
    *,
    user_id: str | None,
    staff: bool,
    after: Position | None,
    poll_s: float,
    stopping: asyncio.Event,
) -> AsyncIterator[dict[str, Any]]:
    """SSE messages of `server`'s new events as the caller may see them, from `after` (default: now)."""
    position = after or (to_ms(store.clock()), "")
    wake = changes.subscribe(server)
    try:
        while not stopping.is_set():
            rows = await store.received_after(server, position, user_id=user_id, limit=BATCH)
            for received, event_id, item in rows:
                position = (received, event_id)
                shown = item if staff else strip_detail(item)
                yield {"event": "diagnostic", "id": event_id_of(position), "data": json.dumps(shown)}
            if len(rows) == BATCH:
                continue  # more are waiting: no sleep between full batches
            wake.clear()
            waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())]
            try:
                await asyncio.wait(waiters, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
    finally:
        changes.unsubscribe(server, wake)
