"""One behaviour suite for every EventStore backend (SQLite file, MongoDB via mongomock or a real mongod)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import sqlite3
import tracemalloc
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mcpdiag.collector import create_collector_app
from mcpdiag.emitters import DiagnosticEvent, Severity, format_ts
from mcpdiag.store import (
    EventQuery,
    EventStore,
    InvalidCursorError,
    InvalidQueryError,
    MongoEventStore,
    SQLiteEventStore,
)
from mcpdiag.store import sqlite as sqlite_store
from mcpdiag.store.base import to_ms
from mcpdiag.store.cursor import cursor_key_from_secret
from mcpdiag.store.sqlite_sql import build_select, read_json_chunk
from tests.collector.support import asgi_client, new_key, settings_for, wire_events
from tests.factories import FakeClock, make_event


async def walk(store: EventStore, query: EventQuery) -> list[dict[str, object]]:
    """Every item of every page of `query`, following cursors."""
    items: list[dict[str, object]] = []
    cursor = None
    for _ in range(10_000):
        page = await store.page(replace(query, cursor=cursor))
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def ids(items: list[dict[str, object]]) -> list[object]:
    return [item["id"] for item in items]


async def test_append_returns_only_newly_stored_and_is_idempotent_on_id(store: EventStore) -> None:
    first = [make_event() for _ in range(10)]
    assert await store.append(first) == 10
    again = first + [make_event() for _ in range(5)]
    assert await store.append(again) == 5
    assert await store.append([]) == 0
    assert len(await walk(store, EventQuery(server="github", limit=200))) == 15


async def test_stored_event_round_trips_as_the_wire_dict(store: EventStore) -> None:
    event = make_event(user_id="alice", tool="search", http_status=502, duration_ms=12.5, span_id="ab" * 8)
    await store.append([event])
    page = await store.page(EventQuery(server="github"))
    assert page.items == [event.to_wire()]
    assert DiagnosticEvent.model_validate(page.items[0]) == event


async def test_page_is_newest_first_and_ties_on_ts_are_broken_by_id(
    store: EventStore, clock: FakeClock
) -> None:
    same_ts = clock.now - timedelta(minutes=5)
    tied = [make_event(ts=same_ts) for _ in range(7)]
    older = [make_event(ts=same_ts - timedelta(seconds=i + 1)) for i in range(3)]
    await store.append(tied + older)
    items = await walk(store, EventQuery(server="github", limit=3))
    expected = sorted(tied + older, key=lambda e: (e.ts, e.id), reverse=True)
    assert ids(items) == [e.id for e in expected]


async def test_walking_pages_during_concurrent_appends_yields_each_existing_event_once(
    store: EventStore, clock: FakeClock
) -> None:
    rng = random.Random(7)
    base = clock.now - timedelta(hours=2)
    existing = [
        make_event(ts=base + timedelta(seconds=rng.randrange(3600)), user_id=rng.choice(["a", None]))
        for _ in range(300)
    ]
    await store.append(existing)

    async def writer() -> None:
        for _ in range(20):
            # New events land both ahead of and behind the reader's position.
            batch = [make_event(ts=base + timedelta(seconds=rng.randrange(7200))) for _ in range(10)]
            await store.append(batch)
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    seen = await walk(store, EventQuery(server="github", limit=17))
    await task
    seen_ids = ids(seen)
    existing_ids = {e.id for e in existing}
    assert all(seen_ids.count(i) == 1 for i in existing_ids)
    assert len(seen_ids) == len(set(seen_ids))
    keys = [(item["ts"], item["id"]) for item in seen]
    assert keys == sorted(keys, reverse=True)


async def test_user_scope_is_own_events_plus_server_wide(store: EventStore) -> None:
    await store.append(
        [
            make_event(user_id="alice"),
            make_event(user_id="bob"),
            make_event(user_id=None),
            make_event(server="other"),
        ]
    )
    alice = await store.page(EventQuery(server="github", user_id="alice"))
    assert {item["userId"] for item in alice.items} == {"alice", None}
    assert len(alice.items) == 2
    everyone = await store.page(EventQuery(server="github"))
    assert {item["userId"] for item in everyone.items} == {"alice", "bob", None}


async def test_filters_severity_window_codes_and_touchpoints(store: EventStore, clock: FakeClock) -> None:
    t0 = clock.now - timedelta(hours=3)
    events = [
        make_event(code="MCP_CONNECTED", ts=t0),
        make_event(code="MCP_TOOL_ERROR", ts=t0 + timedelta(hours=1), touchpoint="tool_call"),
        make_event(code="MCP_TIMEOUT", ts=t0 + timedelta(hours=2)),
        make_event(code="MCP_TIMEOUT", ts=t0 + timedelta(hours=2, minutes=30), severity="critical"),
    ]
    await store.append(events)

    async def codes(**filters: object) -> list[object]:
        page = await store.page(EventQuery(server="github", **filters))  # type: ignore[arg-type]
        return [item["code"] for item in page.items]

    assert await codes(min_severity=Severity.WARNING) == ["MCP_TIMEOUT", "MCP_TIMEOUT", "MCP_TOOL_ERROR"]
    assert await codes(min_severity=Severity.CRITICAL) == ["MCP_TIMEOUT"]
    assert await codes(since=t0 + timedelta(hours=1), until=t0 + timedelta(hours=2)) == ["MCP_TOOL_ERROR"]
    assert await codes(codes=("MCP_CONNECTED", "MCP_TOOL_ERROR")) == ["MCP_TOOL_ERROR", "MCP_CONNECTED"]
    assert await codes(touchpoints=("tool_call",)) == ["MCP_TOOL_ERROR"]
    assert await codes(touchpoints=("oauth",)) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (EventQuery(server="github", limit=0), "limit"),
        (EventQuery(server="github", limit=201), "limit"),
        (EventQuery(server=None), "server"),
    ],
)
async def test_out_of_range_queries_name_the_field(store: EventStore, query: EventQuery, field: str) -> None:
    with pytest.raises(InvalidQueryError) as err:
        await store.page(query)
    assert err.value.field == field


async def test_tampered_truncated_or_foreign_cursor_is_rejected(store: EventStore) -> None:
    await store.append([make_event(user_id="alice") for _ in range(5)])
    page = await store.page(EventQuery(server="github", limit=2))
    assert page.next_cursor
    flipped = page.next_cursor[:-3] + ("A" if page.next_cursor[-3] != "A" else "B") + page.next_cursor[-2:]
    for bad in (flipped, page.next_cursor[:-4], "not a cursor!", "e30"):
        with pytest.raises(InvalidCursorError):
            await store.page(EventQuery(server="github", limit=2, cursor=bad))
    with pytest.raises(InvalidCursorError, match="different query"):
        await store.page(EventQuery(server="github", user_id="alice", limit=2, cursor=page.next_cursor))


def _mint(key: bytes, payload: object) -> str:
    """A cursor for `payload`, MAC'd the way the code signs them, with `key`."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    mac = hmac.new(key, raw, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(raw + mac).rstrip(b"=").decode()


