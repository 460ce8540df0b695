"""The bulk methods an export and an import use, on every backend: `count`, `iter_export_lines` and
`import_documents` (which keeps the `receivedAt`/`expireAt` it is given)."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from mcpdiag.emitters import DiagnosticEvent, Severity, format_ts
from mcpdiag.store import EventQuery, EventStore, StoredDocument, stored_document
from mcpdiag.store.base import to_ms
from mcpdiag.store.sqlite_sql import EXPORT_LINE
from tests.factories import FakeClock, make_event
from tests.store.test_store_conformance import walk


def docs_of(events: list[DiagnosticEvent], received: datetime, expire: datetime) -> list[StoredDocument]:
    return [stored_document(e, received_ms=to_ms(received), expire_ms=to_ms(expire)) for e in events]


async def export_lines(
    store: EventStore, query: EventQuery, chunk_size: int = 1000
) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    async for lines in store.iter_export_lines(query, chunk_size=chunk_size):
        assert lines, "no empty chunk"
        out.extend(json.loads(line) for line in lines)
    return out


async def test_count_equals_the_number_of_events_a_walk_finds(store: EventStore, clock: FakeClock) -> None:
    users = [None, "alice", "bob"]
    events = [
        make_event(user_id=users[i % 3], code=("MCP_TIMEOUT", "MCP_CONNECTED")[i % 2],
                   ts=clock.now - timedelta(minutes=i))
        for i in range(60)
    ]  # fmt: skip
    await store.append([*events, make_event(server="jira")])
    queries = [
        EventQuery(server="github"),
        EventQuery(server="github", user_id="alice"),
        EventQuery(server="github", min_severity=Severity.ERROR),
        EventQuery(server="github", since=clock.now - timedelta(minutes=30),
                   until=clock.now - timedelta(minutes=3)),
        EventQuery(server="jira"),
        EventQuery(server="nowhere"),
    ]  # fmt: skip
    for query in queries:
        assert await store.count(query) == len(
            await walk(store, EventQuery(**{**_fields(query), "limit": 200}))
        )
    clock.advance(days=8)  # the info events expire, the errors (14 days) do not
    assert await store.count(EventQuery(server="github")) == 30


def _fields(query: EventQuery) -> dict[str, object]:
    return {name: getattr(query, name) for name in ("server", "user_id", "min_severity", "since", "until")}


async def test_export_lines_are_the_wire_event_then_its_stored_times_oldest_first(
    store: EventStore, clock: FakeClock
) -> None:
    events = [
        make_event(user_id=("alice", None)[i % 2], ts=clock.now - timedelta(seconds=i)) for i in range(25)
    ]
    await store.append(events)
    wire = {e.id: e.to_wire() for e in events}
    for chunk_size in (1, 7, 1000):
        lines = await export_lines(store, EventQuery(server="github", oldest_first=True), chunk_size)
        assert [line["id"] for line in lines] == [e.id for e in sorted(events, key=lambda e: (e.ts, e.id))]
        for line in lines:
            assert list(line)[-2:] == ["receivedAt", "expireAt"]
            times = {"receivedAt": line.pop("receivedAt"), "expireAt": line.pop("expireAt")}
            assert line == wire[str(line["id"])]
            event = events[0].model_validate(line)
            assert times == {
                "receivedAt": format_ts(clock.now),
                "expireAt": format_ts(store.retention.expire_at(event.ts, event.severity)),
            }
    scoped = await export_lines(store, EventQuery(server="github", user_id="alice", oldest_first=True))
    assert len(scoped) == 25  # alice's and the server-wide ones: everyone's here


async def test_import_documents_stores_them_with_their_own_times_and_is_idempotent(
    store: EventStore, clock: FakeClock
) -> None:
    events = [make_event(server=("github", "notion")[i % 2]) for i in range(10)]
    received, expire = clock.now - timedelta(days=2), clock.now + timedelta(days=3)
    counts = await store.import_documents(docs_of(events, received, expire))
    assert (counts.inserted, counts.present, counts.updated) == (10, 0, 0)
    again = await store.import_documents(docs_of(events, received, expire))
    assert (again.inserted, again.present) == (0, 10)
    assert await store.list_servers() == ["github", "notion"]
    assert {item["id"] for item in await walk(store, EventQuery(server="notion"))} == {
        e.id for e in events[1::2]
    }
    lines = await export_lines(store, EventQuery(server="github"))
    assert {(line["receivedAt"], line["expireAt"]) for line in lines} == {
        (format_ts(received), format_ts(expire))
    }
    clock.advance(days=3)  # past the imported expireAt, well within what append would have given them
    assert await store.count(EventQuery(server="github")) == 0


async def test_a_dry_run_counts_new_and_present_and_writes_nothing(
    store: EventStore, clock: FakeClock
) -> None:
    stored, fresh = [make_event() for _ in range(4)], [make_event() for _ in range(6)]
    await store.append(stored)
    docs = docs_of(stored + fresh + fresh[:1], clock.now, clock.now + timedelta(days=1))
    for conflict in ("skip", "update"):
        counts = await store.import_documents(docs, conflict=conflict, dry_run=True)
        assert counts.inserted == 6
        assert counts.present + counts.updated == 5
    assert await store.count(EventQuery(server="github")) == 4


async def test_update_replaces_stored_events_and_skip_keeps_them(store: EventStore, clock: FakeClock) -> None:
    original = [make_event(detail="first version") for _ in range(3)]
    await store.append(original)
    changed = [DiagnosticEvent.model_validate({**e.to_wire(), "detail": "second version"}) for e in original]
    later = clock.now + timedelta(days=5)
    skipped = await store.import_documents(docs_of(changed, clock.now, later), conflict="skip")
    assert (skipped.inserted, skipped.present) == (0, 3)
    assert {item["detail"] for item in await walk(store, EventQuery(server="github"))} == {"first version"}
    extra = make_event(detail="new one")
    updated = await store.import_documents(docs_of([*changed, extra], clock.now, later), conflict="update")
    assert (updated.inserted, updated.updated, updated.present) == (1, 3, 0)
    items = await walk(store, EventQuery(server="github"))
    assert sorted(str(item["detail"]) for item in items) == ["new one", *["second version"] * 3]
    lines = await export_lines(store, EventQuery(server="github"))
    assert {line["expireAt"] for line in lines} == {format_ts(later)}


async def test_an_id_twice_in_one_batch_is_stored_once(store: EventStore, clock: FakeClock) -> None:
    event = make_event()
    docs = docs_of([event, event], clock.now, clock.now + timedelta(days=1))
    counts = await store.import_documents(docs)
    assert (counts.inserted, counts.present) == (1, 1)
    assert await store.count(EventQuery(server="github")) == 1
    assert await store.import_documents([]) == type(counts)()


def test_sqlite_export_line_writes_format_ts_for_every_millisecond_from_1970() -> None:
    """The SQL that builds SQLite's export lines formats times exactly as the wire does."""
    rng = random.Random(7)
    values = [0, 999, 1000, 951_782_400_000, 253_402_300_799_999, to_ms(datetime.now(UTC))]
    values += [rng.randrange(0, 253_402_300_799_999) for _ in range(2000)]
    values += [rng.randrange(1_500_000_000_000, 2_500_000_000_000) for _ in range(2000)]
    conn = sqlite3.connect(":memory:")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    sql = f"SELECT {EXPORT_LINE} FROM (SELECT ? AS doc, ? AS received_at, ? AS expire_at)"
    for value in values:
        (line,) = conn.execute(sql, ('{"a":1}', value, value)).fetchone()
        expected = format_ts(epoch + timedelta(milliseconds=value))
        assert json.loads(line) == {"a": 1, "receivedAt": expected, "expireAt": expected}, value


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_bulk_import_fills_the_same_columns_append_does(
    store: EventStore, clock: FakeClock
) -> None:
    appended, imported = make_event(user_id="alice"), make_event(user_id="alice")
    await store.append([appended])
    await store.import_documents(
        docs_of([imported], clock.now, store.retention.expire_at(imported.ts, imported.severity))
    )
    path = getattr(store, "path")  # noqa: B009
    columns = "id, server, user_key, severity, code, touchpoint, trace_id, received_at, expire_at - ts"
    rows = sqlite3.connect(path).execute(f"SELECT {columns} FROM events").fetchall()
    by_id = {row[0]: row[1:] for row in rows}
    assert by_id[appended.id][:5] == by_id[imported.id][:5]
    assert by_id[appended.id][6:] == by_id[imported.id][6:]
