"""The leak scan on a second core: a helper process scans the bundle's members while they are written.

The exporter writes the `events/<server>.jsonl` members one after the other into the partial ZIP file and
tells the helper, after each batch, how far the file is written (`ScanHelper.grow`). The helper reads the
new compressed bytes of the member from the file itself, inflates them and scans the complete lines
(`MemberScan`), so the scan of a large export runs beside the export instead of after it.

Once the ZIP is finished (`ScanHelper.finish`) the helper opens it and reads its central directory: a member
it followed to the end counts as scanned only if its offset, sizes and CRC-32 are those of the bytes it
read; every other member (the metadata files, anything that differs) is scanned from the finished ZIP like
`scan_bundle` does. Secrets that became known during the export mean a full scan of the finished ZIP.

The helper answers with the number of members, a leak (file and rule), or a failure, upon which the exporter
scans the ZIP in its own process: a bundle is never kept unscanned. Messages are JSON lines on the helper's
stdin and stdout (secrets travel on the pipe, never on the command line).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mcpdiag.api.bundle.errors import LeakDetectedError
from mcpdiag.api.bundle.leakscan import CHUNK, LeakScanner, MemberScan, scan_bundle, scan_member

HELPER_MODULE = "mcpdiag.api.bundle.tailscan"
HELPER_AFTER_BYTES = 1 << 20
"""Bundle file size from which a helper is worth its start (about 15,000 events; the scan of fewer takes
a fraction of a second in process)."""
FINISH_TIMEOUT_S = 600.0
"""How long the exporter waits for the helper's verdict before scanning in its own process instead."""
# The local file header (APPNOTE.TXT 4.3.7): signature, versions, flags, method, time, date, CRC-32, sizes,
# then the lengths of the name and of the extra field that follow it.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


# -- the helper process -------------------------------------------------------------------------------------


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
            tail = self._follow(name, header)
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
            while data:
                out = tail.inflate.decompress(data, CHUNK)
                data = tail.inflate.unconsumed_tail
                tail.crc = zlib.crc32(out, tail.crc)
                tail.size += len(out)
                tail.scan.feed(out)
            if tail.inflate.unused_data:
                self._drop(name)
                return
        if closed:
            if not tail.inflate.eof:
                self._drop(name)
                return
            tail.scan.close()
            tail.closed = True

    def _follow(self, name: str, header: int) -> _Tail | None:
        """Start following a deflated member from its local file header (None: it is not one)."""
        self.file.seek(header)
        raw = self.file.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            return None
        fields = _LOCAL_HEADER.unpack(raw)
        signature, method, name_len, extra_len = fields[0], fields[4], fields[10], fields[11]
        if signature != _LOCAL_SIGNATURE or method != zipfile.ZIP_DEFLATED:
            return None
        if self.file.read(name_len) != name.encode():
            return None
        start = header + _LOCAL_HEADER.size + name_len + extra_len
        tail = self.tails[name] = _Tail(header, MemberScan(name, self.scanner), start, start)
        return tail

    def _drop(self, name: str) -> None:
        self.tails.pop(name, None)
        self.unfollowed.add(name)

    def finish(self, late: frozenset[str]) -> int:
        """Check the finished ZIP, scanning the members not followed to their end; its member count."""
        self.file.close()
        if not late <= self.secrets:
            return scan_bundle(Path(self.path), self.secrets | late)
        with zipfile.ZipFile(self.path) as zf:
            members = zf.infolist()
            for info in members:
                tail = self.tails.pop(info.filename, None)
                followed = (
                    tail is not None
                    and tail.closed
                    and info.compress_type == zipfile.ZIP_DEFLATED
                    and (info.header_offset, info.compress_size, info.file_size, info.CRC)
                    == (tail.header, tail.pos - tail.start, tail.size, tail.crc)
                )
                if not followed:
                    scan_member(zf, info, self.scanner)
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


# -- the exporter's side ------------------------------------------------------------------------------------


