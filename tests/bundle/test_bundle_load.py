"""`load_bundle`: every event of a bundle into a viewer store, bad lines skipped and counted, the same store
whether the lines are checked in this process or in worker processes."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from mcpdiag.bundle.errors import BundleFormatError
from mcpdiag.bundle.load import MAX_LINE, load_bundle, read_info, viewer_store
from mcpdiag.store import SQLiteEventStore
from tests.bundle.test_bundle import export
from tests.bundle.test_bundle_verify import rewrite
from tests.factories import NOW, make_event

EVENTS = 30
BAD_LINES = 3


async def spoiled_bundle(store: SQLiteEventStore, tmp_path: Path) -> Path:
    """A bundle of `EVENTS` events whose first events member also holds `BAD_LINES` bad lines: not JSON,
    longer than `MAX_LINE`, and an event without its code."""
    servers = ("github", "jira")
    await store.append(
        [make_event(server=servers[i % 2], ts=NOW - timedelta(minutes=1 + i)) for i in range(EVENTS)]
    )
    bundle = (await export(store, tmp_path / "out")).path
    with zipfile.ZipFile(bundle) as zf:
        first = sorted(n for n in zf.namelist() if n.startswith("events/") and n.endswith(".jsonl"))[0]
        sample = json.loads(zf.read(first).splitlines()[0])
    sample.pop("code")
    bad = b"not json\n" + b'{"x": "' + b"a" * (MAX_LINE + 10) + b'"}\n' + json.dumps(sample).encode() + b"\n"
    return rewrite(bundle, tmp_path / "spoiled.zip", lambda n, d: bad + d if n == first else d)


def stored_rows(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return [
            *conn.execute("SELECT * FROM events ORDER BY id"),
            *conn.execute("SELECT * FROM hourly ORDER BY 1, 2, 3, 4, 5, 6, 7"),
        ]


@pytest.mark.parametrize("workers", [1, 2])
async def test_every_valid_event_is_loaded_and_bad_lines_counted(
    store: SQLiteEventStore, tmp_path: Path, workers: int
) -> None:
    """In this process or in two workers (`parallel_from=0`: however small the bundle), the valid events
    are stored, the bad lines skipped and counted, and progress ends at (loaded, the manifest's count)."""
    bundle = await spoiled_bundle(store, tmp_path)
    info = read_info(bundle)
    viewer = await viewer_store(tmp_path / "viewer.db", info)
    seen: list[tuple[int, int]] = []
    result = await load_bundle(
        bundle, viewer, workers=workers, parallel_from=0, progress=lambda a, b: seen.append((a, b))
    )
    assert (result.loaded, result.skipped) == (EVENTS, BAD_LINES)
    assert seen[-1] == (EVENTS, info.events) and info.events == EVENTS
    await viewer.close()
    with sqlite3.connect(tmp_path / "viewer.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (EVENTS,)


async def test_workers_and_this_process_store_the_same(store: SQLiteEventStore, tmp_path: Path) -> None:
    """The stored events and hourly rollups are the same whichever way the lines were checked."""
    bundle = await spoiled_bundle(store, tmp_path)
    info = read_info(bundle)
    for workers in (1, 2):
        viewer = await viewer_store(tmp_path / f"viewer{workers}.db", info)
        await load_bundle(bundle, viewer, workers=workers, parallel_from=0)
        await viewer.close()
    assert stored_rows(tmp_path / "viewer1.db") == stored_rows(tmp_path / "viewer2.db")


async def test_a_viewer_store_is_loaded_without_fsync_and_has_every_index_once_loaded(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    """The throwaway viewer store is written with `synchronous = OFF` and without the events' indexes, which
    the load builds at its end: the loaded store has the same indexes as one made by `ensure_schema`."""
    bundle = await spoiled_bundle(store, tmp_path)
    viewer = await viewer_store(tmp_path / "viewer.db", read_info(bundle))
    assert not viewer.durable and store.durable
    with sqlite3.connect(tmp_path / "viewer.db") as conn:
        assert not [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'ix_events%'")]
    await load_bundle(bundle, viewer)
    synchronous = await viewer._write(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])
    await viewer.close()
    assert synchronous == 0  # OFF

    def indexes(db: Path) -> set[tuple[str, str]]:
        with sqlite3.connect(db) as conn:
            found = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql NOT NULL")
            return set(found)

    assert indexes(tmp_path / "viewer.db") == indexes(store.path)


async def test_a_file_that_is_not_a_zip_is_a_format_error(tmp_path: Path) -> None:
    notzip = tmp_path / "b.zip"
    notzip.write_bytes(b"plain text")
    viewer = SQLiteEventStore(tmp_path / "v.db")
    with pytest.raises(BundleFormatError, match=r"b\.zip is not a ZIP file"):
        await load_bundle(notzip, viewer)
    await viewer.close()
