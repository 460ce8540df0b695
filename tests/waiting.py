"""Waiting in tests for what happens on its own (a process exiting, an event stored, a card updated).

A wait is not a timing assertion: it ends as soon as the thing has happened, and its bound is far past what
a loaded machine needs, so a slow machine never fails a test (a fixed count of short sleeps did: ten
seconds for a helper process to exit ran out on a busy CI machine)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx

T = TypeVar("T")

PATIENCE_S = 120.0
"""How long a test waits before it says the thing did not happen."""

HTTP_PATIENCE = httpx.Timeout(PATIENCE_S)
"""Every test HTTP client's timeout: a loaded machine answers late, and a late answer is not a failure
(httpx's default of 5 s made a 500-event POST during a store outage fail when two suites shared two cores)."""

PROBE_S = 2.0
"""One try of a readiness probe that tries again: its late answer is the next try, not a failure."""


async def eventually(
    probe: Callable[[], Awaitable[T]], what: str, *, interval: float = 0.05, timeout: float = PATIENCE_S
) -> T:
    """Call `probe` until it returns something truthy, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)


def until(
    condition: Callable[[], bool],
    what: str,
    *,
    pause: Callable[[float], None] = time.sleep,
    interval: float = 0.05,
    timeout: float = PATIENCE_S,
) -> None:
    """`eventually` for synchronous code: wait until `condition()` holds. `pause(seconds)` waits between
    looks (a Playwright page's `wait_for_timeout`, so that its event handlers run meanwhile)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        pause(interval)


@asynccontextmanager
async def loop_ticks(every: float = 0.01) -> AsyncIterator[Callable[[], int]]:
    """While the block runs, a task counts how often the event loop let it run (every `every` s): yields
    the count so far, to show the loop was not blocked."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(every)

    task = asyncio.create_task(tick())
    try:
        yield lambda: ticks
    finally:
        task.cancel()