LEGACY_KEY = b"mcpdiag-cursor-v1"
"""The constant the first version signed every deployment's cursors with: public, so forgeable."""


@pytest.mark.parametrize(
    "position",
    [
        [10**30, "01ABC"],  # beyond SQLite's 64-bit integers
        [-(2**63) - 1, "01ABC"],
        [1.5, "01ABC"],
        [True, "01ABC"],
        [None, "01ABC"],
        [1_700_000_000_000, ""],
        [1_700_000_000_000, "x" * 10_000],
        [1_700_000_000_000, "\u0000' OR 1=1 --"],
        [1_700_000_000_000, ["not", "a", "string"]],
        [253_402_300_800_000, "01ABC"],  # past 9999-12-31
    ],
)
async def test_forged_cursor_positions_are_refused_not_queried(
    store: EventStore, position: list[object]
) -> None:
    """A cursor is checked for what it names, not only for its MAC: a store's own key signing a position
    no event can have (out-of-range time, non-integer, an id no store writes) is still refused."""
    await store.append([make_event() for _ in range(3)])
    query = EventQuery(server="github", limit=2)
    codec = await store.cursors()
    forged = _mint(codec._key, [*position, query.fingerprint()])
    with pytest.raises(InvalidCursorError):
        await store.page(EventQuery(server="github", limit=2, cursor=forged))


async def test_cursors_are_signed_with_the_deployments_own_key(store: EventStore, tmp_path: Path) -> None:
    """A cursor minted with the old public constant, or by another deployment, is refused; the key a
    store keeps survives a restart, so replicas and restarted processes resume each other's cursors."""
    await store.append([make_event() for _ in range(5)])
    query = EventQuery(server="github", limit=2)
    page = await store.page(query)
    assert page.next_cursor
    ts_ms, event_id = (await store.cursors()).decode(page.next_cursor, query.fingerprint())
    with pytest.raises(InvalidCursorError, match="made elsewhere"):
        await store.page(
            EventQuery(
                server="github", limit=2, cursor=_mint(LEGACY_KEY, [ts_ms, event_id, query.fingerprint()])
            )
        )
    other = SQLiteEventStore(tmp_path / "other-deployment.db")
    await other.ensure_schema()
    assert (await other.cursors())._key != (await store.cursors())._key
    await other.close()
    if isinstance(store, SQLiteEventStore):
        again = SQLiteEventStore(store.path)
        resumed = await again.page(EventQuery(server="github", limit=2, cursor=page.next_cursor))
        assert resumed.items
        await again.close()
    configured = SQLiteEventStore(
        tmp_path / "configured.db", cursor_key=cursor_key_from_secret("s3cr3t-value")
    )
    assert (await configured.cursors())._key == cursor_key_from_secret("s3cr3t-value")
    await configured.close()


