"""Live streams of a server's diagnostics (Server-Sent Events): what each stream sends next, read from the
store in receipt order, and how many streams a caller and the process may hold.

Every stream of a server reads from one `Feed`: when the server's events change, the first stream to ask
reads the store for all of them (once, whoever else asks meanwhile) and each stream takes from what the
feed keeps the rows its caller may see, each row serialised once for staff and once for users. A stream
behind what the feed keeps (a resume from long ago, a reader slower than the ingest) reads the store in its
own scope until it has caught up."""

from __future__ import annotations

import asyncio
import json
from collections import deque
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
KEEP = 256
"""Rows a server's feed keeps for its streams (a stream further behind reads the store itself): enough for
streams woken together to take a burst from it, about a megabyte a server with streams open at most."""


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


class _Row:
    """One stored event as the streams send it; its `data:` is serialised once for each kind of reader."""

    __slots__ = ("_shown", "item", "position", "user")

    def __init__(self, position: Position, item: dict[str, Any]) -> None:
        self.position = position
        self.item = item
        self.user: str = item.get("userId") or ""
        """Whose event it is ('' for a server-wide one), as the store scopes it."""
        self._shown: dict[bool, str] = {}

    def data(self, staff: bool) -> str:
        """The event as the diagnostics endpoint shows it to staff, or to a user (no `detail`)."""
        shown = self._shown.get(staff)
        if shown is None:
            # Users' copy without `detail` (not `strip_detail`, which empties the one shared dict in place).
            item = self.item if staff else {k: v for k, v in self.item.items() if k != "detail"}
            shown = self._shown[staff] = json.dumps(item)
        return shown


class Feed:
    """A server's events as they are stored, read once for every stream of the server."""

    def __init__(self, store: EventStore, changes: Changes, server: str, start: Position) -> None:
        self.store = store
        self.changes = changes
        self.server = server
        self.rows: deque[_Row] = deque()
        self.floor = start
        """Every event stored after this position, up to `position`, is in `rows`."""
        self.position = start
        self.read_version = -1
        """`changes.version` when the last read of the store began: it saw what was stored before."""
        self.read_at = float("-inf")
        """The event loop's time when the last read began."""
        self.streams = 0
        self._lock = asyncio.Lock()

    def fresh(self, version: int, since: float) -> bool:
        """Whether the last read began at change `version` or later, and at loop time `since` or later."""
        return self.read_version >= version and self.read_at >= since

    async def refresh(self, version: int, since: float = float("-inf")) -> None:
        """Read what was stored since the last read, unless `fresh(version, since)`: the streams a change
        wakes all ask, and the first read serves them all."""
        async with self._lock:
            if self.fresh(version, since):
                return
            self.read_version = self.changes.version(self.server)
            self.read_at = asyncio.get_running_loop().time()
            while True:
                found = await self.store.received_after(self.server, self.position, limit=BATCH)
                for received, event_id, item in found:
                    self.rows.append(_Row((received, event_id), item))
                if found:
                    self.position = self.rows[-1].position
                while len(self.rows) > KEEP:
                    self.floor = self.rows.popleft().position
                if len(found) < BATCH:
                    return

    def after(self, position: Position) -> list[_Row] | None:
        """The kept rows stored after `position`, oldest first; None when some of them are no longer kept."""
        if position < self.floor:
            return None
        newer: list[_Row] = []
        for row in reversed(self.rows):
            if row.position <= position:
                break
            newer.append(row)
        newer.reverse()
        return newer


class LiveFeeds:
    """The feeds of the servers that have a stream open in this process."""

    def __init__(self, store: EventStore, changes: Changes) -> None:
        self.store = store
        self.changes = changes
        self._feeds: dict[str, Feed] = {}

    def open(self, server: str) -> Feed:
        """`server`'s feed (new ones start at the store's now), for one more stream; `close` it after."""
        feed = self._feeds.get(server)
        if feed is None:
            start = (to_ms(self.store.clock()), "")
            feed = self._feeds[server] = Feed(self.store, self.changes, server, start)
        feed.streams += 1
        return feed

    def close(self, feed: Feed) -> None:
        """One stream of `feed` ended; the last one drops it (and what it kept)."""
        feed.streams -= 1
        if not feed.streams and self._feeds.get(feed.server) is feed:
            del self._feeds[feed.server]

    def __len__(self) -> int:
        return len(self._feeds)


def _message(position: Position, data: str) -> dict[str, Any]:
    return {"event": "diagnostic", "id": event_id_of(position), "data": data}


async def diagnostics_stream(
    feeds: LiveFeeds,
    server: str,
    *,
    user_id: str | None,
    staff: bool,
    after: Position | None,
    poll_s: float,
    stopping: asyncio.Event,
) -> AsyncIterator[dict[str, Any]]:
    """SSE messages of `server`'s new events as the caller may see them, from `after` (default: now)."""
    store, changes = feeds.store, feeds.changes
    loop = asyncio.get_running_loop()
    feed = feeds.open(server)
    position = after or (to_ms(store.clock()), "")
    wake = changes.subscribe(server)
    # What the next look at the feed needs: a read begun at this change version, and at this time or later.
    version, since = changes.version(server), loop.time()
    try:
        while not stopping.is_set():
            await feed.refresh(version, since)
            rows = feed.after(position)
            if rows is None:
                # Behind what the feed keeps: this stream's own scope from the store, until it catches up.
                read = feed.position  # what the feed had read before this read began
                found = await store.received_after(server, position, user_id=user_id, limit=BATCH)
                for received, event_id, item in found:
                    position = (received, event_id)
                    yield _message(position, json.dumps(item if staff else strip_detail(item)))
                if len(found) < BATCH:
                    position = max(position, read)  # all this caller may see up to there is sent
            else:
                for row in rows:
                    if user_id is None or row.user in ("", user_id):
                        yield _message(row.position, row.data(staff))
                    position = row.position
            wake.clear()
            version, since = changes.version(server), float("-inf")
            if feed.position > position or not feed.fresh(version, since) or rows is None:
                continue  # read meanwhile, stored meanwhile, or more to read from the store
            waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())]
            try:
                await asyncio.wait(waiters, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            # Woken: a read begun after the wake-up will do. A poll (another replica's events wake nobody
            # here): a read begun from now on.
            version = changes.version(server)
            since = float("-inf") if wake.is_set() else loop.time()
    finally:
        changes.unsubscribe(server, wake)
        feeds.close(feed)
