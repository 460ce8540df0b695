"""`mcpdiag search` and `mcpdiag tail`: read the configured event store directly and print events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from rich.table import Table

from mcpdiag.cli.serving import stop_signals
from mcpdiag.collector.settings import get_collector_settings
from mcpdiag.emitters import Severity
from mcpdiag.store import sqlite_path
from mcpdiag.store.backends import open_store
from mcpdiag.store.base import MAX_PAGE, EventQuery, EventStore
from mcpdiag.store.errors import StoreError

TRACE_SHOWN = 12
SEVERITY_STYLE = {
    "critical": "bold red",
    "error": "red",
    "warning": "yellow",
    "info": "green",
    "debug": "dim",
}
Position = tuple[datetime, str]


class LookupFailed(Exception):
    """A lookup that cannot be answered; the message is for the person at the terminal."""


@asynccontextmanager
async def opened_store(url: str | None) -> AsyncIterator[EventStore]:
    """The store `url` names (default: MCPDIAG_STORE_URL), checked reachable, closed afterwards."""
    settings = get_collector_settings()
    url = url or settings.store_url
    if url.startswith("sqlite:") and not sqlite_path(url).is_file():
        raise LookupFailed(f"no event store at {sqlite_path(url)} (set MCPDIAG_STORE_URL or --store)")
    store = open_store(url, retention=settings.retention, cursor_key=settings.cursor_key)
    try:
        try:
            await store.ping()
        except StoreError as exc:
            raise LookupFailed(f"the event store is unreachable: {exc}") from exc
        yield store
    finally:
        await store.close()


def _ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00"))


def _severity(value: str) -> str:
    return f"[{SEVERITY_STYLE.get(value, '')}]{value}[/]"


async def search(url: str | None, key: str) -> list[dict[str, Any]]:
    """Every event of one Debug ID (a trace id, a prefix of at least 8 hex characters, or an event id).

    Raises `LookupFailed` when nothing matches or a prefix matches several traces."""
    async with opened_store(url) as store:
        try:
            events = await store.by_trace(key)
        except StoreError as exc:
            raise LookupFailed(getattr(exc, "message", None) or str(exc)) from exc
    if not events:
        raise LookupFailed(f"no event with Debug ID {key.strip()!r} (it may have expired)")
    traces = sorted({str(e["traceId"]) for e in events})
    if len(traces) > 1:
        shown = ", ".join(t[:TRACE_SHOWN] for t in traces)
        raise LookupFailed(f"{key.strip()!r} matches {len(traces)} Debug IDs: {shown}; give more characters")
    return events


def events_table(events: list[dict[str, Any]]) -> Table:
    """A table of events: time, server, user, code, severity, message, Debug ID."""
    table = Table(show_lines=False)
    for column in ("time", "server", "user", "code", "severity"):
        table.add_column(column, no_wrap=column in ("time", "code"))
    table.add_column("message", ratio=1)
    table.add_column("Debug ID", overflow="fold")
    for event in events:
        table.add_row(
            str(event["ts"]),
            str(event["server"]),
            str(event.get("userId") or "(server-wide)"),
            str(event["code"]),
            _severity(str(event["severity"])),
            str(event.get("messageSafe") or ""),
            str(event["traceId"]),
        )
    return table


def event_line(event: dict[str, Any]) -> str:
    """One event as one line of `tail` output (Rich markup)."""
    user = event.get("userId") or "(server-wide)"
    tool = f" tool={event['tool']}" if event.get("tool") else ""
    return (
        f"{event['ts']}  {_severity(str(event['severity'])):<16} {event['code']:<22} {user}{tool}  "
        f"{event.get('messageSafe') or ''}  [dim]debug={event['traceId']}[/dim]"
    )


async def _newer(store: EventStore, query: EventQuery, after: Position | None) -> list[dict[str, Any]]:
    """Events of `query` after position `after`, oldest first (pages newest-first until passing it)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await store.page(
            EventQuery(
                server=query.server,
                user_id=query.user_id,
                min_severity=query.min_severity,
                since=after[0] if after else None,
                limit=MAX_PAGE,
                cursor=cursor,
            )
        )
        fresh = [e for e in page.items if after is None or (_ts(e), str(e["id"])) > after]
        found.extend(fresh)
        if len(fresh) < len(page.items) or page.next_cursor is None:
            return found[::-1]
        cursor = page.next_cursor


async def follow(
    url: str | None,
    query: EventQuery,
    *,
    lines: int,
    interval: float,
    show: Callable[[dict[str, Any]], None],
) -> None:
    """Show the last `lines` events of `query`, then each newer one as it arrives, until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    async with opened_store(url) as store:
        try:
            query = query.checked()
        except StoreError as exc:
            raise LookupFailed(getattr(exc, "message", None) or str(exc)) from exc
        with stop_signals(stop.set, stop.set):
            page = await store.page(
                EventQuery(
                    server=query.server,
                    user_id=query.user_id,
                    min_severity=query.min_severity,
                    limit=min(max(lines, 1), MAX_PAGE),
                )
            )
            for event in reversed(page.items[:lines]):
                show(event)
            position = (_ts(page.items[0]), str(page.items[0]["id"])) if page.items else None
            while not stop.is_set():
                for event in await _newer(store, query, position):
                    show(event)
                    position = (_ts(event), str(event["id"]))
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)


def tail_query(server: str, user: str | None, severity: str | None) -> EventQuery:
    """The query `tail` follows; `ValueError` for an unknown severity."""
    level = Severity(severity) if severity else None
    return EventQuery(server=server, user_id=user, min_severity=level)
