"""Loading a bundle back into an event store: what `mcpdiag open` and an admin's dropped bundle show.

`bundle_info` reads what the manifest says (counts, servers, window, host) without loading anything: the
preview before a bundle is opened. `load_bundle` appends every event of `events/*.jsonl` to a store, so the
API answers about the customer's deployment as the bundle captured it: `viewer_store` makes that store a
throwaway SQLite file whose clock stands still at the end of the bundle's window (so "the last 24 hours"
means the 24 hours before the capture) and whose retention keeps every event of it.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpdiag.bundle.errors import BundleFormatError
from mcpdiag.bundle.integrity import MANIFEST
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import SQLiteEventStore
from mcpdiag.store.base import EventStore, Retention

LOAD_BATCH = 1000
MAX_LINE = 64 * 1024
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


async def load_bundle(
    path: Path, store: EventStore, *, progress: LoadProgress | None = None, name: str | None = None
) -> LoadResult:
    """Append every event of the bundle ZIP at `path` (called `name`: the file as it was given) to `store`,
    in batches; the hourly rollups fill as they do on any append. A line that is not a valid event is
    skipped and counted."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleFormatError(f"{path.name} is not a ZIP file ({exc})") from None
    with zf:
        result = LoadResult(bundle_info(zf, name or path.name))
        members = [
            i for i in zf.infolist() if i.filename.startswith("events/") and i.filename.endswith(".jsonl")
        ]
        batch: list[DiagnosticEvent] = []
        for info in members:
            with zf.open(info) as raw:
                for line in raw:
                    if len(line) > MAX_LINE or not line.strip():
                        result.skipped += bool(line.strip())
                        continue
                    try:
                        batch.append(DiagnosticEvent.model_validate_json(line))
                    except ValidationError:
                        result.skipped += 1
                        continue
                    if len(batch) >= LOAD_BATCH:
                        result.loaded += await store.append(batch)
                        batch = []
                        if progress:
                            progress(result.loaded, result.info.events)
        if batch:
            result.loaded += await store.append(batch)
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
    """A new SQLite store at `db` for a bundle's events: its clock at `info.until`, nothing expiring."""
    store = SQLiteEventStore(db, retention=VIEWER_RETENTION, clock=_StillClock(info.until))
    await store.ensure_schema()
    return store
