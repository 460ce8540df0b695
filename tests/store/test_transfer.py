"""Export and import between stores (`mcpdiag.store.transfer`): round trips between every pair of backends,
idempotence, dry runs, honest retention, redaction, and every way an export file can be bad."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from mcpdiag.emitters import DiagnosticEvent, Severity, format_ts
from mcpdiag.store import (
    EventQuery,
    EventStore,
    MongoEventStore,
    Retention,
)
from mcpdiag.store.transfer import (
    ExportSelection,
    import_file,
    migrate,
    plan_export,
    write_export,
)
from tests.factories import FakeClock, make_event
from tests.store.conftest import BACKENDS, build_store
from tests.store.test_store_conformance import walk
from tests.store.transfer_support import SERVERS, read_lines, snapshot, varied_events, write_lines

PAIRS = [(src, dst) for src in BACKENDS for dst in BACKENDS]
Builder = Callable[[str], Awaitable[EventStore]]


@pytest.fixture
async def make_store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Builder]:
    """Builds fresh stores of a backend, each in its own place; closes (and drops) them afterwards."""
    built: list[EventStore] = []

    async def make(backend: str) -> EventStore:
        place = tmp_path / f"store-{len(built)}"
        place.mkdir()
        store = await build_store(backend, place, clock)
        built.append(store)
        return store

    yield make
    for store in built:
        if isinstance(store, MongoEventStore) and "mcpdiag_test_" in store.events.database.name:
            await store.client.drop_database(store.events.database.name)
        await store.close()


async def export(store: EventStore, path: Path, selection: ExportSelection | None = None) -> Path:
    plan = await plan_export(store, selection or ExportSelection(), host="source-host")
    await write_export(store, plan, path)
    return path


@pytest.mark.parametrize(("source_backend", "target_backend"), PAIRS)
async def test_export_then_import_gives_the_same_events_and_a_second_import_skips_all(
    make_store: Builder, clock: FakeClock, tmp_path: Path, source_backend: str, target_backend: str
) -> None:
    source, target = await make_store(source_backend), await make_store(target_backend)
    events = varied_events(clock)
    await source.append(events)
    clock.advance(minutes=30)  # the import happens later than ingest: receivedAt must not move
    path = await export(source, tmp_path / "events.ndjson.gz")

    report = await import_file(target, path, stage_dir=tmp_path)
    assert report.summary() == f"Imported {len(events)} events"
    assert (report.lines, report.valid, report.counts.inserted, report.bad) == (60, 60, 60, 0)
    assert await snapshot(target) == await snapshot(source)
    for event in events[:5]:
        assert await target.by_trace(event.trace_id) == await source.by_trace(event.trace_id)

    again = await import_file(target, path, stage_dir=tmp_path)
    assert again.summary() == "Imported 0 events, 60 skipped: already present"
    assert await snapshot(target) == await snapshot(source)
    assert stage_files(tmp_path) == []


def stage_files(directory: Path) -> list[str]:
    """Staging files left in `directory`."""
    return [p.name for p in directory.iterdir() if p.suffix == ".stage"]


@pytest.mark.parametrize(("source_backend", "target_backend"), PAIRS)
async def test_migrate_moves_a_selection_in_one_step(
    make_store: Builder, clock: FakeClock, source_backend: str, target_backend: str
) -> None:
    source, target = await make_store(source_backend), await make_store(target_backend)
    await source.append(varied_events(clock))
    report = await migrate(source, target)
    assert report.counts.inserted == 60 and report.committed
    assert await snapshot(target) == await snapshot(source)
    partial = await make_store(target_backend)
    selection = ExportSelection(servers=("jira",), min_severity=Severity.ERROR)
    report = await migrate(source, partial, selection)
    errors = await walk(source, EventQuery(server="jira", min_severity=Severity.ERROR, limit=200))
    assert report.counts.inserted == len(errors) > 0
    assert await partial.list_servers() == ["jira"]
    assert await walk(partial, EventQuery(server="jira", limit=200)) == errors


async def test_the_header_names_format_host_counts_window_and_filters(
    store: EventStore, clock: FakeClock, tmp_path: Path
) -> None:
    await store.append(varied_events(clock))
    since = clock.now - timedelta(hours=2)
    selection = ExportSelection(servers=("github", "jira", "absent"), user_id="alice", since=since)
    path = await export(store, tmp_path / "x.gz", selection)
    lines = read_lines(path)
    header, end = json.loads(lines[0]), json.loads(lines[-1])
    expected = [
        item
        for server in ("github", "jira")
        for item in reversed(
            await walk(store, EventQuery(server=server, user_id="alice", since=since, limit=200))
        )
    ]
    assert [json.loads(line)["id"] for line in lines[1:-1]] == [item["id"] for item in expected]
    assert header == {
        "format": "mcpdiag-events",
        "version": 1,
        "createdAt": format_ts(clock.now),
        "sourceHost": "source-host",
        "window": {"since": format_ts(since), "until": None},
        "filters": {"servers": ["github", "jira", "absent"], "userId": "alice", "severity": None},
        "counts": {"events": len(expected), "servers": 2},
    }
    assert end == {"end": {"events": len(expected)}}


async def test_a_dry_run_counts_new_present_and_expired_and_changes_nothing(
    make_store: Builder, backend: str, clock: FakeClock, tmp_path: Path
) -> None:
    source, target = await make_store("sqlite"), await make_store(backend)
    events = varied_events(clock)
    await source.append(events)
    path = await export(source, tmp_path / "x.gz")
    await target.append(events[:10])
    before = await snapshot(target)
    report = await import_file(target, path, dry_run=True)
    assert (report.counts.inserted, report.counts.present, report.expired) == (50, 10, 0)
    assert (
        report.summary()
        == "Dry run: would import 50 events, 10 skipped: already present; nothing was written"
    )
    assert {s: (t.valid, t.expired) for s, t in report.servers.items()} == {s: (20, 0) for s in SERVERS}
    assert await snapshot(target) == before
    assert not report.committed


async def test_events_past_retention_at_the_target_are_skipped_and_counted(
    make_store: Builder, backend: str, clock: FakeClock, tmp_path: Path
) -> None:
    source = await make_store("sqlite")
    events = varied_events(clock)
    await source.append(events)
    path = await export(source, tmp_path / "x.gz")
    clock.advance(days=8)  # info events (7 days) are past their retention; errors (14 days) are not
    target = await make_store(backend)
    report = await import_file(target, path)
    infos = sum(1 for e in events if e.severity.rank < Severity.ERROR.rank)
    assert (report.expired, report.counts.inserted) == (infos, len(events) - infos)
    assert report.summary() == f"Imported {len(events) - infos} events, {infos} skipped: past retention"
    assert sum([await target.count(EventQuery(server=s)) for s in SERVERS]) == len(events) - infos


async def test_expiry_is_the_earlier_of_the_files_and_the_target_retention(
    tmp_path: Path, clock: FakeClock
) -> None:
    from mcpdiag.store import SQLiteEventStore

    source = SQLiteEventStore(tmp_path / "a.db", clock=clock)
    await source.ensure_schema()
    event = make_event(code="MCP_TIMEOUT")  # an error: 14 days at the source
    await source.append([event])
    path = await export(source, tmp_path / "x.gz")
    short = SQLiteEventStore(tmp_path / "short.db", clock=clock, retention=Retention(error=timedelta(days=2)))
    long = SQLiteEventStore(tmp_path / "long.db", clock=clock, retention=Retention(error=timedelta(days=90)))
    expire = {}
    for name, target in (("short", short), ("long", long)):
        await target.ensure_schema()
        await import_file(target, path)
        async for lines in target.iter_export_lines(EventQuery(server="github")):
            expire[name] = json.loads(lines[0])["expireAt"]
        await target.close()
    await source.close()
    assert expire == {
        "short": format_ts(event.ts + timedelta(days=2)),
        "long": format_ts(event.ts + timedelta(days=14)),
    }


async def test_lines_without_stored_times_get_the_import_time_and_the_target_retention(
    store: EventStore, clock: FakeClock, tmp_path: Path
) -> None:
    donor = make_event()
    path = tmp_path / "x.gz"
    header = await _header(store, tmp_path, events=1)
    write_lines(path, [header, json.dumps(donor.to_wire()), '{"end":{"events":1}}'])
    assert (await import_file(store, path)).counts.inserted == 1
    async for lines in store.iter_export_lines(EventQuery(server="github")):
        line = json.loads(lines[0])
        assert (line["receivedAt"], line["expireAt"]) == (
            format_ts(clock.now),
            format_ts(store.retention.expire_at(donor.ts, donor.severity)),
        )


async def _header(store: EventStore, tmp_path: Path, *, events: int) -> str:
    """A real header line (from an export of an empty store), with its count set."""
    empty = await export(store, tmp_path / "empty.gz")
    header = json.loads(read_lines(empty)[0])
    header["counts"]["events"] = events
    return json.dumps(header)


async def test_imported_text_goes_through_the_redactor(
    store: EventStore, clock: FakeClock, tmp_path: Path
) -> None:
    import secrets

    token = secrets.token_urlsafe(24)
    leaky = make_event(detail=f"upstream said: Authorization: Bearer {token}")
    path = tmp_path / "x.gz"
    write_lines(
        path, [await _header(store, tmp_path, events=1), json.dumps(leaky.to_wire()), '{"end":{"events":1}}']
    )
    report = await import_file(store, path)
    assert report.redactions
    (stored,) = (await store.page(EventQuery(server="github"))).items
    assert token not in json.dumps(stored) and "Authorization" in str(stored["detail"])


async def test_update_replaces_stored_events_with_the_files(
    make_store: Builder, backend: str, clock: FakeClock, tmp_path: Path
) -> None:
    target = await make_store(backend)
    original = [make_event(detail="old") for _ in range(4)]
    await target.append(original)
    source = await make_store("sqlite")
    await source.append(
        [DiagnosticEvent.model_validate({**e.to_wire(), "detail": "new"}) for e in original[:2]]
    )
    path = await export(source, tmp_path / "x.gz")
    report = await import_file(target, path, conflict="update")
    assert report.summary() == "Imported 0 events, 2 replaced"
    assert sorted(str(i["detail"]) for i in await walk(target, EventQuery(server="github"))) == [
        "new",
        "new",
        "old",
        "old",
    ]


async def test_an_id_given_twice_in_a_file_is_stored_once(store: EventStore, tmp_path: Path) -> None:
    event = make_event()
    path = tmp_path / "x.gz"
    line = json.dumps(event.to_wire())
    write_lines(path, [await _header(store, tmp_path, events=2), line, line, '{"end":{"events":2}}'])
    report = await import_file(store, path)
    assert (report.counts.inserted, report.counts.present) == (1, 1)
    assert await store.count(EventQuery(server="github")) == 1
