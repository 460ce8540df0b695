"""Live streams of a server's diagnostics (Server-Sent Events): what each stream sends next, read from the
store in receipt order, and how many streams a caller and the process may hold.

Every stream of a server reads from one `Feed`: when the server's events change, the first stream to ask
reads the store for all of them (once, whoever else asks meanwhile) and each stream takes from what the
feed keeps the rows its caller may see, each row encoded as an SSE message once for staff and once for
users, and sends them in one write. A stream
behind what the feed keeps (a resume from long ago, a reader slower than the ingest) reads the store in its
own scope until it has caught up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sse_starlette import ServerSentEvent

from mcpdiag.api.acl import strip_detail
from mcpdiag.api.errors import ApiError
from mcpdiag.collector.changes import Changes
from mcpdiag.store import EventStore
from mcpdiag.store.base import to_ms

Position = tuple[int, str]
BATCH = 200
FEED_BATCH = 100
"""Events a feed reads at a time: the streams take each batch before the next is read."""
KEEP = 3 * FEED_BATCH
"""Rows a server's feed keeps for its streams (a stream further behind reads the store itself): a stream
woken with the others is at most a batch or two behind; about 1.5 MB a server with streams open at most."""


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


class StreamsStopping(asyncio.Event):
    """Set when the live streams must end (shutdown): setting it also wakes every stream waiting for its
    server's next change, so that a stream waits on one event, not on two."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: set[asyncio.Event] = set()

    def set(self) -> None:
        super().set()
        for wake in self._waiting:
            wake.set()

    def watch(self, wake: asyncio.Event) -> None:
        """Set `wake` too when this is set (now, if it already is)."""
        self._waiting.add(wake)
        if self.is_set():
            wake.set()

    def forget(self, wake: asyncio.Event) -> None:
        self._waiting.discard(wake)


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
    """One stored event as the streams send it: its SSE message is encoded once for each kind of reader."""

    __slots__ = ("_sent", "item", "position", "user")

    def __init__(self, position: Position, item: dict[str, Any]) -> None:
        self.position = position
        self.item = item
        self.user: str = item.get("userId") or ""
        """Whose event it is ('' for a server-wide one), as the store scopes it."""
        self._sent: dict[bool, bytes] = {}

    def message(self, staff: bool) -> bytes:
        """The event's message as staff see it, or as a user does (no `detail`)."""
        sent = self._sent.get(staff)
        if sent is None:
            # Users' copy without `detail` (not `strip_detail`, which empties the one shared dict in place).
            item = self.item if staff else {k: v for k, v in self.item.items() if k != "detail"}
            sent = self._sent[staff] = message(self.position, item)
        return sent


def message(position: Position, item: dict[str, Any]) -> bytes:
    """The SSE message of the event `item` stored at `position`: `event: diagnostic`, its `id:` (what a
    reconnecting client sends back) and `data:` the event as the diagnostics endpoint shows it."""
    return ServerSentEvent(data=json.dumps(item), event="diagnostic", id=event_id_of(position)).encode()


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
        """`changes.version` when the last read that caught up with the store began: it saw what was
        stored before that wake-up."""
        self.read_at = float("-inf")
        """The event loop's time when that read began."""
        self.streams = 0
        self._lock = asyncio.Lock()

    def fresh(self, version: int, since: float) -> bool:
        """Whether a read that caught up with the store began at change `version` or later, and after loop
        time `since`."""
        return self.read_version >= version and self.read_at > since

    async def refresh(self, position: Position, version: int, since: float = float("-inf")) -> None:
        """Read the next batch stored since the last read for a stream at `position`, unless the feed holds
        rows after it (to take first) or `fresh(version, since)`: the streams a change wakes all ask, and
        the first read serves them all. A read counts (`read_version`, `read_at`) only once it has caught
        up with the store: one cancelled (its client went away) or failed leaves the feed asking again,
        and a burst is read a batch per call, taken by the streams between batches."""
        async with self._lock:
            if self.position > position or self.fresh(version, since):
                return
            began = self.changes.version(self.server), asyncio.get_running_loop().time()
            found = await self.store.received_after(self.server, self.position, limit=FEED_BATCH)
            for received, event_id, item in found:
                self.rows.append(_Row((received, event_id), item))
            if found:
                self.position = self.rows[-1].position
            while len(self.rows) > KEEP:
                self.floor = self.rows.popleft().position
            if len(found) < FEED_BATCH:
                self.read_version, self.read_at = began

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


async def diagnostics_stream(
    feeds: LiveFeeds,
    server: str,
    *,
    user_id: str | None,
    staff: bool,
    after: Position | None,
    poll_s: float,
    stopping: StreamsStopping,
) -> AsyncIterator[bytes]:
    """SSE messages of `server`'s new events as the caller may see them, from `after` (default: now): each
    chunk is the messages of one look at the feed or the store, sent in one write."""
    store, changes = feeds.store, feeds.changes
    loop = asyncio.get_running_loop()
    feed = feeds.open(server)
    position = after or (to_ms(store.clock()), "")
    wake = changes.subscribe(server)
    stopping.watch(wake)
    # What the next look at the feed needs: a read begun at this change version, and at this time or later.
    version, since = changes.version(server), loop.time()
    try:
        while not stopping.is_set():
            await feed.refresh(position, version, since)
            rows = feed.after(position)
            if rows is None:
                # Behind what the feed keeps: this stream's own scope from the store, until it catches up.
                read = feed.position  # what the feed had read before this read began
                found = await store.received_after(server, position, user_id=user_id, limit=BATCH)
                if found:
                    yield b"".join(
                        message((received, event_id), item if staff else strip_detail(item))
                        for received, event_id, item in found
                    )
                    position = (found[-1][0], found[-1][1])
                if len(found) < BATCH:
                    position = max(position, read)  # all this caller may see up to there is sent
            else:
                chunk = b"".join(
                    row.message(staff) for row in rows if user_id is None or row.user in ("", user_id)
                )
                if rows:
                    position = rows[-1].position
                if chunk:
                    yield chunk
            wake.clear()
            version, since = changes.version(server), float("-inf")
            if feed.position > position or not feed.fresh(version, since) or rows is None:
                continue  # read meanwhile, stored meanwhile, or more to read from the store
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await wake.wait()  # a change of the server, or the end (`StreamsStopping` sets it)
            # Woken: a read begun after the wake-up will do. A poll (another replica's events wake nobody
            # here): a read begun from now on.
            version = changes.version(server)
            since = float("-inf") if wake.is_set() else loop.time()
    finally:
        stopping.forget(wake)
        changes.unsubscribe(server, wake)
        feeds.close(feed)
