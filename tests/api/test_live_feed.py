"""Live streams share one read of the store per server (`mcpdiag.api.live.Feed`): every stream still gets
exactly what its own scan of the store in its caller's scope would give, in receipt order, once; a stream
behind what the feed keeps (a resume from before it started, a reader slower than the ingest) catches up
from the store; the store is read once per change however many streams wait, not once per stream.

Real SQLite store, the collector's own `Changes`; the streams are the API's generators, read in tasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mcpdiag.api import live
from mcpdiag.api.live import LiveFeeds, Position, StreamsStopping, diagnostics_stream, event_id_of
from mcpdiag.collector.changes import Changes
from mcpdiag.store import SQLiteEventStore
from tests.factories import make_event
from tests.waiting import PATIENCE_S, eventually

SERVER = "github"
C = TypeVar("C", bound=SQLiteEventStore)
USERS = ("alice", "bob", None)


class Counted(SQLiteEventStore):
    """The store, counting its `received_after` reads."""

    reads = 0

    async def received_after(self, *args: Any, **kwargs: Any) -> list[tuple[int, str, dict[str, Any]]]:
        self.reads += 1
        return await super().received_after(*args, **kwargs)


@asynccontextmanager
async def opened(kind: type[C], path: Path) -> AsyncIterator[C]:
    store = kind(path)
    await store.ensure_schema()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Counted]:
    async with opened(Counted, tmp_path / "events.db") as counted:
        yield counted


class Stream:
    """One stream's generator, read by a task into `got` (what it sent, in order)."""

    def __init__(self, feeds: LiveFeeds, user: str | None, *, after: Position | None = None) -> None:
        self.user = user
        self.stopping = StreamsStopping()
        self.messages = diagnostics_stream(
            feeds, SERVER, user_id=user, staff=user is None, after=after, poll_s=30, stopping=self.stopping
        )
        self.got: list[dict[str, str]] = []
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Stream:
        async def read() -> None:
            async for chunk in self.messages:
                self.got += parse(chunk)

        self.task = asyncio.ensure_future(read())
        return self

    async def take(self, count: int) -> list[dict[str, str]]:
        """Read at least `count` messages without a task (a reader that pulls only when it wants to)."""
        taken: list[dict[str, str]] = []
        while len(taken) < count:
            taken += parse(await anext(self.messages))
        return taken

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.messages.aclose()


