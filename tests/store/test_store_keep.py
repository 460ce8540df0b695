"""`EventStore.keep` and `expiry` on every backend: a reported or looked-up Debug ID outlives normal
retention, with the hourly rollups that count it, and nothing else is kept longer."""

from __future__ import annotations

from datetime import timedelta

from mcpdiag.store import EventQuery, EventStore
from tests.factories import FakeClock, make_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def _ids(store: EventStore, server: str = "github") -> set[str]:
    page = await store.page(EventQuery(server=server, limit=200))
    return {str(item["id"]) for item in page.items}


async def test_kept_events_survive_retention_and_the_purge(store: EventStore, clock: FakeClock) -> None:
    """Kept events (an error: 14 days, an info: 7) stay readable and stored past their retention, up to the
    kept date; the other events of the same server and hour expire as before."""
    t = clock.now - timedelta(hours=1)
    kept = [
        make_event(trace_id=TRACE, code="MCP_TIMEOUT", ts=t, user_id="alice"),
        make_event(trace_id=TRACE, code="MCP_CONNECTED", ts=t + timedelta(seconds=1), user_id="alice"),
    ]
    other = make_event(code="MCP_TIMEOUT", ts=t + timedelta(seconds=2), user_id="bob")
    await store.append([*kept, other])
    until = clock.now + timedelta(days=90)
    assert await store.keep([e.id for e in kept], until) == until
    clock.advance(days=30)
    await store.purge_expired()
    assert await _ids(store) == {e.id for e in kept}
    assert [e["id"] for e in await store.by_trace(TRACE)] == [e.id for e in kept]
    clock.advance(days=61)
    await store.purge_expired()
    assert await _ids(store) == set()


async def test_keep_only_raises_an_expiry_and_answers_the_earliest(
    store: EventStore, clock: FakeClock
) -> None:
    """A shorter keep leaves a longer one as it was; the answer is the earliest expiry among the events (so
    "kept until" is true of all of them); unknown and expired ids are ignored, an empty list answers None."""
    t = clock.now - timedelta(minutes=5)
    error = make_event(code="MCP_TIMEOUT", ts=t)  # 14 days
    info = make_event(code="MCP_CONNECTED", ts=t)  # 7 days
    await store.append([error, info])
    assert await store.expiry([error.id, info.id]) == t + timedelta(days=7)
    assert await store.keep([error.id, "no-such-id"], clock.now + timedelta(days=3)) == t + timedelta(days=14)
    assert await store.keep([info.id], clock.now + timedelta(days=90)) == clock.now + timedelta(days=90)
    assert await store.keep([info.id], clock.now + timedelta(days=10)) == clock.now + timedelta(days=90)
    assert await store.expiry([error.id, info.id]) == t + timedelta(days=14)
    assert await store.keep([], clock.now + timedelta(days=90)) is None
    assert await store.expiry(["no-such-id"]) is None
    gone = make_event(code="MCP_CONNECTED", ts=clock.now - timedelta(days=8))
    await store.append([gone])
    assert await store.keep([gone.id], clock.now + timedelta(days=90)) is None
    assert await _ids(store) == {error.id, info.id}


async def test_the_rollups_of_kept_events_are_kept_too(store: EventStore, clock: FakeClock) -> None:
    """The problems and timeline of a kept event's hour still count it after its retention; an hour without
    kept events is gone from them as before."""
    hour = clock.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    kept = make_event(
        code="MCP_TIMEOUT", ts=hour + timedelta(minutes=5), touchpoint="tool_call", tool="search"
    )
    later = make_event(code="MCP_TIMEOUT", ts=hour + timedelta(hours=1, minutes=5))
    await store.append([kept, later])
    await store.keep([kept.id], clock.now + timedelta(days=90))
    since, until = hour, hour + timedelta(hours=2)
    clock.advance(days=20)
    await store.purge_expired()
    [problem] = await store.problems(None, since, until, buckets=2)
    assert (problem.tool, problem.count, problem.latest_event_id) == ("search", 1, kept.id)
    assert await store.timeline(None, since, until, buckets=2) == {"github": {"error": [1, 0]}}
