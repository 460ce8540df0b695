"""Export: stream a selection of stored events out as gzipped NDJSON, with bounded memory.

The walk goes server by server (sorted), each server's events oldest first, through the store's own
`iter_export_lines` (SQLite builds the lines itself). Compression runs in a worker thread (zlib releases
the GIL), so it overlaps the store's read of the next chunk.
"""

from __future__ import annotations

import asyncio
import os
import socket
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from mcpdiag.store.base import EventStore
from mcpdiag.store.transfer.progress import ProgressCallback, TransferProgress, notify
from mcpdiag.store.transfer.wire import (
    FORMAT,
    VERSION,
    Counts,
    ExportHeader,
    ExportSelection,
    Window,
    end_line,
)

GZIP_LEVEL = 6
SERVER_PAGE = 1000
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an export will write: its header, and the servers with matching events (and how many)."""

    selection: ExportSelection
    header: ExportHeader
    servers: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A finished export file."""

    path: Path
    events: int
    servers: int
    size: int


async def all_servers(store: EventStore) -> list[str]:
    """Every server name the store holds, read a page at a time."""
    names: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_servers(after=after, limit=SERVER_PAGE)
        names.extend(page)
        if len(page) < SERVER_PAGE:
            return names
        after = page[-1]


async def plan_export(
    store: EventStore, selection: ExportSelection, *, host: str | None = None, now: datetime | None = None
) -> ExportPlan:
    """Count what `selection` holds in `store` (as of now: the walk also takes what arrives meanwhile)."""
    now = now or store.clock()
    names = list(selection.servers) or await all_servers(store)
    found: list[tuple[str, int]] = []
    for name in names:
        count = await store.count(selection.query(name))
        if count:
            found.append((name, count))
    header = ExportHeader(
        format=FORMAT,
        version=VERSION,
        created_at=now,
        source_host=(host or socket.gethostname())[:256],
        window=Window(since=selection.since, until=selection.until),
        filters=selection.filters(),
        counts=Counts(events=sum(n for _, n in found), servers=len(found)),
    )
    return ExportPlan(selection, header, tuple(found))


async def export_lines(
    store: EventStore,
    plan: ExportPlan,
    *,
    progress: TransferProgress | None = None,
    on_progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK,
) -> AsyncIterator[list[str]]:
    """The export's lines (no newlines) in batches: the header, every event, the end line."""
    state = progress or TransferProgress()
    notify(state, on_progress, phase="exporting", total=plan.header.counts.events)
    yield [plan.header.to_line()]
    written = 0
    for server, _ in plan.servers:
        query = plan.selection.query(server)
        async for lines in store.iter_export_lines(query, chunk_size=chunk_size):
            written += len(lines)
            yield lines
            notify(state, on_progress, done=written)
    yield [end_line(written)]
    notify(state, on_progress, phase="done", done=written)


async def export_gzip(
    store: EventStore,
    plan: ExportPlan,
    *,
    level: int = GZIP_LEVEL,
    progress: TransferProgress | None = None,
    on_progress: ProgressCallback | None = None,
) -> AsyncIterator[bytes]:
    """The export as gzip bytes, chunk by chunk (for a file or an HTTP response)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip container
    async for lines in export_lines(store, plan, progress=progress, on_progress=on_progress):
        data = ("\n".join(lines) + "\n").encode()
        chunk = (
            await asyncio.to_thread(compressor.compress, data)
            if len(data) > 65536
            else compressor.compress(data)
        )
        if chunk:
            yield chunk
    yield compressor.flush()


async def write_export(
    store: EventStore,
    plan: ExportPlan,
    path: Path,
    *,
    level: int = GZIP_LEVEL,
    progress: TransferProgress | None = None,
    on_progress: ProgressCallback | None = None,
) -> ExportResult:
    """Write the export to `path`: into `path.partial` first, renamed once complete, so a file at `path`
    is always a whole export."""
    partial = path.with_name(path.name + ".partial")
    state = progress or TransferProgress()
    out = await asyncio.to_thread(partial.open, "wb")
    try:
        with out:
            async for chunk in export_gzip(store, plan, level=level, progress=state, on_progress=on_progress):
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(_sync, out)
        await asyncio.to_thread(partial.replace, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = (await asyncio.to_thread(path.stat)).st_size
    return ExportResult(path, state.done, len(plan.servers), size)


def _sync(out: BinaryIO) -> None:
    out.flush()
    os.fsync(out.fileno())