def parse(chunk: bytes) -> list[dict[str, str]]:
    """The messages of one chunk a stream wrote (whole messages, `\\r\\n` line ends)."""
    assert chunk.endswith(b"\r\n\r\n"), chunk[-40:]
    messages = []
    for block in chunk.decode().split("\r\n\r\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.split("\r\n"))
        assert fields["event"] == "diagnostic" and set(fields) == {"event", "id", "data"}, fields
        messages.append(fields)
    return messages


async def post(store: Counted, changes: Changes, count: int, *, start: int = 0) -> None:
    """`count` events (alice's, bob's, server-wide in turn), stored and announced as the pipeline does."""
    events = [
        make_event(user_id=USERS[(start + i) % 3], detail=f"support-only {start + i}") for i in range(count)
    ]
    await store.append(events)
    changes.notify([SERVER])


async def scope(store: SQLiteEventStore, user: str | None, after: Position | None = None) -> list[str]:
    """The SSE ids a stream of `user` (None: staff) should send after `after`: the store's own scan."""
    rows, position = [], after
    while True:
        found = await store.received_after(SERVER, position, user_id=user, limit=500)
        rows += found
        if len(found) < 500:
            return [event_id_of((received, event_id)) for received, event_id, _ in rows]
        position = (found[-1][0], found[-1][1])


def ids(stream: Stream) -> list[str]:
    return [message["id"] for message in stream.got]


@pytest.fixture
def feeds(store: Counted) -> LiveFeeds:
    return LiveFeeds(store, Changes())


@pytest.fixture
def small_feeds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(live, "KEEP", 7)
    yield


async def test_every_stream_gets_its_own_scope_in_order_once(store: Counted, feeds: LiveFeeds) -> None:
    start = None  # an empty store: everything stored from here on
    streams = [Stream(feeds, user).start() for user in (*USERS, *USERS, "carol")]
    await asyncio.sleep(0.05)
    for batch in range(12):
        await post(store, feeds.changes, 25, start=batch * 25)
        await asyncio.sleep(0.01 * (batch % 3))
    for stream in streams:
        want = await scope(store, stream.user, start)

        async def complete(stream: Stream = stream, want: list[str] = want) -> bool:
            return len(stream.got) >= len(want)

        await eventually(complete, f"{stream.user}'s stream sends its {len(want)} events")
        assert ids(stream) == want
        shown = [message["data"] for message in stream.got]
        assert all(("support-only" in data) == (stream.user is None) for data in shown)
    assert len(streams[-1].got) == 100  # carol has no event of her own: the server-wide ones
    for stream in streams:
        await stream.stop()
    assert len(feeds) == 0  # the last stream's end drops the feed


async def test_one_read_serves_every_stream_a_change_wakes(store: Counted, feeds: LiveFeeds) -> None:
    streams = [Stream(feeds, USERS[i % 3]).start() for i in range(30)]
    await asyncio.sleep(0.05)
    before = store.reads
    batches = 10
    for batch in range(batches):
        await post(store, feeds.changes, 9, start=batch * 9)

        async def delivered(batch: int = batch) -> bool:
            return all(len(s.got) == (9 if s.user is None else 6) * (batch + 1) for s in streams)

        await eventually(delivered, "every stream has the batch")
    # One read per change (a wake-up that finds the read done costs nothing), not one per stream (300).
    assert store.reads - before <= 2 * batches, store.reads - before
    for stream in streams:
        await stream.stop()


async def test_a_resume_from_before_the_feed_began_catches_up_from_the_store(
    store: Counted, feeds: LiveFeeds
) -> None:
    await post(store, feeds.changes, 30)
    first = Stream(feeds, None).start()  # the feed begins now: the 30 are before it
    await asyncio.sleep(0.05)
    await post(store, feeds.changes, 30, start=30)
    stored = await store.received_after(SERVER, None, limit=100)
    resume = (stored[9][0], stored[9][1])  # Last-Event-ID: the tenth event
    late = Stream(feeds, "alice", after=resume).start()
    want = await scope(store, "alice", resume)

    async def caught_up() -> bool:
        return len(late.got) >= len(want) and len(first.got) >= 30

    await eventually(caught_up, "the resumed stream catches up")
    await post(store, feeds.changes, 6, start=60)
    want = await scope(store, "alice", resume)

    async def live_again() -> bool:
        return len(late.got) >= len(want)

    await eventually(live_again, "the resumed stream then follows the feed")
    assert ids(late) == want
    await late.stop()
    await first.stop()


@pytest.mark.usefixtures("small_feeds")
async def test_a_reader_slower_than_the_ingest_loses_and_repeats_nothing(
    store: Counted, feeds: LiveFeeds
) -> None:
    """The feed keeps 7 rows; a reader that pulls nothing while 60 events arrive (the others read on)."""
    slow = Stream(feeds, "bob")
    fast = Stream(feeds, None).start()
    # The slow reader's first pull opens it (at "now"), with one of bob's events to send; then it pulls
    # nothing while 60 more arrive.
    pull = asyncio.ensure_future(anext(slow.messages))
    await asyncio.sleep(0.05)
    await post(store, feeds.changes, 2, start=1)  # bob's, then a server-wide one
    slow.got += parse(await asyncio.wait_for(pull, PATIENCE_S))
    for batch in range(6):
        await post(store, feeds.changes, 10, start=batch * 10)

    async def fast_done() -> bool:
        return len(fast.got) >= 62

    await eventually(fast_done, "the fast reader has every event")
    want = await scope(store, "bob")
    got = slow.got + await asyncio.wait_for(slow.take(len(want) - len(slow.got)), PATIENCE_S)
    assert [message["id"] for message in got] == want
    assert ids(fast) == await scope(store, None)
    await slow.stop()
    await fast.stop()


def test_a_row_encoded_for_users_first_keeps_its_detail_for_staff() -> None:
    row = live._Row((1, "a"), {"id": "a", "detail": "stack trace", "server": SERVER})
    [user] = parse(row.message(False))
    assert user["id"] == "1.a" and json.loads(user["data"]) == {"id": "a", "server": SERVER}
    [staff] = parse(row.message(True))
    assert json.loads(staff["data"])["detail"] == "stack trace"
    assert parse(row.message(False)) == [user]


class Gated(Counted):
    """The store, whose next `received_after` can be made to hang (until cancelled) or to fail."""

    hang = False
    fail = False
    hung: asyncio.Task[Any] | None = None

    async def received_after(self, *args: Any, **kwargs: Any) -> list[tuple[int, str, dict[str, Any]]]:
        if self.fail:
            self.fail = False
            raise RuntimeError("the store failed for a moment")
        if self.hang:
            self.hang = False
            self.hung = asyncio.current_task()
            await asyncio.Event().wait()
        return await super().received_after(*args, **kwargs)


@pytest.fixture
async def gated(tmp_path: Path) -> AsyncIterator[Gated]:
    async with opened(Gated, tmp_path / "gated.db") as store:
        yield store


@pytest.mark.parametrize("how", ["cancelled", "failed"])
async def test_a_shared_read_that_does_not_finish_leaves_the_others_reading(gated: Gated, how: str) -> None:
    """The stream doing the read for all goes away mid-read (its client disconnected) or its read fails: the
    other streams still get the event at once, not at their next poll (30 s here)."""
    feeds = LiveFeeds(gated, Changes())
    streams = [Stream(feeds, None).start() for _ in range(3)]
    await asyncio.sleep(0.05)
    gated.hang, gated.fail = how == "cancelled", how == "failed"
    await post(gated, feeds.changes, 1)
    if how == "cancelled":

        async def hung() -> bool:
            return gated.hung is not None

        await eventually(hung, "a stream reads for all")
        assert gated.hung is not None
        gated.hung.cancel()
    await asyncio.sleep(0.05)
    survivors = [stream for stream in streams if stream.task is not None and not stream.task.done()]
    assert len(survivors) >= 2

    async def delivered() -> bool:
        return all(len(stream.got) == 1 for stream in survivors)

    await eventually(delivered, "the surviving streams get the event", timeout=10)
    for stream in streams:
        await stream.stop()


async def test_a_burst_is_read_once_a_batch_and_reaches_every_stream(
    store: Counted, feeds: LiveFeeds
) -> None:
    """3,000 events in one write, ten streams: the feed reads them a batch at a time and the streams take
    each batch before the next (none falls behind what the feed keeps and reads the store itself)."""
    streams = [Stream(feeds, None).start() for _ in range(10)]
    await asyncio.sleep(0.05)
    before = store.reads
    for start in range(0, 3000, 500):
        await store.append([make_event(user_id=USERS[i % 3]) for i in range(start, start + 500)])
    feeds.changes.notify([SERVER])

    async def delivered() -> bool:
        return all(len(stream.got) == 3000 for stream in streams)

    await eventually(delivered, "every stream has the burst")
    assert all(ids(stream) == ids(streams[0]) for stream in streams)
    assert store.reads - before <= 3000 // live.FEED_BATCH + 5, store.reads - before
    for stream in streams:
        await stream.stop()
