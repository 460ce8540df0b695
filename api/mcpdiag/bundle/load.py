"""Loading a bundle back into an event store: what `mcpdiag open` and an admin's dropped bundle show.

`bundle_info` reads what the manifest says (counts, servers, window, host) without loading anything: the
preview before a bundle is opened. `load_bundle` appends every event of `events/*.jsonl` to a store, so the
API answers about the customer's deployment as the bundle captured it: `viewer_store` makes that store a
throwaway SQLite file whose clock stands still at the end of the bundle's window (so "the last 24 hours"
means the 24 hours before the capture) and whose retention keeps every event of it.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mcpdiag.bundle.errors import BundleFormatError
from mcpdiag.bundle.integrity import MANIFEST
from mcpdiag.bundle.scanhelper import usable_cpus
from mcpdiag.store import ImportCounts, SQLiteEventStore, StoredDocument
from mcpdiag.store.base import EventStore, Retention
from mcpdiag.store.errors import TransferError
from mcpdiag.store.transfer import Redact
from mcpdiag.store.transfer.parallel import Checked, CheckPool, check_packed
from mcpdiag.store.transfer.stage import unpack

LOAD_BATCH = 1000
WRITE_BATCH = 10_000
"""Checked events written to the store at once: one transaction per 10,000 costs SQLite about a third
less than one per 1,000 (it rewrites the pages each transaction touched)."""
MAX_LINE = 64 * 1024
PARALLEL_FROM = 20_000
"""Bundles from this many events are checked in worker processes (below, starting them costs more)."""
MAX_WORKERS = 4
VIEWER_RETENTION = Retention(error=timedelta(days=36500), default=timedelta(days=36500))
"""A viewer keeps every event it loaded, however old the bundle."""

LoadProgress = Callable[[int, int], None]
"""Called with (events loaded, events the manifest counts) as a bundle loads."""


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """What a bundle's manifest says about it: the banner and the preview of an opened bundle."""

    name: str
    generated_at: str
    hostname: str
    window_from: str
    window_to: str
    events: int
    failures: int
    servers: list[dict[str, Any]] = field(default_factory=list)
    """`{"server", "events"}` per server, as the manifest lists them."""
    app_version: str = ""
    scope: dict[str, Any] = field(default_factory=dict)

    @property
    def until(self) -> datetime:
        """The end of the bundle's window: the viewer's "now"."""
        return _instant(self.window_to) or _instant(self.generated_at) or datetime.fromtimestamp(0, UTC)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (snake_case; the API renames it)."""
        return asdict(self)


def _instant(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return value if value.tzinfo is not None else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def bundle_info(zf: zipfile.ZipFile, name: str) -> BundleInfo:
    """The `BundleInfo` of an open bundle ZIP; `BundleFormatError` when it has no readable manifest."""
    try:
        info = zf.getinfo(MANIFEST)
        if info.file_size > 64 << 20:
            raise ValueError("too large")
        doc = json.loads(zf.read(info))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError):
        raise BundleFormatError(f"{name} has no readable {MANIFEST}: it is not an mcpdiag bundle") from None
    if not isinstance(doc, dict):
        raise BundleFormatError(f"{name}: {MANIFEST} is not a bundle manifest")
    counts, coverage, scope = (_mapping(doc.get(key)) for key in ("counts", "coverage", "scope"))
    servers = [
        {"server": str(row.get("server")), "events": int(row.get("events", 0))}
        for row in counts.get("by_server", [])
        if isinstance(row, dict)
    ]
    return BundleInfo(
        name=name,
        generated_at=str(doc.get("generated_at", "")),
        hostname=str(doc.get("hostname", "")),
        window_from=str(coverage.get("requested_from") or scope.get("from") or ""),
        window_to=str(coverage.get("requested_to") or scope.get("to") or ""),
        events=int(counts.get("events", 0)),
        failures=int(counts.get("failures", 0)),
        servers=servers,
        app_version=str(doc.get("app_version", "")),
        scope=scope,
    )


def read_info(path: Path, name: str | None = None) -> BundleInfo:
    """`bundle_info` of the plaintext bundle ZIP at `path`."""
    try:
        with zipfile.ZipFile(path) as zf:
            return bundle_info(zf, name or path.name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleFormatError(f"{name or path.name} is not a ZIP file ({exc})") from None


@dataclass(slots=True)
class LoadResult:
    """What `load_bundle` stored, and the lines it could not read (counted, never guessed at)."""

    info: BundleInfo
    loaded: int = 0
    skipped: int = 0


def default_workers() -> int:
    """Check workers for a large bundle: one fewer than the usable CPUs (this process reads the bundle and
    writes the store meanwhile), at most `MAX_WORKERS`; 1 (checks in this process) on two CPUs or fewer."""
    cpus = usable_cpus()
    return 1 if cpus <= 2 else min(cpus - 1, MAX_WORKERS)


def _keep(item: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    return item


def _no_redaction() -> Redact:
    """A bundle's events were redacted when it was exported: loading them only checks them."""
    return _keep


