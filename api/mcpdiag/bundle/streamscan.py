"""The leak scan of an encrypted export, which has no plaintext file to read: it reads the ZIP's bytes as
they stream towards the age writer (`StreamFollow.write`, the writer's tee).

Like `ScanFollow` for plain exports, a large export on a machine with a second CPU has the scan run in a
helper process (`python -P -m mcpdiag.bundle.streamhelper`), which is sent the bytes through a pipe; a
smaller one, or one on a single CPU, is scanned in this process. Until the export has passed
`HELPER_AFTER_BYTES` the bytes are held in memory (so a helper started then is sent them all); after that,
only what one batch adds. A helper that cannot start leaves the scan to this process; one that fails
part-way cannot be replaced (the bytes it was sent are gone), so the export is refused and nothing is
kept. Secrets registered while the export ran cannot be scanned for in what was already encrypted: the
export is refused too, and the next one picks them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from mcpdiag.bundle.errors import BundleScanError, LeakDetectedError
from mcpdiag.bundle.leakscan import LeakScanner
from mcpdiag.bundle.scanhelper import FINISH_TIMEOUT_S, HELPER_AFTER_BYTES, SEND_TIMEOUT_S, usable_cpus
from mcpdiag.bundle.zipstream import ZipStreamError, ZipStreamScan

HELPER_MODULE = "mcpdiag.bundle.streamhelper"
THREAD_AFTER = 256 * 1024
"""Pending bytes from which the in-process scan runs in a worker thread (the event loop stays free)."""
SEND_BUFFER_BYTES = 16 << 20
"""Bytes sent to the helper that may wait in the pipe's buffer before the export waits for the helper: the
helper reads in bursts, and with the pipe's default 64 KiB the export stalled on every burst (0.48 s of a
2.6 s export of 100k events, bench/bundle_bench.py); the plain export's helper follows a file instead."""


def _unreadable(exc: ZipStreamError) -> BundleScanError:
    return BundleScanError(f"the leak scan could not read the bundle ({exc}); no bundle was kept")


class StreamHelper:
    """A helper process scanning the bytes it is sent; `finish` gives its member count or why it failed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._gone = False

    @classmethod
    async def start(cls, secrets: frozenset[str]) -> StreamHelper | None:
        """A running helper told the known secrets (on its pipe, never its command line); None if none
        could be started."""
        try:
            process = await asyncio.create_subprocess_exec(
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
        assert process.stdin is not None
        process.stdin.transport.set_write_buffer_limits(high=SEND_BUFFER_BYTES)
        helper = cls(process)
        if not await helper._write((json.dumps({"secrets": sorted(secrets)}) + "\n").encode()):
            await helper.stop()
            return None
        return helper

    async def send(self, data: bytes) -> bool:
        """Send the next bytes of the ZIP; False when the helper no longer reads (`finish` says why)."""
        return await self._write(len(data).to_bytes(4, "big") + data) if data else True

    async def finish(self) -> int | str:
        """The helper's member count, or why it failed; raises `LeakDetectedError`. Stops the helper."""
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        await self._write(b"\x00\x00\x00\x00")
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            line = await asyncio.wait_for(process.stdout.readline(), FINISH_TIMEOUT_S)
        except TimeoutError:
            await self.stop()
            return f"gave no answer within {FINISH_TIMEOUT_S:.0f} s"
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
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        await self._process.wait()

    async def _write(self, data: bytes) -> bool:
        stdin = self._process.stdin
        if self._gone or stdin is None:
            return False
        try:
            stdin.write(data)
            await asyncio.wait_for(stdin.drain(), SEND_TIMEOUT_S)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self._gone = True
        if stdin.is_closing():  # it exited: `drain` may return before the loop hears of it (`ScanHelper`)
            self._gone = True
        return not self._gone


class StreamFollow:
    """The scan plan of an encrypted export: `write` is the age writer's tee; `grow` (after every batch,
    with `ScanFollow.grow`'s arguments, which it does not need) and `finish` scan what was written."""

    def __init__(self, secrets: frozenset[str], after: int | None) -> None:
        self.secrets = secrets
        self.after = after
        """Bytes from which a helper is started (None: never, scanned here)."""
        self.failure: str | None = None
        """Why a helper that was wanted did not scan the export."""
        self.pending = bytearray()
        self.written = 0
        self.helper: StreamHelper | None = None
        self.local: ZipStreamScan | None = None
        self.used_helper = False

    @classmethod
    def plan(cls, secrets: frozenset[str], helper: bool | None) -> StreamFollow:
        """`helper`: True from the first byte, False never, None past `HELPER_AFTER_BYTES` with two CPUs."""
        if helper is None:
            return cls(secrets, HELPER_AFTER_BYTES if usable_cpus() >= 2 else None)
        return cls(secrets, 0 if helper else None)

    def write(self, data: bytes) -> None:
        """The next plaintext bytes of the ZIP (called by the age writer, in order)."""
        self.pending += data
        self.written += len(data)

    async def grow(self, name: str, header: int, end: int, *, closed: bool) -> None:
        """A batch was written: scan (or send) what it added."""
        await self._drain(final=False)

    async def finish(self, secrets: frozenset[str]) -> bool:
        """Scan the rest once the ZIP is complete; True (the bundle is scanned) or an exception."""
        if not secrets <= self.secrets:
            raise BundleScanError(
                "secrets were registered while the encrypted export ran, and what was already encrypted "
                "cannot be scanned for them; no bundle was kept. Export again."
            )
        await self._drain(final=True)
        try:
            if self.helper is not None:
                helper, self.helper = self.helper, None
                verdict = await helper.finish()
                if isinstance(verdict, str):
                    raise self._helper_failed(verdict)
            elif self.local is not None:
                self.local.close()
        except ZipStreamError as exc:
            raise _unreadable(exc) from exc
        return True

    async def abort(self) -> None:
        """The export failed: stop the helper, if any."""
        helper, self.helper = self.helper, None
        if helper is not None:
            await helper.stop()

    def _helper_failed(self, why: str) -> BundleScanError:
        self.failure = why
        return BundleScanError(
            f"the leak scan helper {why} during an encrypted export, and what it was sent cannot be scanned "
            "again; no bundle was kept. Export again."
        )

    async def _drain(self, *, final: bool) -> None:
        if self.helper is None and self.local is None:
            if self.after is not None and self.written >= self.after:
                self.after = None
                self.helper = await StreamHelper.start(self.secrets)
                if self.helper is None:
                    self.failure = "could not start"
                else:
                    self.used_helper = True
            elif self.after is not None and not final:
                return  # held until the size decides who scans
            if self.helper is None:
                self.local = ZipStreamScan(LeakScanner(self.secrets))
        data, self.pending = bytes(self.pending), bytearray()
        if not data:
            return
        if self.helper is not None:
            if not await self.helper.send(data):
                helper, self.helper = self.helper, None
                verdict = await helper.finish()
                raise self._helper_failed(verdict if isinstance(verdict, str) else "stopped reading")
            return
        assert self.local is not None
        try:
            if len(data) >= THREAD_AFTER:
                await asyncio.to_thread(self.local.feed, data)
            else:
                self.local.feed(data)
        except ZipStreamError as exc:
            raise _unreadable(exc) from exc
