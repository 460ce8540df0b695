"""`export_bundle`: stream a scope's events into a sanitized ZIP, leak-scan it, and only then keep it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, cast

from mcpdiag.bundle.aggregate import BundleStats
from mcpdiag.bundle.analysis import render_analysis
from mcpdiag.bundle.crypt import AGE_SUFFIX, Encryption
from mcpdiag.bundle.errors import BundleOutputError, BundleStoreError
from mcpdiag.bundle.integrity import trailer_members
from mcpdiag.bundle.known_secrets import collect_known_secrets, deployment_environ
from mcpdiag.bundle.leakscan import scan_bundle
from mcpdiag.bundle.manifest import coverage, manifest, scope_text
from mcpdiag.bundle.readme import render_readme
from mcpdiag.bundle.sanitize import CleanBatch, EventSanitizer
from mcpdiag.bundle.scanhelper import ScanFollow
from mcpdiag.bundle.scope import BundleScope, bundle_filename
from mcpdiag.bundle.selection import member_name, select
from mcpdiag.bundle.settings_file import sanitize_settings
from mcpdiag.bundle.streamscan import StreamFollow
from mcpdiag.bundle.system import system_info, version_info
from mcpdiag.emitters.redact import OFFLOAD_CHARS
from mcpdiag.store.base import EventStore
from mcpdiag.store.errors import StoreError

FLUSH_LINES = 1000
COMPRESS_LEVEL = 1

ProgressFn = Callable[[str, int], None]
"""Called with a phase (`events`, `scan`, `done`) and the number of events written so far."""


@dataclass(frozen=True, slots=True)
class BundleResult:
    """A finished, leak-scanned bundle on disk."""

    path: Path
    filename: str
    size: int
    event_count: int
    counts: dict[str, Any] = field(default_factory=dict)
    """Events per server, failures, redactions: what the audit log records besides the scope."""
    scanned_by: Literal["helper", "exporter"] = "exporter"
    """Which process ran the final leak scan: `helper` (beside the export) or `exporter` (after it)."""
    helper_failure: str | None = None
    """Why the scan helper, when one was wanted, left the scan to the exporter (for the logs)."""
    encryption: str | None = None
    """How the bundle is encrypted (`age, 2 recipients`, `age, passphrase`), None for a plain ZIP."""


class _Member:
    """One ZIP member being written, with its size and SHA-256 computed on the way."""

    def __init__(self, stream: IO[bytes], header: int) -> None:
        self.stream = stream
        self.header = header
        """File offset of the member's local header."""
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.stream.write(data)


class _Writer:
    """Writes members and records each one's size and hash for MANIFEST.json."""

    def __init__(self, zf: zipfile.ZipFile, raw: IO[bytes]) -> None:
        self.zf = zf
        self.raw = raw
        self.files: list[dict[str, Any]] = []

    def open(self, name: str) -> _Member:
        # Members are written one after the other: the next header goes where the file ends now.
        header = self.raw.tell()
        return _Member(self.zf.open(name, "w", force_zip64=True), header)

    def close(self, name: str, member: _Member) -> None:
        member.stream.close()
        self.files.append({"name": name, "size": member.size, "sha256": member.sha.hexdigest()})

    def flushed(self) -> int:
        """How far the file is written, flushed so that the scan helper can read it."""
        self.raw.flush()
        return self.raw.tell()

    def add(self, name: str, data: bytes) -> None:
        member = self.open(name)
        member.write(data)
        self.close(name, member)

    def json(self, name: str, value: Any) -> None:
        self.add(name, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())


class _Appender:
    """Appends a server's batches to its member, and tells the scan plan how far the file is written.

    In the event loop's thread, not a worker's: deflate and SHA-256 release the GIL, but with the scan helper
    busy on the other CPU (every large export), handing the GIL back and forth with the sanitizing thread
    costs more than the overlap gains (measured: `docs/benchmarks.md`, "Measurements behind the code").
    The price: the loop is busy for the write of each batch (a few ms; a batch of much text is sanitized
    in a worker thread, `_sanitized`), and a stalled disk stalls it.
    """

    def __init__(self, writer: _Writer, follow: ScanFollow | StreamFollow) -> None:
        self.writer = writer
        self.follow = follow
        self.name = ""
        self.member: _Member | None = None

    async def append(self, name: str, data: bytes) -> None:
        if self.member is None:
            self.name = name
            self.member = self.writer.open(name)
        self.member.write(data)
        await self.follow.grow(self.name, self.member.header, self.writer.flushed(), closed=False)

    async def close(self) -> None:
        if self.member is not None:
            member, self.member = self.member, None
            self.writer.close(self.name, member)
            await self.follow.grow(self.name, member.header, self.writer.flushed(), closed=True)

    def abandon(self) -> None:
        """After a failure: close the member being written (its own error is the lesser one), so that the
        ZIP can be torn down and the first error is the one reported."""
        if self.member is not None:
            member, self.member = self.member, None
            with contextlib.suppress(Exception):
                member.stream.close()


