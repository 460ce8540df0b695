"""The exporter's side of the scan helper (`tailscan`): when to start one, what to tell it, its verdict.

A helper is started once a large export's ZIP passes `HELPER_AFTER_BYTES` on a machine with a second whole
CPU; it is told of every member's growth, those written before it started included. Its verdict is a member
count, a leak (raised as `LeakDetectedError`, as early as the helper finds it), or a failure: a helper that
cannot start, stops reading, dies or does not answer leaves the scan to the exporter's own process, so a
bundle is never kept unscanned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcpdiag.bundle.errors import LeakDetectedError

HELPER_MODULE = "mcpdiag.bundle.tailscan"
HELPER_AFTER_BYTES = 1 << 20
"""Bundle file size from which a helper is worth its start: below it, scanning in process costs less than
starting one (`docs/benchmarks.md`, "Measurements behind the code")."""
SEND_TIMEOUT_S = 60.0
"""How long a message may wait for the helper to read (it reads between two batches' scans)."""
FINISH_TIMEOUT_S = 600.0
"""How long the exporter waits for the helper's verdict before scanning in its own process instead."""


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


class ScanHelper:
    """A running helper process, told of the partial ZIP's growth; `finish` gives its verdict."""

    def __init__(self, process: asyncio.subprocess.Process, send_timeout: float = SEND_TIMEOUT_S) -> None:
        self._process = process
        self._send_timeout = send_timeout
        self._gone = False
        self._stuck = False

    @classmethod
    async def start(
        cls, path: Path, secrets: frozenset[str], *, send_timeout: float = SEND_TIMEOUT_S
    ) -> ScanHelper | None:
        """Start a helper on the partial ZIP at `path`; None when no process can be started."""
        try:
            process = await asyncio.create_subprocess_exec(
                # -P: the working directory must not shadow the scanner's modules.
                sys.executable,
                "-P",
                "-m",
                HELPER_MODULE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return None
        helper = cls(process, send_timeout)
        try:
            await helper._send({"op": "open", "path": str(path), "secrets": sorted(secrets)})
        except BaseException:
            await asyncio.shield(helper.stop())
            raise
        return helper

    async def grow(self, name: str, header: int, end: int, *, closed: bool) -> bool:
        """The member `name`, whose local header is at `header`, is written up to `end` (and ends there).
        False when the helper no longer reads: `finish` then says why."""
        return await self._send({"op": "grow", "name": name, "header": header, "end": end, "closed": closed})

    async def finish(self, secrets: frozenset[str]) -> int | str:
        """The helper's member count, or why it failed (the ZIP is then to be scanned in process); raises
        `LeakDetectedError`. `secrets`: every secret known now (new ones: a full scan). The helper is
        stopped either way."""
        if self._stuck:
            await self.stop()
            return f"stopped reading for {self._send_timeout:g} s"
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

    async def _send(self, message: dict[str, Any]) -> bool:
        # A helper that has stopped (a leak found early, a crash) tells why on stdout, read by `finish`; one
        # that stopped reading is killed there.
        stdin = self._process.stdin
        if self._gone or stdin is None:
            return False
        try:
            stdin.write((json.dumps(message) + "\n").encode())
            await asyncio.wait_for(stdin.drain(), self._send_timeout)
        except (BrokenPipeError, ConnectionResetError):
            self._gone = True
        except TimeoutError:
            self._gone = self._stuck = True
        # A write to a helper that has exited closes the pipe at once, but `drain` may still return before
        # the loop hears of it: the pipe's state says so either way.
        if stdin.is_closing():
            self._gone = True
        return not self._gone


class ScanFollow:
    """The exporter's scan plan: a helper is started once the bundle file passes `after` bytes (never when
    `after` is None) and is then told of every member's growth, those written before it started included."""

    def __init__(self, path: Path, secrets: frozenset[str], after: int | None) -> None:
        self.path = path
        self.secrets = secrets
        self.after = after
        self.helper: ScanHelper | None = None
        self.send_timeout = SEND_TIMEOUT_S
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
        """Member `name` (local header at `header`) is written and flushed up to file offset `end`. Raises
        `LeakDetectedError` as soon as the helper has found one."""
        self._members[name] = (header, end, closed)
        if self.helper is not None:
            if not await self.helper.grow(name, header, end, closed=closed):
                await self.finish(self.secrets)
        elif self.after is not None and end >= self.after:
            self.after = None
            self.helper = await ScanHelper.start(self.path, self.secrets, send_timeout=self.send_timeout)
            if self.helper is None:
                self.failure = "could not start"
                return
            for member, (at, written, ended) in self._members.items():
                if not await self.helper.grow(member, at, written, closed=ended):
                    await self.finish(self.secrets)
                    return

    async def finish(self, secrets: frozenset[str]) -> bool:
        """Whether the helper scanned the finished bundle (False: it has to be scanned in process, and
        `failure` says why if a helper was wanted). Raises `LeakDetectedError` on the helper's word."""
        if self.helper is None:
            return False
        # Kept until it has answered: an export cancelled meanwhile stops it through `abort`.
        verdict = await self.helper.finish(secrets)
        self.helper = None
        if isinstance(verdict, str):
            self.failure = verdict
            return False
        return True

    async def abort(self) -> None:
        """The export failed: stop the helper, if any."""
        helper, self.helper = self.helper, None
        if helper is not None:
            await helper.stop()
