"""Checks in worker processes give what checks in this process give: the same stored events, the same
tallies, bad lines reported in the order of the file, and the redaction step built in each worker."""

from __future__ import annotations

import functools
import json
import secrets
from pathlib import Path

import pytest

from mcpdiag.store import EventQuery, RejectedLinesError, SQLiteEventStore
from mcpdiag.store.transfer import ExportSelection, default_redact, import_file, plan_export, write_export
from mcpdiag.store.transfer.importer import PARALLEL_FROM
from tests.factories import FakeClock, make_event
from tests.store.transfer_support import read_lines, snapshot, varied_events, write_lines


async def big_header_export(tmp_path: Path, clock: FakeClock, events: int = 300) -> Path:
    """An export whose header announces `PARALLEL_FROM` events (what decides to start workers)."""
    source = SQLiteEventStore(tmp_path / "source.db", clock=clock)
    await source.ensure_schema()
    await source.append(varied_events(clock, events))
    path = tmp_path / "x.gz"
    await write_export(source, await plan_export(source, ExportSelection()), path)
    await source.close()
    lines = read_lines(path)
    header = json.loads(lines[0])
    header["counts"]["events"] = PARALLEL_FROM
    return write_lines(path, [json.dumps(header), *lines[1:]])


async def fresh(tmp_path: Path, name: str, clock: FakeClock) -> SQLiteEventStore:
    store = SQLiteEventStore(tmp_path / f"{name}.db", clock=clock)
    await store.ensure_schema()
    return store


async def test_workers_store_and_count_what_one_process_does(tmp_path: Path, clock: FakeClock) -> None:
    path = await big_header_export(tmp_path, clock)
    one, many = await fresh(tmp_path, "one", clock), await fresh(tmp_path, "many", clock)
    alone = await import_file(one, path, batch_size=40)
    parallel = await import_file(many, path, batch_size=40, workers=2)
    assert parallel.to_dict() == alone.to_dict()
    assert parallel.counts.inserted == 300
    assert await snapshot(many) == await snapshot(one)
    await one.close()
    await many.close()


async def test_bad_lines_checked_in_workers_are_reported_in_file_order(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = await big_header_export(tmp_path, clock)
    lines = read_lines(path)
    for number in (290, 7, 150, 41):  # across several batches of 40
        lines[number - 1] = "{oops"
    bad = write_lines(tmp_path / "bad.gz", lines)
    store = await fresh(tmp_path, "target", clock)
    with pytest.raises(RejectedLinesError) as caught:
        await import_file(store, bad, batch_size=40, workers=3)
    assert [p[0] for p in caught.value.problems] == [7, 41, 150, 290]
    assert await store.list_servers() == []
    await store.close()


async def test_each_worker_builds_the_redaction_step_it_is_given(tmp_path: Path, clock: FakeClock) -> None:
    secret = secrets.token_hex(16)
    path = await big_header_export(tmp_path, clock, events=10)
    lines = read_lines(path)
    leaky = make_event(detail=f"the key was {secret}")
    lines.insert(-1, json.dumps(leaky.to_wire()))
    lines[-1] = '{"end":{"events":11}}'
    write_lines(path, lines)
    store = await fresh(tmp_path, "target", clock)
    report = await import_file(store, path, workers=2, redact=functools.partial(default_redact, [secret]))
    assert report.redactions and report.counts.inserted == 11
    stored = [doc for doc in await store.by_trace(leaky.trace_id)]
    assert stored and secret not in json.dumps(stored)
    assert await store.count(EventQuery(server="github")) > 0
    await store.close()
