"""Import: check every line of an export, stage what passed, then commit it to the store.

Nothing is half-imported: the store is written only once the whole file checked clean (a bad line refuses
the import with its line number and field). The commit is idempotent by event id, so an import killed
while committing is run again and ends complete, with nothing stored twice. A dry run checks and counts
(what is new, already present, past retention) and writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mcpdiag.emitters import format_ts
from mcpdiag.store.base import EventStore, Retention
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument
from mcpdiag.store.errors import RejectedLinesError
from mcpdiag.store.transfer.checks import LineChecker, Problem, Redact, ServerTally, default_redact
from mcpdiag.store.transfer.exporter import ExportPlan, plan_export
from mcpdiag.store.transfer.parallel import Checked, CheckPool, RedactFactory, check_packed
from mcpdiag.store.transfer.progress import ProgressCallback, TransferProgress, notify
from mcpdiag.store.transfer.reader import ExportReader
from mcpdiag.store.transfer.stage import Stage, unpack
from mcpdiag.store.transfer.wire import ExportHeader, ExportSelection

BATCH = 1000
COMMIT_BATCHES = 10
"""Staged batches written in one store call (10,000 events by default): per transaction, SQLite rewrites
the index pages a batch touched, so ten batches at once cost about a third less than ten calls."""
REPORTED_SERVERS = 50
PARALLEL_FROM = 20_000
"""Fewer events than this are checked in this process: starting workers costs about a second."""


@dataclass(slots=True)
class ImportReport:
    """What an import read, refused, skipped and stored (or, in a dry run, would store)."""

    header: ExportHeader
    dry_run: bool
    conflict: Conflict
    lines: int = 0
    """Event lines read."""
    valid: int = 0
    """Valid lines not past their retention (what is stored, or found already present)."""
    expired: int = 0
    """Valid lines already past their retention at the importing store: skipped."""
    bad: int = 0
    problems: list[Problem] = field(default_factory=list)
    counts: ImportCounts = field(default_factory=ImportCounts)
    servers: dict[str, ServerTally] = field(default_factory=dict)
    redactions: dict[str, int] = field(default_factory=dict)
    committed: bool = False

    def summary(self) -> str:
        """One line for a person: `Imported 98,412 events, 1,588 skipped: already present`."""
        counts = self.counts
        if self.bad:
            line, name, message = self.problems[0]
            verdict = "the import would be refused" if self.dry_run else "nothing was imported"
            return f"{self.bad:,} bad line(s), the first: line {line:,}: {name}: {message}; {verdict}"
        parts = [f"{counts.inserted:,} events"]
        if counts.updated:
            parts.append(f"{counts.updated:,} replaced")
        if counts.present:
            parts.append(f"{counts.present:,} skipped: already present")
        if self.expired:
            parts.append(f"{self.expired:,} skipped: past retention")
        if self.dry_run:
            return "Dry run: would import " + ", ".join(parts) + "; nothing was written"
        return "Imported " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The report as the API answers it (camelCase)."""
        header = self.header
        top = sorted(self.servers.items(), key=lambda item: (-item[1].valid, item[0]))[:REPORTED_SERVERS]
        return {
            "dryRun": self.dry_run,
            "conflict": self.conflict,
            "source": {
                "host": header.source_host,
                "createdAt": format_ts(header.created_at),
                "since": format_ts(header.window.since) if header.window.since else None,
                "until": format_ts(header.window.until) if header.window.until else None,
                "events": header.counts.events,
                "servers": header.counts.servers,
            },
            "lines": self.lines,
            "valid": self.valid,
            "expired": self.expired,
            "badLines": self.bad,
            "problems": [{"line": n, "field": f, "message": m} for n, f, m in self.problems],
            "inserted": self.counts.inserted,
            "updated": self.counts.updated,
            "present": self.counts.present,
            "servers": [{"server": s, "valid": t.valid, "expired": t.expired} for s, t in top],
            "serverCount": len(self.servers),
            "redactions": dict(self.redactions),
            "committed": self.committed,
            "summary": self.summary(),
        }


class LineSource(Protocol):
    """Where an import's lines come from: an export file, or a store being migrated."""

    header: ExportHeader

    def batches(self, size: int) -> AsyncIterator[list[tuple[int, bytes | str | None]]]:
        """The event lines, numbered as in an export file (the header is line 1)."""
        ...

    async def close(self) -> None:
        """Release the file or stop the walk."""


class FileSource:
    """The lines of an export file, read in a worker thread."""

    def __init__(self, reader: ExportReader) -> None:
        self.reader = reader
        self.header = reader.header

    @classmethod
    async def open(cls, path: Path, *, max_bytes: int | None = None) -> FileSource:
        """Open `path` and read its header (`InvalidExportError` if it is not an export)."""
        return cls(await asyncio.to_thread(ExportReader, path, max_bytes=max_bytes))

    async def batches(self, size: int) -> AsyncIterator[list[tuple[int, bytes | str | None]]]:
        """Batches of up to `size` lines until the end line has been read and checked."""
        while batch := await asyncio.to_thread(self.reader.batch, size):
            yield list(batch)

    async def close(self) -> None:
        """Close the file."""
        await asyncio.to_thread(self.reader.close)


