"""The heap an app starts with is frozen out of the garbage collector's full passes while it runs, and
given back when it stops (`mcpdiag.collector.heap`)."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI

from mcpdiag.collector import create_collector_app
from tests.api.support import Tokens, build_app
from tests.collector.support import asgi_client, new_key, settings_for


async def _frozen_while_running(app: FastAPI) -> tuple[int, int]:
    before = gc.get_freeze_count()
    async with asgi_client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        running = gc.get_freeze_count()
    assert gc.get_freeze_count() == before == 0  # nothing else in the suite freezes
    return before, running


async def test_the_collector_app_freezes_its_startup_heap_and_unfreezes_it_on_stop(tmp_path: Path) -> None:
    _, running = await _frozen_while_running(create_collector_app(settings_for(tmp_path, new_key())))
    # The modules, routes and settings alive at startup: tens of thousands of objects at least.
    assert running > 10_000


async def test_the_api_app_freezes_its_startup_heap_and_unfreezes_it_on_stop(tmp_path: Path) -> None:
    _, running = await _frozen_while_running(build_app(tmp_path, Tokens(), {"servers": {}}, new_key()))
    assert running > 10_000


def test_a_frozen_heap_leaves_objects_made_after_startup_to_the_collector() -> None:
    """What the app makes while it runs (request garbage, cycles) is collected as before."""
    from mcpdiag.collector.heap import startup_heap_frozen

    class Node:
        other: object

    with startup_heap_frozen():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
