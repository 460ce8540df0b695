"""Checking an import's lines in worker processes: parsing, redaction and validation are CPU work in Python
(about twice what the store spends writing an event), so on a machine with spare CPUs they run in parallel.

Each worker builds its redaction step once (from a picklable factory) and checks whole batches; what comes
back is the batch's documents, already marshalled and compressed for the stage, and the batch's tallies.
Batches go out in file order and are taken back in file order, at most `2 x workers` in flight, so memory
stays bounded and bad lines are reported in the order of the file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

from mcpdiag.store.base import Retention
from mcpdiag.store.documents import StoredDocument
from mcpdiag.store.errors import TransferError
from mcpdiag.store.transfer.checks import MAX_PROBLEMS, LineChecker, Problem, Redact
from mcpdiag.store.transfer.stage import pack

RedactFactory = Callable[[], Redact]
"""Builds a redaction step in the process that runs it; must be picklable (a module-level function, or a
`functools.partial` of one) when checks run in workers."""
Lines = Sequence[tuple[int, bytes | str | None]]


@dataclass(slots=True)
class Checked:
    """One checked batch: its valid documents (packed for the stage) and its tallies."""

    lines: int
    blob: bytes
    documents: int
    valid: int
    expired: int
    bad: int
    problems: list[Problem]
    servers: dict[str, tuple[int, int]]
    redactions: dict[str, int]

    def absorb_into(self, checker: LineChecker) -> None:
        """Add this batch's tallies to `checker` (the import's running totals)."""
        checker.valid += self.valid
        checker.expired += self.expired
        checker.bad += self.bad
        room = max(0, MAX_PROBLEMS - len(checker.problems))
        checker.problems.extend(self.problems[:room])
        for server, (valid, expired) in self.servers.items():
            tally = checker.tally(server)
            tally.valid += valid
            tally.expired += expired
        for rule, count in self.redactions.items():
            checker.redactions[rule] = checker.redactions.get(rule, 0) + count


_worker: tuple[datetime, Retention, Redact] | None = None


def _start_worker(now: datetime, retention: Retention, factory: RedactFactory) -> None:
    global _worker
    _worker = (now, retention, factory())


def check_packed(batch: Lines, now: datetime, retention: Retention, redact: Redact) -> Checked:
    """Check one batch with a fresh tally; the documents packed for the stage."""
    checker = LineChecker(now=now, retention=retention, redact=redact)
    docs: list[StoredDocument] = checker.check(batch)
    servers = {name: (t.valid, t.expired) for name, t in checker.servers.items()}
    return Checked(
        lines=len(batch),
        blob=pack(docs),
        documents=len(docs),
        valid=checker.valid,
        expired=checker.expired,
        bad=checker.bad,
        problems=checker.problems,
        servers=servers,
        redactions=checker.redactions,
    )


def _check_in_worker(batch: Lines) -> Checked:
    assert _worker is not None, "worker not started"
    return check_packed(batch, *_worker)


class CheckPool:
    """Worker processes checking batches in file order."""

    def __init__(self, workers: int, now: datetime, retention: Retention, factory: RedactFactory) -> None:
        # spawn, not fork: the parent runs threads (SQLite's, asyncio's) that a fork would copy mid-step.
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(now, retention, factory),
        )
        self.workers = workers

    async def checked(
        self, batches: AsyncIterator[list[tuple[int, bytes | str | None]]]
    ) -> AsyncGenerator[Checked, None]:
        """The checked batches, in the order they were read."""
        loop = asyncio.get_running_loop()
        pending: deque[Future[Checked]] = deque()
        try:
            async for batch in batches:
                pending.append(self._pool.submit(_check_in_worker, batch))
                if len(pending) >= 2 * self.workers:
                    yield await asyncio.wrap_future(pending.popleft(), loop=loop)
            while pending:
                yield await asyncio.wrap_future(pending.popleft(), loop=loop)
        except BrokenProcessPool:
            raise TransferError(
                "a check worker stopped unexpectedly (out of memory?); run again with fewer jobs"
            ) from None
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop the workers (pending batches are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
