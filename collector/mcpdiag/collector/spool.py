"""The spool: an append-only directory of batches that could not be stored, replayed in order.

One file per batch, named by a monotonic sequence number (`00000000000000000042.batch`). A file holds a
header line `{"v": 1, "count": n, "bytes": b, "crc32": c}` and then one event per line (wire JSON). It is
written to a `.part` file, fsynced, renamed into place and the directory fsynced, so after a crash a batch
is either wholly present or absent; a leftover `.part` was never acknowledged and is deleted. A file whose
header or checksum does not match is moved to `corrupt/` (kept for a human, never replayed as valid).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mcpdiag.collector.errors import SpoolCorruptError, SpoolFullError
from mcpdiag.emitters import DiagnosticEvent

SUFFIX = ".batch"
PART_SUFFIX = ".part"
CORRUPT_DIR = "corrupt"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True, order=True)
class SpoolEntry:
    """One spooled batch on disk."""

    seq: int
    path: Path
    size: int


def encode_batch(events: Sequence[DiagnosticEvent]) -> bytes:
    """The spool file content of `events`: a checksummed header line, then one JSON event per line."""
    body = b"".join(event.model_dump_json(by_alias=True).encode() + b"\n" for event in events)
    header = {"v": FORMAT_VERSION, "count": len(events), "bytes": len(body), "crc32": zlib.crc32(body)}
    return json.dumps(header).encode() + b"\n" + body


def decode_batch(data: bytes) -> list[DiagnosticEvent]:
    """The events of a spool file; raises `SpoolCorruptError` when it is torn or damaged."""
    head, sep, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        expected = (header["v"], header["count"], header["bytes"], header["crc32"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolCorruptError(f"unreadable spool header: {exc}") from exc
    if (
        not sep
        or expected[0] != FORMAT_VERSION
        or expected[2] != len(body)
        or expected[3] != zlib.crc32(body)
    ):
        raise SpoolCorruptError("spool file is truncated or its checksum does not match")
    try:
        events = [DiagnosticEvent.model_validate_json(line) for line in body.splitlines() if line]
    except ValueError as exc:
        raise SpoolCorruptError(f"spooled event does not validate: {exc}") from exc
    if len(events) != expected[1]:
        raise SpoolCorruptError(f"spool file holds {len(events)} events, its header says {expected[1]}")
    return events


class Spool:
    """Batches on disk, bounded by `max_bytes`; file I/O runs in threads, never on the event loop."""

    def __init__(self, directory: str | Path, *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: dict[int, SpoolEntry] = {}
        self._next_seq = 0
        self._bytes = 0
        self._refused = False
        self.corrupt_files = 0

    @property
    def size_bytes(self) -> int:
        """Bytes of spooled batches on disk."""
        return self._bytes

    @property
    def full(self) -> bool:
        """Whether the spool reached its bound or refused a batch since it last freed space.

        A refusal only counts while batches wait to drain: an empty spool that refused one oversized
        batch must not keep refusing ingest forever (nothing would ever free space and clear it).
        """
        return (self._refused and bool(self._entries)) or self._bytes >= self.max_bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def open(self) -> None:
        """Create the directory, drop unacknowledged `.part` files and index the batches left over."""
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entries: dict[int, SpoolEntry] = {}
        for path in self.directory.iterdir():
            if path.name.endswith(PART_SUFFIX):
                path.unlink(missing_ok=True)
            elif path.suffix == SUFFIX and path.stem.isdigit():
                entries[int(path.stem)] = SpoolEntry(int(path.stem), path, path.stat().st_size)
        with self._lock:
            self._entries = entries
            self._bytes = sum(entry.size for entry in entries.values())
            self._next_seq = max(entries, default=-1) + 1

    def pending(self) -> list[SpoolEntry]:
        """The spooled batches, oldest first."""
        with self._lock:
            return sorted(self._entries.values())

    async def append(self, events: Sequence[DiagnosticEvent]) -> SpoolEntry:
        """Write one batch durably (fsync file and directory); raises `SpoolFullError` over the bound."""
        data = encode_batch(events)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                self._refused = True
                raise SpoolFullError(
                    f"the store is unavailable and the spool is full ({self.max_bytes // (1024 * 1024)} MiB)"
                )
            seq = self._next_seq
            self._next_seq += 1
            # Reserve the space now so concurrent appends cannot overshoot the bound together.
            self._bytes += len(data)
        try:
            entry = await asyncio.to_thread(self._write, seq, data)
        except BaseException:
            with self._lock:
                self._bytes -= len(data)
            raise
        with self._lock:
            self._entries[seq] = entry
        return entry

    def _write(self, seq: int, data: bytes) -> SpoolEntry:
        final = self.directory / f"{seq:020d}{SUFFIX}"
        part = final.with_name(final.name + PART_SUFFIX)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, final)
        self._fsync_dir()
        return SpoolEntry(seq, final, len(data))

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def read(self, entry: SpoolEntry) -> list[DiagnosticEvent]:
        """The events of a spooled batch; a damaged file is quarantined and `SpoolCorruptError` raised."""
        try:
            return await asyncio.to_thread(lambda: decode_batch(entry.path.read_bytes()))
        except (SpoolCorruptError, OSError) as exc:
            await asyncio.to_thread(self._quarantine, entry)
            raise SpoolCorruptError(f"{entry.path.name}: {exc}") from exc

    def _quarantine(self, entry: SpoolEntry) -> None:
        target = self.directory / CORRUPT_DIR
        target.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(entry.path, target / entry.path.name)
        self._forget(entry)
        self.corrupt_files += 1

    async def delete(self, entry: SpoolEntry) -> None:
        """Remove a batch once it is stored."""
        await asyncio.to_thread(self._delete, entry)

    def _delete(self, entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)
        self._forget(entry)

    def _forget(self, entry: SpoolEntry) -> None:
        with self._lock:
            if self._entries.pop(entry.seq, None) is not None:
                self._bytes -= entry.size
                self._refused = False