async def _sanitized(sanitizer: EventSanitizer, batch: list[str]) -> CleanBatch:
    """`sanitizer.json_lines(batch)`; a batch of much text is redacted in a worker thread, so that the event
    loop (health checks, other requests) is never held for the CPU time of a large or hostile batch."""
    if sum(map(len, batch)) < OFFLOAD_CHARS:
        return sanitizer.json_lines(batch)
    return await asyncio.to_thread(sanitizer.json_lines, batch)


def _flush(
    appender: _Appender,
    clean: CleanBatch,
    taken: set[str],
    stats: BundleStats,
    redactions: dict[str, Counter[str]],
) -> tuple[str, bytes]:
    """Count one sanitized batch of a server's events: the member name and bytes."""
    name = appender.name
    if appender.member is None:
        name = member_name(clean.keys[0][0], taken)
    stats.add_batch(clean.keys, clean.stamps, clean.lines, counts=clean.counts, spans=clean.spans)
    if clean.redactions:
        redactions[name].update(clean.redactions)
    return name, ("\n".join(clean.lines) + "\n").encode()


async def _write_events(
    store: EventStore,
    scope: BundleScope,
    writer: _Writer,
    sanitizer: EventSanitizer,
    stats: BundleStats,
    redactions: dict[str, Counter[str]],
    visible: Sequence[str] | None,
    progress: ProgressFn | None,
    follow: ScanFollow | StreamFollow,
) -> tuple[list[str], datetime, datetime]:
    """Stream each server's events into its member; the loop yields at every store chunk and every flush."""
    selection = await select(store, scope, visible)
    taken: set[str] = set()
    for server in selection.servers:
        appender = _Appender(writer, follow)
        try:
            async for batch in selection.batches(store, scope, server, FLUSH_LINES):
                clean = await _sanitized(sanitizer, batch)
                await appender.append(*_flush(appender, clean, taken, stats, redactions))
                if progress:
                    progress("events", stats.total)
            await appender.close()
        except BaseException:
            appender.abandon()
            raise
    stats.settle()
    return selection.servers, selection.since, selection.until


def _checked_dir(out: Path) -> Path:
    if not out.is_dir() or not os.access(out, os.W_OK):
        raise BundleOutputError(f"the output directory {out} does not exist or is not writable")
    return out


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _place(tmp: Path, out_dir: Path, filename: str) -> tuple[Path, int]:
    """Give the scanned ZIP its final name (never over an existing bundle)."""
    path = out_dir / filename
    n = 1
    stem, dot, rest = filename.partition(".zip")
    while path.exists():
        n += 1
        path = out_dir / f"{stem}-{n}{dot}{rest}"
    tmp.replace(path)
    return path, path.stat().st_size


