"""`mcpdiag search` and `mcpdiag tail`: read the event store directly, find a trace, follow a server."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any, TypeVar

from mcpdiag.cli.errors import BadArgument, LookupFailed
from mcpdiag.cli.serving import stop_signals
from mcpdiag.collector.settings import get_collector_settings
from mcpdiag.emitters import Severity
from mcpdiag.emitters.redact import quoted
from mcpdiag.store import sqlite_path
from mcpdiag.store.backends import check_store_url, open_store
from mcpdiag.store.base import MAX_PAGE, EventQuery, EventStore, trace_key
from mcpdiag.store.errors import InvalidQueryError, StoreError
from mcpdiag.store.traces import find_trace

__all__ = ["LookupFailed", "check_debug_id", "follow", "resolve_trace", "search", "tail_query"]

MAX_SERVERS_NAMED = 10
CLOSE_WITHIN_S = 2.0
"""How long closing the store may take once the person pressed Ctrl-C."""
INTERRUPTED = 130
Position = tuple[datetime, str]
T = TypeVar("T")


class Stopped(Exception):
    """Ctrl-C (or SIGTERM) arrived while waiting for the store."""


@asynccontextmanager
async def opened_store(url: str | None) -> AsyncIterator[EventStore]:
    """The store `url` names (default: MCPDIAG_STORE_URL), checked reachable, closed afterwards."""
    settings = get_collector_settings()
    url = check_store_url(url or settings.store_url)
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
        # Bounded: a store that stopped answering must not keep a stopped command alive.
        with suppress(TimeoutError, StoreError):
            await asyncio.wait_for(store.close(), CLOSE_WITHIN_S)


def _ts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00"))


def check_debug_id(key: str, option: str = "Debug ID") -> str:
    """`key` stripped, if it is shaped like a Debug ID the way the API checks it; `BadArgument` if not."""
    try:
        trace_key(key)
    except InvalidQueryError as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise BadArgument(f"{option} {quoted(key.strip())} is not a Debug ID: it {reason}") from None
    return key.strip()


async def resolve_trace(
    store: EventStore, key: str, option: str = "Debug ID"
) -> tuple[str, list[dict[str, Any]]]:
    """The one trace `key` designates and its events; `LookupFailed` when none or several match."""
    try:
        match = await find_trace(store, key)
    except StoreError as exc:
        raise LookupFailed(getattr(exc, "message", None) or str(exc)) from exc
    if not match.traces:
        raise LookupFailed(f"no event with {option} {quoted(key)} (it may have expired)")
    if match.trace_id is None:
        shown = ", ".join(match.candidates)
        raise LookupFailed(
            f"{quoted(key)} matches {len(match.traces)} Debug IDs: {shown}; give more characters"
        )
    return match.trace_id, match.events


async def search(url: str | None, key: str) -> tuple[str, list[dict[str, Any]]]:
    """The trace of one Debug ID (a trace id, a prefix of at least 8 hex characters, or an event id) and
    its events. `BadArgument` for a malformed id; `LookupFailed` when nothing or several traces match."""
    key = check_debug_id(key)
    async with opened_store(url) as store:
        return await resolve_trace(store, key)


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


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T:
    """`work`'s result, or `Stopped` as soon as `stop` is set (the store call is abandoned)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        raise Stopped
    return task.result()


def _force_exit() -> None:
    # A second Ctrl-C: the person wants out now, whatever is still being closed.
    sys.stderr.flush()
    os._exit(INTERRUPTED)


async def follow(
    url: str | None,
    query: EventQuery,
    *,
    lines: int,
    interval: float,
    show: Callable[[dict[str, Any]], None],
    note: Callable[[str], None],
    wait: bool = False,
) -> None:
    """Show the last `lines` events of `query`, then each newer one as it arrives, until SIGINT/SIGTERM.

    A server without any stored event raises `LookupFailed` naming the servers that have some, unless
    `wait` is set; then `note` says it is waiting for its first event."""
    try:
        query = query.checked()
    except StoreError as exc:
        raise BadArgument(getattr(exc, "message", None) or str(exc)) from exc
    stop = asyncio.Event()
    with stop_signals(stop.set, _force_exit):
        try:
            async with opened_store(url) as store:
                await _follow(
                    store, query, stop, lines=lines, interval=interval, show=show, note=note, wait=wait
                )
        except Stopped:
            return


async def _follow(
    store: EventStore,
    query: EventQuery,
    stop: asyncio.Event,
    *,
    lines: int,
    interval: float,
    show: Callable[[dict[str, Any]], None],
    note: Callable[[str], None],
    wait: bool,
) -> None:
    servers = await _unless_stopped(stop, store.list_servers())
    if query.server not in servers and not wait:
        known = ", ".join(servers[:MAX_SERVERS_NAMED]) + (", …" if len(servers) > MAX_SERVERS_NAMED else "")
        where = f"servers with events: {known}" if servers else "the store is empty"
        raise LookupFailed(
            f"no events for server {quoted(query.server)} yet ({where}); "
            "check the name, or pass --wait to wait for its first event"
        )
    if query.server not in servers:
        note(f"waiting for the first event of {quoted(query.server)}… (Ctrl-C to stop)")
    page = await _unless_stopped(
        stop,
        store.page(
            EventQuery(
                server=query.server,
                user_id=query.user_id,
                min_severity=query.min_severity,
                limit=min(max(lines, 1), MAX_PAGE),
            )
        ),
    )
    if query.server in servers and not page.items:
        note("no matching events yet; following…")
    for event in reversed(page.items[:lines]):
        show(event)
    position = (_ts(page.items[0]), str(page.items[0]["id"])) if page.items else None
    while not stop.is_set():
        for event in await _unless_stopped(stop, _newer(store, query, position)):
            show(event)
            position = (_ts(event), str(event["id"]))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def tail_query(server: str, user: str | None, severity: str | None) -> EventQuery:
    """The query `tail` follows; `BadArgument` for an unknown severity."""
    try:
        level = Severity(severity) if severity else None
    except ValueError:
        allowed = ", ".join(s.value for s in Severity)
        raise BadArgument(f"unknown severity {quoted(severity)}: use one of {allowed}") from None
    return EventQuery(server=server, user_id=user, min_severity=level)