async def test_by_trace_finds_full_id_event_id_and_prefix_oldest_first(
    store: EventStore, clock: FakeClock
) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    t0 = clock.now - timedelta(minutes=10)
    chain = [
        make_event(trace_id=trace, ts=t0 + timedelta(seconds=s), code=c)
        for s, c in ((2, "MCP_TIMEOUT"), (1, "MCP_CONNECTED"))
    ]
    sibling = make_event(trace_id="4bf92f35" + "1" * 24)
    await store.append([*chain, sibling, make_event()])
    full = await store.by_trace(trace)
    assert [item["code"] for item in full] == ["MCP_CONNECTED", "MCP_TIMEOUT"]
    assert await store.by_trace(trace.upper()) == full
    assert ids(await store.by_trace(chain[0].id)) == [chain[0].id]
    assert {item["traceId"] for item in await store.by_trace("4bf92f35")} == {trace, sibling.trace_id}
    assert await store.by_trace("4bf92f3577b3") == full
    assert await store.by_trace("deadbeefdeadbeef") == []
    for bad in ("4bf92", "", "x" * 65, "drop table; --"):
        with pytest.raises(InvalidQueryError):
            await store.by_trace(bad)


async def test_expired_events_are_hidden_before_purge_and_deleted_by_it(
    store: EventStore, clock: FakeClock
) -> None:
    old = clock.now - timedelta(days=8)
    info_old = make_event(code="MCP_CONNECTED", ts=old, user_id="alice")
    error_old = make_event(code="MCP_TIMEOUT", ts=old, user_id="alice")
    fresh = make_event(code="MCP_CONNECTED", ts=clock.now - timedelta(minutes=1), user_id="alice")
    await store.append([info_old, error_old, fresh])
    # 7-day retention for info, 14 for errors: the old info event is gone from every read path at once.
    page = await store.page(EventQuery(server="github"))
    assert set(ids(page.items)) == {error_old.id, fresh.id}
    assert await store.by_trace(info_old.trace_id) == []
    assert [e async for e in store.iter(EventQuery(server="github"))].__len__() == 2
    last = await store.last_events(["github"], codes=("MCP_CONNECTED",))
    assert last["github"]["id"] == fresh.id
    summary = await store.summary("github", old - timedelta(days=1))
    assert summary.total == 2
    # MongoDB's own TTL monitor (emulated by mongomock) may have removed expired documents already.
    purged = await store.purge_expired()
    assert purged == 1 if isinstance(store, SQLiteEventStore) else purged <= 1
    assert await stored_count(store) == 2
    clock.advance(days=7)
    assert (await store.page(EventQuery(server="github"))).items == []
    await store.purge_expired()
    assert await stored_count(store) == 0
    assert await store.purge_expired() == 0