async def export_bundle(
    store: EventStore,
    scope: BundleScope,
    *,
    out_dir: str | Path,
    settings_snapshot: Mapping[str, Any],
    known_secrets: Iterable[str] = (),
    app_version: str,
    progress: ProgressFn | None = None,
    visible_servers: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    scan_helper: bool | None = None,
    encryption: Encryption | None = None,
    hmac_key: bytes | None = None,
) -> BundleResult:
    """Build the bundle of `scope` in `out_dir`; raises `BundleError` (and keeps no file) on any failure.

    `visible_servers` bounds an all-servers scope to what the caller may see (None = every stored server).
    `scan_helper`: whether the leak scan runs in a helper process beside the export (`tailscan`): None
    decides by size and CPUs, True always, False never (the scan then follows the export in this process).
    `encryption`: write `<name>.zip.age` instead, the ZIP streamed into the age writer (its plaintext never
    in a file) and scanned on its way there (`streamscan`). `hmac_key`: add MANIFEST.hmac (`integrity`).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    out = _checked_dir(Path(out_dir))
    secrets = collect_known_secrets(
        settings_snapshot, deployment_environ() if environ is None else environ, known_secrets
    )
    filename = bundle_filename(now) + (AGE_SUFFIX if encryption is not None else "")
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=out, prefix=".mcpdiag-support-", suffix=(filename[filename.index(".zip") :] + ".partial")
        )
    except OSError as exc:
        raise BundleOutputError(f"cannot create a file in {out}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    stream = StreamFollow.plan(secrets, scan_helper) if encryption is not None else None
    follow: ScanFollow | StreamFollow = stream or ScanFollow.plan(tmp, secrets, scan_helper)
    try:
        with os.fdopen(fd, "wb") as raw:
            build = (secrets, settings_snapshot, app_version, progress, visible_servers, now, out, follow)
            if encryption is None:
                stats = await _build(raw, store, scope, hmac_key, *build)
            else:
                assert stream is not None
                with encryption.writer(raw, stream.write) as sealed:
                    stats = await _build(cast(IO[bytes], sealed), store, scope, hmac_key, *build)
        if progress:
            progress("scan", stats.total)
        # Secrets registered while the export ran (the environment is read again) are scanned for too.
        now_environ = deployment_environ() if environ is None else environ
        scan_secrets = secrets | collect_known_secrets({}, now_environ)
        scanned_by: Literal["helper", "exporter"] = "helper"
        if stream is not None:
            await stream.finish(scan_secrets)
            scanned_by = "helper" if stream.used_helper else "exporter"
        elif not await follow.finish(scan_secrets):
            scanned_by = "exporter"
            await asyncio.to_thread(scan_bundle, tmp, scan_secrets)
        final, size = await asyncio.to_thread(_place, tmp, out, filename)
    except BaseException as exc:
        _discard(tmp)
        await asyncio.shield(follow.abort())
        if isinstance(exc, StoreError):
            raise BundleStoreError(f"the event store could not be read: {exc}") from exc
        if isinstance(exc, OSError):
            raise BundleOutputError(f"could not write the bundle in {out}: {exc.strerror or exc}") from exc
        raise
    if progress:
        progress("done", stats.total)
    counts = {
        "events": stats.total,
        "occurrences": stats.occurrences,
        "by_server": dict(sorted(stats.by_server.items())),
        "failures": stats.failure_count,
        "tool_errors": stats.tool_errors,
    }
    return BundleResult(
        final,
        final.name,
        size,
        stats.total,
        counts,
        scanned_by,
        follow.failure,
        encryption.describe() if encryption is not None else None,
    )


async def _build(
    raw: IO[bytes],
    store: EventStore,
    scope: BundleScope,
    hmac_key: bytes | None,
    secrets: frozenset[str],
    settings_snapshot: Mapping[str, Any],
    app_version: str,
    progress: ProgressFn | None,
    visible_servers: Sequence[str] | None,
    now: datetime,
    out: Path,
    follow: ScanFollow | StreamFollow,
) -> BundleStats:
    sanitizer = EventSanitizer(secrets, include_detail=scope.include_detail)
    stats = BundleStats()
    redactions: dict[str, Counter[str]] = {}

    def clean(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        cleaned = sanitizer.mapping(value, counts)
        if counts:
            redactions.setdefault(name, Counter()).update(counts)
        return cleaned

    def clean_text(name: str, text: str) -> str:
        counts: dict[str, int] = {}
        cleaned = sanitizer.text(text, counts)
        if counts:
            redactions.setdefault(name, Counter()).update(counts)
        return cleaned

    with zipfile.ZipFile(
        raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL, allowZip64=True
    ) as zf:
        writer = _Writer(zf, raw)
        event_redactions: dict[str, Counter[str]] = defaultdict(Counter)
        servers, since, until = await _write_events(
            store, scope, writer, sanitizer, stats, event_redactions, visible_servers, progress, follow
        )
        redactions.update(event_redactions)
        window = scope_text(scope, since, until)
        day = until.strftime("%Y-%m-%d")
        cover = await coverage(store, servers, since, until, now)
        writer.json("summary.json", clean("summary.json", stats.summary()))
        writer.add(
            "analysis.md",
            clean_text("analysis.md", render_analysis(stats, scope_text=window, day=day)).encode(),
        )
        writer.json("version.json", clean("version.json", version_info(app_version)))
        writer.json("system_info.json", clean("system_info.json", await asyncio.to_thread(system_info, out)))
        writer.json("settings.json", clean("settings.json", sanitize_settings(settings_snapshot)))
        readme = render_readme(
            scope_text=window, event_count=stats.total, include_detail=scope.include_detail
        )
        writer.add("README.md", clean_text("README.md", readme).encode())
        # Counted last so it covers every file, itself included (the manifest's own values are redacted too).
        # Rule names ("secret_key", "private_key") are listed as values: as keys they would read as secrets.
        redaction_doc = [
            {"file": name, "rules": [{"rule": rule, "count": n} for rule, n in sorted(c.items())]}
            for name, c in sorted(redactions.items())
        ]
        writer.json("redactions.json", redaction_doc)
        head = manifest(
            scope=clean("MANIFEST.json", scope.to_dict()),
            generated_at=now,
            hostname=clean_text("MANIFEST.json", socket.gethostname()),
            app_version=app_version,
            stats=stats,
            files=writer.files,
            coverage=cover,
            redactions=redaction_doc,
        )
        data = (json.dumps(head, indent=2, ensure_ascii=False) + "\n").encode()
        writer.add("MANIFEST.json", data)
        # After the manifest, which lists every other member: what vouches for the manifest itself.
        for name, trailer in trailer_members(data, hmac_key):
            writer.add(name, trailer)
    return stats
