"""Closing a SQLite store while its reads and writes are still running ends them cleanly.

`mcpdiag tail` closes its store on Ctrl-C while a page read may still run in a reader thread (the await was
cancelled, the thread goes on). Closing that thread's connection under it crashed the process with SIGSEGV
now and then. Each round runs in its own process: a crash there is a failed round, not a dead test run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcpdiag.store import SQLiteEventStore
from tests.waiting import PATIENCE_S

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from mcpdiag.store import SQLiteEventStore
    from mcpdiag.store.base import EventQuery
    from mcpdiag.store.errors import StoreUnavailableError
    from tests.factories import make_event

    async def main(path: Path) -> None:
        store = SQLiteEventStore(path, readers=4)
        await store.ensure_schema()
        await store.append([make_event(server="github", detail="x" * 200) for _ in range(3000)])
        for round_ in range(40):
            store = SQLiteEventStore(path, readers=4)
            # Reads of every kind in flight on every reader thread, a write on the writer's, then close.
            tasks = [
                asyncio.ensure_future(store.page(EventQuery(server="github", limit=200)))
                for _ in range(16)
            ]
            tasks += [asyncio.ensure_future(store.list_servers()) for _ in range(4)]
            tasks.append(asyncio.ensure_future(store.append([make_event(server="github")])))
            await asyncio.sleep(0.001 * (round_ % 5))
            for task in tasks[: round_ % 7]:
                task.cancel()  # as Ctrl-C cancels the awaits: the threads run on
            await store.close()
            for task in tasks:
                try:
                    await task
                except (asyncio.CancelledError, StoreUnavailableError):
                    pass
        print("ok")

    asyncio.run(main(Path(sys.argv[1])))
    """
)


def test_close_while_reads_and_writes_run_never_crashes(tmp_path: Path) -> None:
    for attempt in range(3):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / f"events-{attempt}.db")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={"PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1", "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


async def test_an_operation_that_lets_stop_iteration_escape_fails_instead_of_hanging(tmp_path: Path) -> None:
    """A `next()` past the end of a read's rows raises StopIteration in the reader thread; a future cannot
    hold one, so without the store's guard the caller would wait forever (found with a reader whose row
    parsing ran out of numbers)."""
    store = SQLiteEventStore(tmp_path / "events.db")
    await store.ensure_schema()
    try:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(store._read(lambda conn: next(iter(()))), PATIENCE_S)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(store._write(lambda conn: next(iter(()))), PATIENCE_S)
    finally:
        await store.close()
