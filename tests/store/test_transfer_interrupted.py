"""An import killed mid-way (SIGKILL, a real process) is run again and ends complete, nothing stored twice;
one killed while still checking has stored nothing at all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpdiag.store import EventQuery, SQLiteEventStore, open_store
from mcpdiag.store.transfer import ExportSelection, plan_export, write_export
from tests.factories import NOW, make_event
from tests.store.transfer_support import SERVERS

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 6000
TARGETS = ["sqlite"] + (["mongodb"] if os.environ.get("MCPDIAG_TEST_MONGO_URL") else [])


@pytest.fixture(scope="module")
def export_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of 6,000 events over three servers (the events are relative to now: none expired)."""
    tmp = tmp_path_factory.mktemp("interrupted")

    async def build() -> Path:
        store = SQLiteEventStore(tmp / "source.db")
        await store.ensure_schema()
        from datetime import timedelta

        events = [make_event(server=SERVERS[i % 3], ts=NOW - timedelta(seconds=i)) for i in range(EVENTS)]
        for start in range(0, EVENTS, 1000):
            await store.append(events[start : start + 1000])
        path = tmp / "events.ndjson.gz"
        await write_export(store, await plan_export(store, ExportSelection()), path)
        await store.close()
        return path

    return asyncio.run(build())


@pytest.fixture(params=TARGETS)
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    base = os.environ["MCPDIAG_TEST_MONGO_URL"].rstrip("/").split("?")[0]
    url = f"{base.rsplit('/', 1)[0] if base.count('/') > 2 else base}/mcpdiag_test_{uuid.uuid4().hex[:8]}"
    yield url

    async def drop() -> None:
        store = open_store(url)
        await store.client.drop_database(store.events.database.name)  # type: ignore[attr-defined]
        await store.close()

    asyncio.run(drop())


def child_env() -> dict[str, str]:
    """This environment, with the source folders and the repository (for `tests`) on the path."""
    paths = [str(ROOT / part) for part in ("emitters", "collector", "api", ".")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def start_import(url: str, path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.import_process", url, str(path), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def kill_when_paused(process: subprocess.Popen[str]) -> int:
    """Wait for the process to say it paused, SIGKILL it; the count it had reached."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("PAUSED"), line
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    return int(line.split()[1])


def stored(url: str) -> tuple[int, int]:
    """(events the store lists, distinct ids among them)."""

    async def count() -> tuple[int, int]:
        store = open_store(url)
        try:
            ids: list[object] = []
            for server in await store.list_servers():
                async for doc in store.iter(EventQuery(server=server)):
                    ids.append(doc["id"])
            return len(ids), len(set(ids))
        finally:
            await store.close()

    return asyncio.run(count())


def run_to_the_end(url: str, path: Path) -> dict[str, object]:
    finished = subprocess.run(
        [sys.executable, "-m", "tests.store.import_process", url, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=child_env(),
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    report: dict[str, object] = json.loads(finished.stdout.splitlines()[-1])
    return report


def test_an_import_killed_while_committing_is_run_again_and_ends_complete_without_duplicates(
    export_file: Path, target_url: str
) -> None:
    paused_at = kill_when_paused(start_import(target_url, export_file, "--pause-after", "2500"))
    partial, _ = stored(target_url)
    assert 2500 <= paused_at <= partial < EVENTS  # killed mid-way: part of the file is stored
    report = run_to_the_end(target_url, export_file)
    assert (report["inserted"], report["present"]) == (EVENTS - partial, partial)
    assert stored(target_url) == (EVENTS, EVENTS)
    again = run_to_the_end(target_url, export_file)
    assert (again["inserted"], again["present"]) == (0, EVENTS)
    assert stored(target_url) == (EVENTS, EVENTS)


def test_an_import_killed_while_checking_has_stored_nothing(export_file: Path, target_url: str) -> None:
    kill_when_paused(start_import(target_url, export_file, "--pause-after", "3000", "--pause-in-check"))
    if target_url.startswith("sqlite:"):
        # The store may not even have been created; opening it to look creates an empty one.
        assert stored(target_url) == (0, 0)
    report = run_to_the_end(target_url, export_file)
    assert report["inserted"] == EVENTS
    assert stored(target_url) == (EVENTS, EVENTS)
