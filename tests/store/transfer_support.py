"""Shared by the transfer tests: a varied set of events, and reading and rewriting export files."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import EventQuery, EventStore
from tests.factories import FakeClock, make_event
from tests.store.test_store_conformance import walk

SERVERS = ("github", "jira", "notion")


def varied_events(clock: FakeClock, count: int = 60) -> list[DiagnosticEvent]:
    """Events of several servers, users, codes and shapes (optional fields set and not), some tied on ts."""
    codes = ("MCP_TIMEOUT", "MCP_CONNECTED", "MCP_TOOL_ERROR", "MCP_AUTH_REQUIRED", "MCP_RATE_LIMITED")
    events = []
    for i in range(count):
        extra: dict[str, Any] = {}
        if i % 3 == 0:
            extra.update(tool="search", http_status=502, duration_ms=12.5 + i, span_id=f"{i + 1:016x}")
        if i % 4 == 0:
            extra.update(conversation_id=f"conv-{i}", run_id=f"run-{i}", transport="streamable-http")
        events.append(
            make_event(
                server=SERVERS[i % len(SERVERS)],
                user_id=(None, "alice", "bob", "émilie")[i % 4],
                code=codes[i % len(codes)],
                ts=clock.now - timedelta(minutes=(i // 2) * 7),  # pairs share a timestamp
                attrs={"attempt": i % 3, "endpoint": "/mcp", "ratio": 0.5, "ok": bool(i % 2), "note": None},
                **extra,
            )
        )
    return events


async def snapshot(store: EventStore) -> dict[str, list[dict[str, object]]]:
    """Every server's events as its pages list them (newest first), and their export lines."""
    found: dict[str, list[dict[str, object]]] = {}
    for server in await store.list_servers():
        found[server] = await walk(store, EventQuery(server=server, limit=200))
        lines: list[dict[str, object]] = []
        async for chunk in store.iter_export_lines(EventQuery(server=server, oldest_first=True)):
            lines.extend(json.loads(line) for line in chunk)
        found[f"{server} (export lines)"] = lines
    return found


def read_lines(path: Path) -> list[str]:
    """The lines of an export file."""
    return gzip.decompress(path.read_bytes()).decode().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    """An export file holding `lines`."""
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path