def _batches(zf: zipfile.ZipFile) -> Iterator[list[tuple[int, bytes | None]]]:
    """The lines of every `events/*.jsonl` member, numbered, `LOAD_BATCH` at a time (an overlong line is
    None: the check counts it as bad without reading it)."""
    batch: list[tuple[int, bytes | None]] = []
    number = 0
    for info in zf.infolist():
        if not (info.filename.startswith("events/") and info.filename.endswith(".jsonl")):
            continue
        with zf.open(info) as raw:
            while line := raw.readline(MAX_LINE + 1):
                number += 1
                if len(line) > MAX_LINE:
                    while line and not line.endswith(b"\n"):
                        line = raw.readline(MAX_LINE + 1)
                    batch.append((number, None))
                elif line.strip():
                    batch.append((number, line))
                if len(batch) >= LOAD_BATCH:
                    yield batch
                    batch = []
    if batch:
        yield batch


async def _read(zf: zipfile.ZipFile) -> AsyncIterator[list[tuple[int, bytes | str | None]]]:
    for batch in _batches(zf):
        yield list(batch)
        await asyncio.sleep(0)


async def _in_process(
    batches: AsyncIterator[list[tuple[int, bytes | str | None]]], now: datetime, retention: Retention
) -> AsyncIterator[Checked]:
    redact = _no_redaction()
    async for batch in batches:
        yield check_packed(batch, now, retention, redact)


async def load_bundle(
    path: Path,
    store: EventStore,
    *,
    progress: LoadProgress | None = None,
    name: str | None = None,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> LoadResult:
    """Append every event of the bundle ZIP at `path` (called `name`: the file as it was given) to `store`;
    the hourly rollups fill as they do on any write. Each line is checked as an import checks it (the
    wire contract, times): in `workers` processes (default: `default_workers()`) while this one writes,
    for a bundle of `parallel_from` events or more. A line that is not a valid event is skipped and
    counted, never guessed at. Ends with `store.ensure_schema()`, which builds the indexes a
    `viewer_store` leaves out during the load."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleFormatError(f"{path.name} is not a ZIP file ({exc})") from None
    with zf:
        result = LoadResult(bundle_info(zf, name or path.name))
        now, retention = store.clock(), store.retention
        workers = default_workers() if workers is None else workers
        parallel = workers > 1 and result.info.events >= parallel_from
        pool = (
            await asyncio.to_thread(CheckPool, workers, now, retention, _no_redaction) if parallel else None
        )
        # One batch is written (in the store's thread, mostly in SQLite's C code) while the next is checked:
        # one after the other, a 100k bundle spent a third of its load waiting for the writes.
        writing: asyncio.Task[ImportCounts] | None = None
        ready: list[StoredDocument] = []
        try:
            checked = pool.checked(_read(zf)) if pool else _in_process(_read(zf), now, retention)
            async for part in checked:
                result.skipped += part.bad + part.expired
                if part.documents:
                    ready.extend(unpack(part.blob))
                if len(ready) >= WRITE_BATCH:
                    if writing is not None:
                        result.loaded += (await writing).inserted
                    writing, ready = asyncio.create_task(store.import_documents(ready)), []
                if progress:
                    progress(result.loaded, result.info.events)
            if writing is not None:
                result.loaded += (await writing).inserted
                writing = None
            if ready:
                result.loaded += (await store.import_documents(ready)).inserted
            # A viewer store was made without the events' indexes (`viewer_store`): built once, here.
            await store.ensure_schema()
        except TransferError as exc:
            raise BundleFormatError(f"{result.info.name} could not be loaded: {exc}") from exc
        finally:
            if writing is not None:
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
            if pool is not None:
                await asyncio.to_thread(pool.close)
        if progress:
            progress(result.loaded, result.info.events)
    return result


class _StillClock:
    """A clock that always reads the same instant: the end of the bundle's window."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def viewer_store(db: Path, info: BundleInfo) -> SQLiteEventStore:
    """A new SQLite store at `db` for a bundle's events: its clock at `info.until`, nothing expiring.

    It is deleted when the viewer stops, so its writes are never fsynced (`durable=False`), and it has no
    events indexes until `load_bundle` has written every event and builds them, once.
    """
    store = SQLiteEventStore(db, retention=VIEWER_RETENTION, clock=_StillClock(info.until), durable=False)
    await store.ensure_schema(indexes=False)
    return store