async def stored_count(store: EventStore) -> int:
    """Rows physically present, expired or not (backend internals, for retention tests only)."""
    if isinstance(store, SQLiteEventStore):
        import sqlite3

        with sqlite3.connect(store.path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    assert isinstance(store, MongoEventStore)
    return int(await store.events.count_documents({}))


async def test_last_events_returns_latest_match_per_server_in_user_scope(
    store: EventStore, clock: FakeClock
) -> None:
    t = clock.now - timedelta(minutes=30)
    await store.append(
        [
            make_event(server="a", code="MCP_CONNECTED", ts=t, user_id="alice"),
            make_event(server="a", code="MCP_TIMEOUT", ts=t + timedelta(minutes=1), user_id="bob"),
            make_event(server="a", code="MCP_DNS_FAILURE", ts=t + timedelta(minutes=2), user_id=None),
            make_event(server="b", code="MCP_TOOL_ERROR", ts=t, user_id="alice", touchpoint="tool_call"),
        ]
    )
    everyone = await store.last_events(["a", "b", "c"])
    assert {k: v["code"] for k, v in everyone.items()} == {"a": "MCP_DNS_FAILURE", "b": "MCP_TOOL_ERROR"}
    alice = await store.last_events(["a", "b"], user_id="alice", touchpoints=("connect", "lifecycle"))
    assert {k: v["code"] for k, v in alice.items()} == {"a": "MCP_DNS_FAILURE"}
    bob_errors = await store.last_events(
        ["a"], user_id="bob", min_severity=Severity.ERROR, codes=("MCP_TIMEOUT",)
    )
    assert bob_errors["a"]["userId"] == "bob"


async def test_last_events_match_a_page_per_server_for_many_servers_and_scopes(
    store: EventStore, clock: FakeClock
) -> None:
    """The one-query answer for a list of servers is, server by server, the newest event a page of that
    server's events would start with — in every scope and filter, for servers with and without events."""
    rng = random.Random(7)
    t = clock.now - timedelta(hours=1)
    events = [
        make_event(
            server=f"s{rng.randrange(12)}",
            code=rng.choice(["MCP_CONNECTED", "MCP_TIMEOUT", "MCP_TOOL_ERROR", "MCP_DNS_FAILURE"]),
            user_id=rng.choice([None, "alice", "bob"]),
            ts=t + timedelta(seconds=rng.randrange(600)),
        )
        for _ in range(300)
    ]
    await store.append(events)
    servers = [f"s{i}" for i in range(14)]  # s12 and s13 have no events
    for user_id in (None, "alice"):
        for min_severity in (None, Severity.WARNING):
            found = await store.last_events(servers, user_id=user_id, min_severity=min_severity)
            for server in servers:
                page = await store.page(
                    EventQuery(server=server, user_id=user_id, min_severity=min_severity, limit=1)
                )
                expected = page.items[0]["id"] if page.items else None
                assert (found[server]["id"] if server in found else None) == expected, (server, user_id)


async def test_summaries_of_many_servers_equal_each_servers_summary(
    store: EventStore, clock: FakeClock
) -> None:
    t = clock.now - timedelta(hours=3)
    rng = random.Random(11)
    await store.append(
        [
            make_event(
                server=f"s{i % 5}",
                code=rng.choice(["MCP_CONNECTED", "MCP_TIMEOUT", "MCP_SERVER_ERROR"]),
                user_id=rng.choice([None, "alice"]),
                ts=t + timedelta(minutes=i),
            )
            for i in range(120)
        ]
    )
    servers = ["s0", "s1", "s2", "s3", "s4", "none"]
    for user_id in (None, "alice"):
        since = t + timedelta(minutes=30)
        batch = await store.summaries(servers, since, user_id=user_id)
        for server in servers:
            one = await store.summary(server, since, user_id=user_id)
            assert batch[server] == one, server


async def test_summaries_count_occurrences_not_rows(store: EventStore, clock: FakeClock) -> None:
    """An event standing for coalesced repeats (`count`) counts as many as it stands for."""
    t = clock.now - timedelta(minutes=20)
    await store.append(
        [
            make_event(code="MCP_TIMEOUT", ts=t, count=40, first_ts=t, last_ts=t + timedelta(seconds=9)),
            make_event(code="MCP_TIMEOUT", ts=t + timedelta(minutes=1)),
            make_event(code="MCP_CONNECTED", ts=t + timedelta(minutes=2)),
        ]
    )
    summary = await store.summary("github", t - timedelta(minutes=1))
    assert summary.by_code["MCP_TIMEOUT"].count == 41 and summary.total == 42
    assert (await store.summaries(["github"], t - timedelta(minutes=1)))["github"] == summary
    page = await store.page(EventQuery(server="github", oldest_first=True))
    assert (page.items[0]["count"], page.items[0]["lastTs"]) == (40, format_ts(t + timedelta(seconds=9)))


async def test_the_server_list_pages_in_name_order(store: EventStore) -> None:
    names = [f"srv-{i:03d}" for i in range(25)] + ["Zeta", "alpha", "ünïcode"]
    await store.append([make_event(server=name) for name in names])
    assert await store.list_servers() == sorted(names)
    walked: list[str] = []
    after = None
    while page := await store.list_servers(after=after, limit=7):
        assert len(page) <= 7
        walked += page
        after = page[-1]
    assert walked == sorted(names)
    assert await store.has_server("srv-007") and not await store.has_server("srv-999")


async def test_summary_counts_by_code_and_severity_with_first_last_seen(
    store: EventStore, clock: FakeClock
) -> None:
    t = clock.now - timedelta(hours=2)
    await store.append(
        [
            make_event(code="MCP_TIMEOUT", ts=t),
            make_event(code="MCP_TIMEOUT", ts=t + timedelta(minutes=5)),
            make_event(code="MCP_TIMEOUT", ts=t + timedelta(minutes=9), severity="critical"),
            make_event(code="MCP_CONNECTED", ts=t + timedelta(minutes=1)),
            make_event(
                code="MCP_TOOL_ERROR", ts=t + timedelta(minutes=2), user_id="bob", touchpoint="tool_call"
            ),
            make_event(code="MCP_TIMEOUT", ts=t - timedelta(days=1)),
            make_event(code="MCP_TIMEOUT", ts=t, server="other"),
        ]
    )
    summary = await store.summary("github", t)
    assert summary.total == 5
    assert summary.error_count == 3
    assert summary.by_severity == {"error": 2, "critical": 1, "info": 1, "warning": 1}
    timeout = summary.by_code["MCP_TIMEOUT"]
    assert (timeout.count, timeout.first_seen, timeout.last_seen) == (3, t, t + timedelta(minutes=9))
    assert summary.last_error is not None and summary.last_error["severity"] == "critical"
    alice = await store.summary("github", t, user_id="alice")
    assert "MCP_TOOL_ERROR" not in alice.by_code and alice.total == 4


async def test_list_servers_names_every_server_with_events(store: EventStore) -> None:
    assert await store.list_servers() == []
    await store.append([make_event(server=s) for s in ("zeta", "alpha", "zeta", "mid server")])
    assert await store.list_servers() == ["alpha", "mid server", "zeta"]


async def test_iter_walks_a_large_scope_in_order_with_flat_memory(
    store: EventStore, clock: FakeClock, backend: str
) -> None:
    emulated = backend == "mongomock"
    # mongomock filters and sorts the whole collection in Python for every chunk, so it gets a smaller
    # scope; SQLite and a real mongod walk 50k events.
    total, chunk = (10_000, 2_000) if emulated else (50_000, 1_000)
    base = clock.now - timedelta(days=1)
    if emulated:
        # mongomock re-checks its TTL index on every inserted document (quadratic); load first, index after.
        assert isinstance(store, MongoEventStore)
        await store.events.drop_index("ttl_expireAt")
    for start in range(0, total, 2500):
        await store.append(
            [
                make_event(ts=base + timedelta(milliseconds=i * 997), user_id="u")
                for i in range(start, start + 2500)
            ]
        )
    if emulated:
        await store.ensure_schema()
    # tracemalloc slows mongomock's pure-Python engine tenfold; the emulator is checked for order and count.
    traced = not emulated
    if traced:
        tracemalloc.start()
    try:
        count, previous, peak_after_first = 0, None, 0
        async for item in store.iter(EventQuery(server="github", oldest_first=True), chunk_size=chunk):
            key = (item["ts"], item["id"])
            assert previous is None or key > previous
            previous = key
            count += 1
            if count == chunk and traced:
                peak_after_first = tracemalloc.get_traced_memory()[1]
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        tracemalloc.stop()
    assert count == total
    # Memory is bounded by one chunk: the peak over all 50k events stays near the peak after the first chunk.
    assert peak <= peak_after_first * 2 + 2_000_000


async def test_ping_answers_and_closed_store_refuses(store: EventStore) -> None:
    await store.ping()
    if isinstance(store, SQLiteEventStore):
        await store.close()
        from mcpdiag.store import StoreUnavailableError

        with pytest.raises(StoreUnavailableError):
            await store.ping()


async def test_page_and_iter_queries_use_indexes(store: EventStore) -> None:
    await store.append([make_event(user_id="alice") for _ in range(20)])
    if isinstance(store, SQLiteEventStore):
        for query in (
            EventQuery(server="github"),
            EventQuery(server="github", user_id="alice", min_severity=Severity.ERROR),
            EventQuery(server="github", oldest_first=True, codes=("MCP_TIMEOUT",)),
        ):
            plan = await store.explain(query)
            searches = [step for step in plan if "events" in step.split("(")[0]]
            assert searches and all(
                s.startswith("SEARCH events USING INDEX ix_events_server") for s in searches
            ), plan
    else:
        assert isinstance(store, MongoEventStore)
        indexes = await store.index_info()
        assert indexes["ttl_expireAt"]["expireAfterSeconds"] == 0
        assert list(indexes["ttl_expireAt"]["key"].items()) == [("expireAt", 1)]
        assert list(indexes["server_user_ts"]["key"].items()) == [
            ("server", 1),
            ("userId", 1),
            ("ts", -1),
            ("_id", -1),
        ]
        assert list(indexes["server_ts"]["key"].items()) == [("server", 1), ("ts", -1), ("_id", -1)]
        assert "traceId" in indexes and "_id_" in indexes


def audit_record(at: datetime, n: int, actor: str = "sam") -> dict[str, object]:
    """An audit record as `mcpdiag.api.audit` writes it."""
    return {
        "id": f"aud-{n:04d}",
        "at": format_ts(at),
        "actor": actor,
        "role": "support",
        "action": "debug_id_lookup",
        "target": "4bf92f3577b34da6",
        "scope": {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "servers": ["github"]},
        "resultCount": n,
        "requestId": f"req-{n}",
    }


async def test_audit_records_round_trip_newest_first_with_cursor_pages(
    store: EventStore, clock: FakeClock
) -> None:
    t0 = clock.now - timedelta(hours=1)
    records = [audit_record(t0 + timedelta(seconds=i // 2), i) for i in range(25)]
    for record in random.Random(3).sample(records, len(records)):
        await store.append_audit(record)
    await store.append_audit(records[0])  # the same id again is kept once
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        page = await store.audit_page(limit=7, cursor=cursor)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = sorted(records, key=lambda r: (str(r["at"]), str(r["id"])), reverse=True)
    assert seen == expected
    with pytest.raises(InvalidCursorError):
        await store.audit_page(cursor=(await store.page(EventQuery(server="x"))).next_cursor or "bogus")
    with pytest.raises(InvalidQueryError):
        await store.audit_page(limit=0)


async def test_audit_records_expire_after_the_audit_retention(store: EventStore, clock: FakeClock) -> None:
    await store.append_audit(audit_record(clock.now - timedelta(days=91), 1))
    await store.append_audit(audit_record(clock.now - timedelta(days=1), 2))
    assert [r["id"] for r in (await store.audit_page()).items] == ["aud-0002"]
    with pytest.raises(InvalidQueryError):
        await store.append_audit({"id": "x", "at": "yesterday"})


async def lines(store: EventStore, query: EventQuery, chunk_size: int = 1000) -> list[str]:
    return [line async for batch in store.iter_json_batches(query, chunk_size=chunk_size) for line in batch]


async def test_iter_json_batches_yields_each_event_of_iter_as_one_json_line(
    store: EventStore, clock: FakeClock
) -> None:
    base = clock.now - timedelta(hours=1)
    events = [
        make_event(ts=base + timedelta(seconds=i), user_id="alice" if i % 3 else None, detail=f"line {i} é\n")
        for i in range(25)
    ]
    await store.append(events)
    query = EventQuery(server="github", user_id="alice", oldest_first=True)
    docs = [doc async for doc in store.iter(query, chunk_size=4)]
    batches = [batch async for batch in store.iter_json_batches(query, chunk_size=4)]
    texts = [line for batch in batches for line in batch]
    assert len(docs) == 25 and [json.loads(line) for line in texts] == docs
    assert all("\n" not in line and "\r" not in line for line in texts)
    # At most `chunk_size` lines at a time, never an empty batch.
    assert [len(b) for b in batches] == [4] * 6 + [1]
    # Exactly one chunk, an empty scope, and newest first behave like `iter` too.
    assert [json.loads(x) for x in await lines(store, query, 25)] == docs
    assert [b async for b in store.iter_json_batches(EventQuery(server="nobody", oldest_first=True))] == []
    newest = EventQuery(server="github")
    assert [json.loads(x) for x in await lines(store, newest, 7)] == [
        d async for d in store.iter(newest, chunk_size=7)
    ]


async def test_iter_json_batches_can_be_abandoned_midway(store: EventStore) -> None:
    await store.append([make_event() for _ in range(30)])
    batches = store.iter_json_batches(EventQuery(server="github", oldest_first=True), chunk_size=5)
    taken = [line for _ in range(2) for line in await anext(batches)]
    await batches.aclose()
    assert len({json.loads(line)["id"] for line in taken}) == 10
    # The store is still usable afterwards (no read left behind holds it).
    assert len(await lines(store, EventQuery(server="github"))) == 30


async def test_sqlite_chunks_with_a_multiline_document_are_read_row_by_row(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The chunk read joins documents with newlines; one holding a newline (not written by the collector,
    which stores compact JSON) makes that chunk be read row by row: every document once, in order."""
    store = SQLiteEventStore(tmp_path / "events.db", clock=clock)
    await store.ensure_schema()
    await store.append([make_event(ts=clock.now - timedelta(minutes=i)) for i in range(12)])
    query = EventQuery(server="github", oldest_first=True)
    docs = [doc async for doc in store.iter(query)]
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE events SET doc = ? WHERE id = ?", (json.dumps(docs[5], indent=2), docs[5]["id"]))
    got = await lines(store, query, 5)
    assert [json.loads(line) for line in got] == docs and "\n" in got[5]
    await store.close()


@pytest.mark.parametrize("oldest_first", [True, False])
async def test_sqlite_chunks_in_order_are_read_in_one_statement(
    tmp_path: Path, clock: FakeClock, oldest_first: bool
) -> None:
    """The concatenated read is what runs (one statement per chunk) when the rows come back in order, in
    either direction; its documents and last (ts, id) are those of the row by row read."""
    store = SQLiteEventStore(tmp_path / "events.db", clock=clock)
    await store.ensure_schema()
    await store.append([make_event(ts=clock.now - timedelta(seconds=i % 7)) for i in range(30)])
    query = EventQuery(server="github", oldest_first=oldest_first).checked(paged=False)
    sql, params = build_select(query, to_ms(clock.now), after=None, limit=20)
    statements: list[str] = []
    with sqlite3.connect(store.path) as conn:
        conn.set_trace_callback(statements.append)
        docs, last, chars = read_json_chunk(conn, sql, params, newest_first=not oldest_first)
        conn.set_trace_callback(None)
        rows = conn.execute(sql, params).fetchall()
    assert len(statements) == 1 and "group_concat" in statements[0]
    assert docs == [doc for _, _, doc in rows] and last == (rows[-1][0], rows[-1][1])
    assert chars == sum(len(doc) for doc in docs)
    await store.close()


async def test_sqlite_walk_reads_fewer_large_documents_at_a_time(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read holds about CHUNK_CHARS characters: with large documents the batches shrink, none is lost."""
    monkeypatch.setattr(sqlite_store, "CHUNK_CHARS", 20_000)
    store = SQLiteEventStore(tmp_path / "events.db", clock=clock)
    await store.ensure_schema()
    await store.append(
        [make_event(ts=clock.now - timedelta(seconds=i), detail="x" * 4000) for i in range(40)]
    )
    query = EventQuery(server="github", oldest_first=True)
    sizes = [len(b) async for b in store.iter_json_batches(query, chunk_size=10)]
    assert sizes[0] == 10 and max(sizes[1:]) < 10 and sum(sizes) == 40
    assert [json.loads(x) for x in await lines(store, query, 10)] == [d async for d in store.iter(query)]
    await store.close()


async def test_problems_group_failures_by_fingerprint_counting_occurrences_and_users(
    store: EventStore, clock: FakeClock
) -> None:
    """Problems equal a brute-force grouping of the raw events: counts (with `count`), first and last
    seen, distinct users, server-wide, the newest Debug ID, and a trend that sums to the count."""
    rng = random.Random(3)
    since, until = clock.now - timedelta(hours=6), clock.now
    events = []
    for _ in range(400):
        ts = since + timedelta(seconds=rng.randrange(6 * 3600))
        coalesced = rng.random() < 0.1
        events.append(
            make_event(
                server=rng.choice(["a", "b"]),
                code=rng.choice(["MCP_TIMEOUT", "MCP_TOOL_ERROR", "MCP_SERVER_ERROR", "MCP_CONNECTED"]),
                touchpoint=rng.choice(["connect", "tool_call"]),
                tool=rng.choice([None, "search"]),
                user_id=rng.choice([None, "alice", "bob", "carol"]),
                ts=ts,
                **({"count": 7, "first_ts": ts, "last_ts": ts} if coalesced else {}),
            )
        )
    await store.append(events)
    await store.append(events[:50])  # re-sent: already counted
    problems = await store.problems(None, since, until, buckets=6)
    expected: dict[tuple[str, str, str, str | None], list[DiagnosticEvent]] = {}
    for event in events:
        if event.severity.rank >= Severity.WARNING.rank:
            expected.setdefault((event.server, event.code, event.touchpoint.value, event.tool), []).append(
                event
            )
    assert {(p.server, p.code, p.touchpoint, p.tool) for p in problems} == set(expected)
    for problem in problems:
        group = expected[(problem.server, problem.code, problem.touchpoint, problem.tool)]
        newest = max(group, key=lambda e: (e.ts, e.id))
        assert problem.count == sum(e.count for e in group) == sum(problem.trend)
        assert problem.users == len({e.user_id for e in group if e.user_id})
        assert problem.server_wide == any(e.user_id is None for e in group)
        assert (problem.latest_trace_id, problem.latest_event_id) == (newest.trace_id, newest.id)
        assert problem.first_seen == min(e.ts for e in group) and problem.last_seen == newest.ts
    assert [p.count for p in problems] == sorted((p.count for p in problems), reverse=True)
    # A user's view counts their own and server-wide events only.
    mine = await store.problems(["a"], since, until, user_id="alice")
    for problem in mine:
        group = expected[(problem.server, problem.code, problem.touchpoint, problem.tool)]
        assert problem.count == sum(e.count for e in group if e.user_id in (None, "alice"))
        assert problem.users <= 1


async def test_timelines_count_occurrences_per_bucket_by_severity_and_expire(
    store: EventStore, clock: FakeClock
) -> None:
    start = clock.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    await store.append(
        [
            make_event(server="a", ts=start + timedelta(minutes=5), severity="error"),
            make_event(server="a", ts=start + timedelta(hours=2, minutes=5), severity="warning", count=5,
                       first_ts=start + timedelta(hours=2), last_ts=start + timedelta(hours=2, minutes=5)),
            make_event(server="b", ts=start + timedelta(hours=3, minutes=1), code="MCP_CONNECTED"),
        ]
    )  # fmt: skip
    series = await store.timeline(None, start, start + timedelta(hours=4), buckets=4)
    assert series == {"a": {"error": [1, 0, 0, 0], "warning": [0, 0, 5, 0]}, "b": {"info": [0, 0, 0, 1]}}
    assert await store.timeline(["b"], start, start + timedelta(hours=4), buckets=2) == {
        "b": {"info": [0, 1]}
    }
    clock.advance(days=8)  # the warning and the info are past their 7 days; the error keeps 14
    later = await store.timeline(None, start, start + timedelta(hours=4), buckets=4)
    assert later == {"a": {"error": [1, 0, 0, 0]}}
    await store.purge_expired()
    assert await store.timeline(None, start, start + timedelta(hours=4), buckets=4) == later


def edge_events() -> list[DiagnosticEvent]:
    """Events at the edges of what the contract admits: every one of them must be storable."""
    return [
        make_event(
            detail="replaced: \ufffd, astral: \U0001f600, NUL: \x00, RTL: \u202e", server="s\u00e9rver"
        ),
        make_event(
            attrs={"max": 2**63 - 1, "min": -(2**63), "tiny": 5e-324, "big": 1.7e308, "none": None},
            server="s\u00e9rver",
        ),
        make_event(
            attrs={f"k{i}\ufffd": "v" * 300 for i in range(32)}, detail="d" * 4096, server="s\u00e9rver"
        ),
    ]


async def test_every_event_the_contract_admits_is_stored_and_read_back_unchanged(store: EventStore) -> None:
    events = edge_events()
    assert await store.append(events) == len(events)
    page = await store.page(EventQuery(server="s\u00e9rver", limit=10, oldest_first=True))
    assert sorted(page.items, key=lambda e: str(e["id"])) == sorted(
        (e.to_wire() for e in events), key=lambda e: str(e["id"])
    )


@pytest.mark.parametrize(
    ("attrs", "field"),
    [({"path": "/srv/\udcff"}, "attrs"), ({"big": 2**63}, "attrs"), ({"small": -(2**63) - 1}, "attrs")],
    ids=["lone-surrogate", "int-over-64-bits", "int-under-64-bits"],
)
def test_an_event_no_store_could_encode_is_refused_by_the_contract_itself(
    attrs: dict[str, Any], field: str
) -> None:
    """Neither UTF-8 (JSON, SQLite, BSON) holds a lone surrogate nor BSON an int beyond 64 bits: such an event
    cannot be built, so no store (or the spool) is ever handed one and mistakes it for an outage."""
    with pytest.raises(ValidationError) as err:
        make_event(attrs=attrs)
    assert {str(e["loc"][0]) for e in err.value.errors()} == {field}


async def test_ingest_stores_replaced_surrogates_and_refuses_an_unstorable_int_by_index(
    store: EventStore, tmp_path: Path
) -> None:
    """Through the collector into each backend: nothing a sender writes makes a store write fail."""
    key = new_key()
    app = create_collector_app(settings_for(tmp_path, key), store)
    events = [{**e, "ts": format_ts(store.clock())} for e in wire_events(4)]  # the store's clock is fixed
    events[1]["attrs"] = {"path": "/srv/\udcff", "k\udcff": "v"}
    events[2]["attrs"] = {"big": 2**70}
    events[3]["detail"] = "read /srv/\udcff"
    async with asgi_client(app, key) as client:
        response = await client.post(
            "/v1/events", content=json.dumps({"events": events}), headers={"content-type": "application/json"}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["accepted"] == 3 and [(r["index"], r["field"]) for r in body["rejected"]] == [
            (2, "attrs")
        ]
        assert "'big'" in body["rejected"][0]["message"]
        health = (await client.get("/healthz")).json()
    assert health["storeHealthy"] is True and health["spoolBatches"] == 0
    stored = {e["id"]: e for e in (await store.page(EventQuery(server="github", limit=10))).items}
    assert set(stored) == {events[0]["id"], events[1]["id"], events[3]["id"]}
    assert stored[events[1]["id"]]["attrs"] == {"path": "/srv/\ufffd", "k\ufffd": "v"}
    assert stored[events[3]["id"]]["detail"] == "read /srv/\ufffd"


async def test_imported_documents_count_in_problems_once(store: EventStore, clock: FakeClock) -> None:
    """An import (kept receive and expiry times) feeds the rollups like `append`: a re-import of the same
    ids, skipped or replaced, counts nothing twice."""
    from mcpdiag.store.documents import stored_document

    t = clock.now - timedelta(minutes=30)
    events = [make_event(code="MCP_TIMEOUT", ts=t + timedelta(seconds=i)) for i in range(5)]
    events.append(
        make_event(code="MCP_TIMEOUT", ts=t, count=10, first_ts=t, last_ts=t + timedelta(seconds=9))
    )
    docs = [
        stored_document(e, received_ms=to_ms(t), expire_ms=to_ms(clock.now + timedelta(days=1)))
        for e in events
    ]
    await store.import_documents(docs)
    await store.import_documents(docs)
    await store.import_documents(docs, conflict="update")
    [problem] = await store.problems(None, t - timedelta(minutes=1), clock.now)
    assert problem.count == 15
    assert (await store.summary("github", t - timedelta(minutes=1))).total == 15


async def test_a_summarys_failures_are_the_events_counts_as_failure_names(
    store: EventStore, clock: FakeClock
) -> None:
    """The card's failure count (`window_counts` over `summary` and `summaries`) is the count of events that
    `counts_as_failure`: a tool error below warning neither counts as a failure nor takes one away, and a
    lifecycle event a host marked error is one."""
    from mcpdiag.api.status import window_counts
    from mcpdiag.emitters.codes import CATALOG, SEVERITY_RANK, counts_as_failure

    t = clock.now - timedelta(hours=2)
    rng = random.Random(7)
    events = [
        make_event(
            code=rng.choice([*sorted(CATALOG), "MCP_SOMETHING_NEW"]),
            severity=rng.choice(list(SEVERITY_RANK)),
            ts=t + timedelta(seconds=i),
            **({"count": 3, "first_ts": t, "last_ts": t + timedelta(seconds=i)} if i % 7 == 0 else {}),
        )
        for i in range(300)
    ]
    events += [
        make_event(code="MCP_TOOL_ERROR", severity="info", ts=t + timedelta(seconds=400 + i))
        for i in range(5)
    ]
    await store.append(events)
    failing = sum(e.count or 1 for e in events if counts_as_failure(e.code, e.severity))
    tools = sum(e.count or 1 for e in events if e.code == "MCP_TOOL_ERROR")
    one = window_counts(await store.summary("github", t - timedelta(minutes=1)), "24h")
    many = window_counts((await store.summaries(["github"], t - timedelta(minutes=1)))["github"], "24h")
    assert (one.failures, one.tool_errors) == (many.failures, many.tool_errors) == (failing, tools)
