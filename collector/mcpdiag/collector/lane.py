"""`CheckLane`: the one thread every intake check (parse, redact, validate) runs on, in turn.

The checks are Python under the GIL: side by side in several threads they do not finish sooner, they finish
later. The candidate scan (Hyperscan) lets go of the GIL for every text it scans and takes it back for
every tag it reports; with other threads running Python each taking-back waited for one of them to hand it
over. Eight requests checked at once in eight threads stored 6,700 events a second with no store behind
them; the same requests one after another on one thread, 14,400 (docs/benchmarks.md, 2 December). The
event loop stays free either way: a request waits for its turn, never the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class CheckLane:
    """Runs checks one at a time on a thread of its own, in the order they were asked for."""

    def __init__(self, name: str = "mcpdiag-check") -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, check: Callable[[], T]) -> T:
        """`check()`'s result, computed on the lane's thread (started on first use)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return await asyncio.get_running_loop().run_in_executor(self._executor, check)

    def close(self) -> None:
        """Let the thread end once the check it runs is done; checks not begun are cancelled. The lane
        starts a new thread if asked again."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
