"""A host whose diagnostics carry what real hosts meet — file names that are not UTF-8, objects that cannot
be printed — through a real `HttpSink` into the real collector on loopback: nothing raises into the host,
nothing is retried forever, every event is stored, in the order it was emitted."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from mcpdiag.collector import create_collector_app
from mcpdiag.emitters import Emitter, HttpSink
from tests.collector.support import settings_for
from tests.e2e.loopback import serve_on
from tests.e2e.servers import free_port
from tests.emitters.hostile import Unprintable


def stored_events(db: Path) -> list[dict[str, Any]]:
    """Every stored event document, in the order it was stored (read with plain sqlite3)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT doc FROM events ORDER BY rowid")]


def test_non_utf8_paths_and_unprintable_values_reach_the_store_and_nothing_stays_queued(
    tmp_path: Path,
) -> None:
    key = "ik_" + secrets.token_hex(16)
    path = os.fsdecode(
        b"/srv/caf\xe9/\xff.json"
    )  # what os.listdir gives for a latin-1 name: "\udce9", "\udcff"
    assert "\udcff" in path
    port = free_port()
    sink = HttpSink(f"http://127.0.0.1:{port}", api_key=key)
    # Each event on its own (no coalescing of the repeats): every one must reach the store.
    emitter = Emitter(sink, service="poisoned-host", flush_interval=0.05, batch_size=64, coalesce_window=0)
    with serve_on(create_collector_app(settings_for(tmp_path, key, server_budget_per_s=0)), port):
        sent = []
        for n in range(100):
            sent.append(
                emitter.emit(
                    "MCP_PROCESS_EXITED",
                    server="files",
                    touchpoint="transport",
                    detail=f"exited reading {path}",
                    attrs={"path": path, "n": n},
                )
            )
            sent.append(
                emitter.capture(
                    FileNotFoundError(2, "No such file or directory", path),
                    server="files",
                    touchpoint="connect",
                    attrs={"n": n, "handle": Unprintable()},
                )
            )
        assert emitter.flush(30), "an event the collector cannot take must not hold the others back"
    emitter.close()
    stats = emitter.stats()
    assert stats.dropped_total == 0 and stats.poisoned == 0 and stats.sent == len(sent)
    stored = stored_events(tmp_path / "events.db")
    assert [event["traceId"] for event in stored] == sent
    assert {event["attrs"]["path"] for event in stored if "path" in event["attrs"]} == {
        "/srv/caf\ufffd/\ufffd.json"
    }
    assert all(event["attrs"].get("handle") == "<unprintable Unprintable>" for event in stored[1::2])