class StoreSource:
    """The export lines of a store, without a file in between (`mcpdiag migrate`)."""

    def __init__(self, store: EventStore, plan: ExportPlan) -> None:
        self.store = store
        self.plan = plan
        self.header = plan.header

    async def batches(self, size: int) -> AsyncIterator[list[tuple[int, bytes | str | None]]]:
        """The plan's events, server by server, numbered from line 2 as in its export file."""
        number = 1
        for server, _ in self.plan.servers:
            query = self.plan.selection.query(server)
            async for lines in self.store.iter_export_lines(query, chunk_size=size):
                start, number = number + 1, number + len(lines)
                yield list(zip(range(start, number + 1), lines, strict=True))

    async def close(self) -> None:
        """Nothing to release (the store stays the caller's)."""


async def import_events(
    store: EventStore,
    source: LineSource,
    *,
    conflict: Conflict = "skip",
    dry_run: bool = False,
    redact: RedactFactory = default_redact,
    workers: int = 1,
    progress: TransferProgress | None = None,
    on_progress: ProgressCallback | None = None,
    stage_dir: Path | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Check every line of `source`, then (unless a dry run) commit the valid ones to `store`.

    `redact` builds the redaction step (in each worker, with `workers` > 1: a large import is checked in
    that many processes). Raises `RejectedLinesError` (nothing stored) when a line is bad,
    `InvalidExportError` when the source is not a whole export; a dry run reports bad lines instead of
    raising. Closes `source`.
    """
    state = progress or TransferProgress()
    now, retention = store.clock(), store.retention
    totals = LineChecker(now=now, retention=retention)
    report = ImportReport(header=source.header, dry_run=dry_run, conflict=conflict)
    parallel = workers > 1 and source.header.counts.events >= PARALLEL_FROM
    pool = await asyncio.to_thread(CheckPool, workers, now, retention, redact) if parallel else None
    stage = None if dry_run else await asyncio.to_thread(Stage, stage_dir)
    try:
        notify(state, on_progress, phase="checking", total=source.header.counts.events)
        batches = source.batches(batch_size)
        checked = pool.checked(batches) if pool else _in_process(batches, now, retention, redact())
        async with contextlib.aclosing(checked):
            async for part in checked:
                part.absorb_into(totals)
                report.lines += part.lines
                if stage is not None and not totals.bad:  # once a line is bad nothing will be committed
                    await asyncio.to_thread(stage.write_packed, part.blob, part.documents)
                if dry_run and part.documents:
                    docs = unpack(part.blob)
                    report.counts.add(await store.import_documents(docs, conflict=conflict, dry_run=True))
                notify(state, on_progress, done=report.lines)
                if totals.gave_up:
                    break
        report.valid, report.expired, report.bad = totals.valid, totals.expired, totals.bad
        report.problems, report.servers, report.redactions = (
            totals.problems,
            totals.servers,
            totals.redactions,
        )
        if report.bad and not dry_run:
            raise RejectedLinesError(report.problems, report.bad)
        if stage is not None:
            notify(state, on_progress, phase="importing", total=stage.documents)
            await _commit(store, stage, conflict, report, state, on_progress)
            report.committed = True
        notify(state, on_progress, phase="done")
        return report
    finally:
        await source.close()
        if pool is not None:
            await asyncio.to_thread(pool.close)
        if stage is not None:
            await asyncio.to_thread(stage.remove)


async def _in_process(
    batches: AsyncIterator[list[tuple[int, bytes | str | None]]],
    now: datetime,
    retention: Retention,
    redact: Redact,
) -> AsyncGenerator[Checked, None]:
    """The batches checked here, one at a time in a worker thread."""
    async for batch in batches:
        yield await asyncio.to_thread(check_packed, batch, now, retention, redact)


async def import_file(
    store: EventStore, path: Path, *, max_bytes: int | None = None, **options: Any
) -> ImportReport:
    """`import_events` from an export file at `path` (options as `import_events` takes them)."""
    return await import_events(store, await FileSource.open(path, max_bytes=max_bytes), **options)


async def migrate(
    source: EventStore,
    target: EventStore,
    selection: ExportSelection | None = None,
    *,
    host: str | None = None,
    **options: Any,
) -> ImportReport:
    """Export `selection` of `source` and import it into `target` in one streaming step (no file)."""
    plan = await plan_export(source, selection or ExportSelection(), host=host)
    return await import_events(target, StoreSource(source, plan), **options)


def _grouped(batches: Iterator[list[StoredDocument]], size: int) -> Iterator[list[StoredDocument]]:
    """`size` batches at a time, as one list."""
    while group := [doc for batch in itertools.islice(batches, size) for doc in batch]:
        yield group


async def _commit(
    store: EventStore,
    stage: Stage,
    conflict: Conflict,
    report: ImportReport,
    state: TransferProgress,
    on_progress: ProgressCallback | None,
) -> None:
    """Write the staged batches `COMMIT_BATCHES` at a time, reading the next ones while the store writes."""
    batches = _grouped(stage.read(), COMMIT_BATCHES)
    done = 0
    pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    try:
        while (docs := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
            report.counts.add(await store.import_documents(docs, conflict=conflict))
            done += len(docs)
            notify(state, on_progress, done=done)
    finally:
        # Stopped by an error: let the read ahead finish (its result is dropped) before the stage closes.
        await asyncio.gather(pending, return_exceptions=True)
