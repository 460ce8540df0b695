"""`CheckLane`: the one thread every intake check (parse, redact, validate) runs on, requests taking turns.

The checks are Python under the GIL: side by side in several threads they do not finish sooner, they finish
later. The candidate scan (Hyperscan) lets go of the GIL for every text it scans and takes it back for
every tag it reports; with other threads running Python each taking-back waited for one of them to hand it
over. Eight requests checked at once in eight threads stored 6,700 events a second with no store behind
them; the same requests on one thread, 14,400 (docs/benchmarks.md, 2 December).

One thread must not mean one request at a time, though: a 1-event request behind three of a thousand
waited a second. A check is a series of steps (`EventValidator.check_steps`: a hundred events each) and the
lane runs one step of each waiting request in turn, so a request waits for about one step of each request
ahead of it, and each request's steps run in order. The event loop stays free throughout; a request
cancelled while it waits (its client went away) runs no further step.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
Steps = Generator[None, None, T]
"""A check in steps: it yields between steps and returns its result."""


def run_through(steps: Steps[T]) -> T:
    """All of `steps` at once, here: the check's result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


@dataclass(slots=True)
class _Job:
    steps: Steps[Any]
    future: Future[Any]


class CheckLane:
    """Runs checks on a thread of its own, one step of each waiting check in turn."""

    def __init__(self, name: str = "mcpdiag-check") -> None:
        self._name = name
        self._ready = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False

    async def run_steps(self, steps: Steps[T]) -> T:
        """The result `steps` return, run on the lane's thread taking turns with the other checks."""
        job = _Job(steps, Future())
        with self._ready:
            self._closing = False
            if self._thread is None:
                # A daemon: an idle lane never holds the interpreter open.
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._jobs.append(job)
            self._ready.notify()
        result: T = await asyncio.wrap_future(job.future)
        return result

    def close(self) -> None:
        """Let the thread end once the checks asked for are done (they are not dropped); the lane starts
        a thread again if asked."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._jobs:
                    if self._closing:
                        # Under the lock: a check asked for from here on starts a new thread. An ending
                        # thread still `is_alive()` for a moment, and a job handed to it was never run.
                        self._thread = None
                        return
                    self._ready.wait()
                job = self._jobs.popleft()
            if job.future.cancelled():
                job.steps.close()
                continue
            try:
                next(job.steps)
            except StopIteration as done:
                _settle(job.future, done.value, None)
                continue
            except BaseException as exc:  # the request that asked gets it, as its own error
                _settle(job.future, None, exc)
                continue
            with self._ready:
                self._jobs.append(job)


def _settle(future: Future[Any], result: Any, error: BaseException | None) -> None:
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass  # cancelled meanwhile: nobody waits for it
