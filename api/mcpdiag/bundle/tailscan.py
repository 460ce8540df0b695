"""The scan helper process: it scans the bundle's members while the exporter writes them.

The exporter writes the `events/<server>.jsonl` members one after the other into the partial ZIP file and
tells the helper, after each batch, how far the file is written (`scanhelper.ScanHelper.grow`). The helper
reads the new compressed bytes of the member from the file itself, inflates them and scans the complete
lines (`MemberScan`), so the scan of a large export runs beside the export instead of after it.

Once the ZIP is finished the helper opens it and reads its central directory: a member it followed to the
end counts as scanned only if its local header, offset, sizes and CRC-32 are those of the bytes it read;
every other member (the metadata files, anything that differs) is scanned from the finished ZIP like
`scan_bundle` does. Secrets that became known during the export mean a full scan of the finished ZIP.

The helper answers with the number of members, a leak (file and rule), or a failure. Messages are JSON lines
on its stdin and stdout (secrets travel on the pipe, never on the command line). Run it as
`python -P -m mcpdiag.bundle.tailscan`.
"""

from __future__ import annotations

import json
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcpdiag.bundle.errors import LeakDetectedError
from mcpdiag.bundle.leakscan import CHUNK, LeakScanner, MemberScan, scan_bundle, scan_member

# The local file header (APPNOTE.TXT 4.3.7): signature, versions, flags, method, time, date, CRC-32, sizes,
# then the lengths of the name and of the extra field that follow it.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclass(slots=True)
class _Tail:
    """One member followed as it is written: where its data starts, how far it was read and inflated."""

    header: int
    scan: MemberScan
    start: int
    pos: int
    inflate: Any = field(default_factory=lambda: zlib.decompressobj(-zlib.MAX_WBITS))
    crc: int = 0
    size: int = 0
    closed: bool = False


class Follower:
    """The helper's state: the partial ZIP it reads and the members it follows."""

    def __init__(self, path: str, secrets: frozenset[str]) -> None:
        self.path = path
        self.secrets = secrets
        self.scanner = LeakScanner(secrets)
        self.file: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed by `finish`)
        self.tails: dict[str, _Tail] = {}
        self.unfollowed: set[str] = set()
        """Members whose bytes did not read as expected: left to the scan of the finished ZIP."""

    def grow(self, name: str, header: int, end: int, *, closed: bool) -> None:
        """Scan member `name` (local header at `header`) up to file offset `end`; `closed`: it ends there."""
        if name in self.unfollowed:
            return
        tail = self.tails.get(name)
        if tail is None:
            start = self._data_start(name, header)
            if start is not None:
                tail = self.tails[name] = _Tail(header, MemberScan(name, self.scanner), start, start)
        if tail is None or tail.header != header or tail.closed:
            self._drop(name)
            return
        self.file.seek(tail.pos)
        while tail.pos < end:
            data = self.file.read(min(CHUNK, end - tail.pos))
            if not data:
                self._drop(name)
                return
            tail.pos += len(data)
            while True:
                # At most CHUNK bytes out at a time; a full CHUNK may leave more to come from the same input.
                out = tail.inflate.decompress(data, CHUNK)
                tail.crc = zlib.crc32(out, tail.crc)
                tail.size += len(out)
                tail.scan.feed(out)
                data = tail.inflate.unconsumed_tail
                if not data and (len(out) < CHUNK or tail.inflate.eof):
                    break
            if tail.inflate.unused_data:
                self._drop(name)
                return
        if closed:
            if not tail.inflate.eof:
                self._drop(name)
                return
            tail.scan.close()
            tail.closed = True

    def _data_start(self, name: str, header: int) -> int | None:
        """Where the data of deflated member `name`, whose local header is at `header`, starts (None: the
        header is not that)."""
        self.file.seek(header)
        raw = self.file.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            return None
        fields = _LOCAL_HEADER.unpack(raw)
        signature, method = fields[0], fields[4]
        name_len, extra_len = int(fields[10]), int(fields[11])
        if signature != _LOCAL_SIGNATURE or method != zipfile.ZIP_DEFLATED:
            return None
        if self.file.read(name_len) != name.encode():
            return None
        return header + _LOCAL_HEADER.size + name_len + extra_len

    def _drop(self, name: str) -> None:
        self.tails.pop(name, None)
        self.unfollowed.add(name)

    def finish(self, late: frozenset[str]) -> int:
        """Check the finished ZIP, scanning the members not followed to their end; its member count."""
        if not late <= self.secrets:
            self.file.close()
            return scan_bundle(Path(self.path), self.secrets | late)
        with zipfile.ZipFile(self.path) as zf:
            members = zf.infolist()
            for info in members:
                tail = self.tails.pop(info.filename, None)
                # The local header is read again: the data must still start where it was read from.
                followed = (
                    tail is not None
                    and tail.closed
                    and info.compress_type == zipfile.ZIP_DEFLATED
                    and (info.header_offset, info.compress_size, info.file_size, info.CRC)
                    == (tail.header, tail.pos - tail.start, tail.size, tail.crc)
                    and self._data_start(info.filename, info.header_offset) == tail.start
                )
                if not followed:
                    scan_member(zf, info, self.scanner)
        self.file.close()
        return len(members)


def serve(commands: IO[str], answers: IO[str]) -> int:
    """The helper's loop: follow the exporter's messages on `commands`, write the verdict to `answers`."""
    follower: Follower | None = None
    try:
        for line in commands:
            message = json.loads(line)
            op = message["op"]
            if op == "open":
                follower = Follower(message["path"], frozenset(message["secrets"]))
            elif follower is None:
                raise RuntimeError("the first message must open the bundle")
            elif op == "grow":
                follower.grow(message["name"], message["header"], message["end"], closed=message["closed"])
            elif op == "finish":
                answer: dict[str, Any] = {"members": follower.finish(frozenset(message["secrets"]))}
                break
        else:
            raise RuntimeError("the exporter went away before the bundle was finished")
    except LeakDetectedError as exc:
        answer = {"leak": {"file": exc.file, "rule": exc.rule}}
    except Exception as exc:  # reported to the exporter, which then scans in its own process
        # The type only: a message could quote what was being scanned.
        answer = {"error": type(exc).__name__}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
    return 0 if "members" in answer else 1


if __name__ == "__main__":
    sys.exit(serve(sys.stdin, sys.stdout))