class ScanHelper:
    """A running helper process, told of the partial ZIP's growth; `finish` gives its verdict."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._gone = False

    @classmethod
    async def start(cls, path: Path, secrets: frozenset[str]) -> ScanHelper | None:
        """Start a helper on the partial ZIP at `path`; None when no process can be started."""
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                HELPER_MODULE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return None
        helper = cls(process)
        await helper._send({"op": "open", "path": str(path), "secrets": sorted(secrets)})
        return helper

    async def grow(self, name: str, header: int, end: int, *, closed: bool) -> None:
        """The member `name`, whose local header is at `header`, is written up to `end` (and ends there)."""
        await self._send({"op": "grow", "name": name, "header": header, "end": end, "closed": closed})

    async def finish(self, secrets: frozenset[str]) -> int | str:
        """The ZIP is finished: the helper's member count, or why it failed (the ZIP is then to be scanned in
        process); raises `LeakDetectedError`. `secrets`: every secret known now (new ones: a full scan)."""
        await self._send({"op": "finish", "secrets": sorted(secrets)})
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            line = await asyncio.wait_for(process.stdout.readline(), FINISH_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            return f"no answer within {FINISH_TIMEOUT_S:.0f} s"
        await self.stop()
        try:
            answer = json.loads(line)
        except ValueError:
            return f"exited with status {process.returncode} without an answer"
        if "leak" in answer:
            raise LeakDetectedError(str(answer["leak"]["file"]), str(answer["leak"]["rule"]))
        members = answer.get("members")
        return members if isinstance(members, int) else f"failed ({answer.get('error', 'no reason')})"

    async def stop(self) -> None:
        """End the helper (killed if it still runs) and reap it."""
        process = self._process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()

    async def _send(self, message: dict[str, Any]) -> None:
        # A helper that has stopped (a leak found early, a crash) tells why on stdout, read by `finish`.
        stdin = self._process.stdin
        if self._gone or stdin is None:
            return
        try:
            stdin.write((json.dumps(message) + "\n").encode())
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self._gone = True


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Whole CPUs this process may use: those it may run on, bounded by its cgroup's CPU quota (a container
    limited to `cpu: "1"` sees every CPU of the node but gets one CPU's time)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for quota_file, period_file in (("cpu.max", None), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            fields = (cgroup / quota_file).read_text().split()
            if period_file is not None:
                fields.append((cgroup / period_file).read_text().strip())
            quota, period = fields[0], int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
        if quota not in ("max", "-1") and period > 0:
            cpus = min(cpus, max(1, int(quota) // period))
        break
    return cpus


class ScanFollow:
    """The exporter's scan plan: a helper is started once the bundle file passes `after` bytes (never when
    `after` is None) and is then told of every member's growth, those written before it started included."""

    def __init__(self, path: Path, secrets: frozenset[str], after: int | None) -> None:
        self.path = path
        self.secrets = secrets
        self.after = after
        self.helper: ScanHelper | None = None
        self.failure: str | None = None
        """Why a helper that was wanted did not scan the bundle (it could not start, or failed)."""
        self._members: dict[str, tuple[int, int, bool]] = {}

    @classmethod
    def plan(cls, path: Path, secrets: frozenset[str], helper: bool | None) -> ScanFollow:
        """`helper`: True from the first byte, False never, None when the bundle grows past
        `HELPER_AFTER_BYTES` on a machine with a second CPU."""
        if helper is None:
            return cls(path, secrets, HELPER_AFTER_BYTES if usable_cpus() >= 2 else None)
        return cls(path, secrets, 0 if helper else None)

    async def grow(self, name: str, header: int, end: int, *, closed: bool) -> None:
        """Member `name` (local header at `header`) is written and flushed up to file offset `end`."""
        self._members[name] = (header, end, closed)
        if self.helper is not None:
            await self.helper.grow(name, header, end, closed=closed)
        elif self.after is not None and end >= self.after:
            self.after = None
            self.helper = await ScanHelper.start(self.path, self.secrets)
            if self.helper is None:
                self.failure = "could not start"
            else:
                for member, (at, written, ended) in self._members.items():
                    await self.helper.grow(member, at, written, closed=ended)

    async def finish(self, secrets: frozenset[str]) -> bool:
        """Whether the helper scanned the finished bundle (False: it has to be scanned in process, and
        `failure` says why if a helper was wanted). Raises `LeakDetectedError` on the helper's word."""
        helper, self.helper = self.helper, None
        if helper is None:
            return False
        verdict = await helper.finish(secrets)
        if isinstance(verdict, str):
            self.failure = verdict
            return False
        return True

    async def abort(self) -> None:
        """The export failed: stop the helper, if any."""
        helper, self.helper = self.helper, None
        if helper is not None:
            await helper.stop()


if __name__ == "__main__":
    sys.exit(serve(sys.stdin, sys.stdout))
