"""`EventQuery.tool` on every backend: a problem's occurrences are the events of calls to its tool, in both
scopes, walked page by page with cursors that resume only that query."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from mcpdiag.store import EventQuery, EventStore, InvalidCursorError
from tests.factories import FakeClock, make_event


async def test_only_calls_to_the_tool_are_listed_in_order_across_pages(
    store: EventStore, clock: FakeClock
) -> None:
    rng = random.Random(7)
    events = [
        make_event(
            code="MCP_TIMEOUT",
            touchpoint="tool_call",
            tool=rng.choice(["search", "fetch", None]),
            user_id=rng.choice(["alice", "bob", None]),
            ts=clock.now - timedelta(minutes=i),
        )
        for i in range(120)
    ]
    await store.append(events)
    for user in (None, "alice"):
        query = EventQuery(server="github", user_id=user, tool="search", limit=7)
        walked: list[str] = []
        cursor = None
        while True:
            page = await store.page(replace(query, cursor=cursor))
            walked += [str(item["id"]) for item in page.items]
            assert all(item["tool"] == "search" for item in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(
            (e for e in events if e.tool == "search" and (user is None or e.user_id in (user, None))),
            key=lambda e: (e.ts, e.id),
            reverse=True,
        )
        assert walked == [e.id for e in expected] and walked
        first = await store.page(replace(query, limit=1))
        assert first.next_cursor is not None
        with pytest.raises(InvalidCursorError):  # a cursor of the tool's listing resumes only that listing
            await store.page(
                EventQuery(server="github", user_id=user, tool="fetch", cursor=first.next_cursor)
            )
    assert await store.count(EventQuery(server="github", tool="nothing-calls-this")) == 0
