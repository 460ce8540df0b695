"""The intake's checks run on one lane: on a thread of their own, never the loop's, one step at a time, the
requests taking turns.

Side by side under the GIL, checks took longer in all (`mcpdiag.collector.lane`); what the lane must keep:
every request checked and stored, each request's steps in order, a small request not held behind big
ones, the event loop free meanwhile, errors raised to the request that asked, a cancelled request dropped,
and what was asked before the lane closed still answered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcpdiag.collector import create_collector_app
from mcpdiag.collector.lane import CheckLane, Steps
from mcpdiag.store import EventQuery
from tests.collector.support import asgi_client, new_key, settings_for, wire_events
from tests.waiting import PATIENCE_S, loop_ticks

HOLD_S = 0.02
"""How long each watched step holds its thread: long enough that checks side by side would overlap."""


class Watch:
    """Wraps a validator's `check_steps`: which threads ran its steps and the most that ran at once."""

    def __init__(self, check_steps: Callable[..., Steps[Any]]) -> None:
        self.check_steps = check_steps
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.threads: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> Steps[Any]:
        steps = self.check_steps(*args, **kwargs)
        while True:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.threads.add(threading.current_thread().name)
            try:
                time.sleep(HOLD_S)
                next(steps)
            except StopIteration as done:
                return done.value
            finally:
                with self.lock:
                    self.running -= 1
            yield


async def test_concurrent_requests_are_checked_one_at_a_time_on_the_lane_and_all_stored(
    tmp_path: Path,
) -> None:
    key = new_key()
    # The storm budgets off: every event is stored as sent (a burst from one key would be merged).
    app = create_collector_app(settings_for(tmp_path, key, server_budget_per_s=0, key_budget_per_s=0))
    async with asgi_client(app, key) as client:
        runtime = app.state.collector
        watch = runtime.validator.check_steps = Watch(runtime.validator.check_steps)
        batches = [wire_events(40, server="github") for _ in range(8)]
        answers = await asyncio.gather(
            *(client.post("/v1/events", json={"events": batch}) for batch in batches),
            client.post("/v1/logs", json={"resourceLogs": []}),
        )
        assert [a.status_code for a in answers] == [202] * 8 + [200], [a.text for a in answers]
        stored = {e["id"] async for e in runtime.store.iter(EventQuery(server="github"))}
    assert watch.most == 1
    assert len(watch.threads) == 1 and next(iter(watch.threads)).startswith("mcpdiag-check")
    assert stored == {event["id"] for batch in batches for event in batch}


async def test_the_loop_runs_while_a_check_holds_the_lane() -> None:
    lane = CheckLane()

    def held() -> Steps[str]:
        time.sleep(0.3)
        return "done"
        yield

    try:
        async with loop_ticks() as ticks:
            assert await lane.run_steps(held()) == "done"
    finally:
        lane.close()
    assert ticks() >= 5


async def test_checks_finish_in_the_order_asked_and_errors_reach_their_caller() -> None:
    lane = CheckLane()
    done: list[int] = []

    def check(n: int) -> Steps[int]:
        if n == 3:
            raise ValueError("line 3 is not an event")
        time.sleep(0.005 * (5 - n))  # the first asked takes longest
        done.append(n)
        return n
        yield

    try:
        results = await asyncio.gather(*(lane.run_steps(check(n)) for n in range(5)), return_exceptions=True)
    finally:
        lane.close()
    assert results[:3] == [0, 1, 2] and results[4] == 4
    assert isinstance(results[3], ValueError)
    assert done == [0, 1, 2, 4]


def _thread_name() -> Steps[str]:
    return threading.current_thread().name
    yield


async def test_a_closed_lane_starts_again_when_asked() -> None:
    lane = CheckLane()
    first = await lane.run_steps(_thread_name())
    lane.close()
    second = await lane.run_steps(_thread_name())
    lane.close()
    assert first.startswith("mcpdiag-check") and second.startswith("mcpdiag-check")


@pytest.mark.parametrize("path", ["/v1/events", "/v1/logs"])
async def test_a_request_whose_check_fails_gets_its_error_and_the_lane_serves_on(
    tmp_path: Path, path: str
) -> None:
    key = new_key()
    app = create_collector_app(settings_for(tmp_path, key))
    async with asgi_client(app, key) as client:
        bad = await client.post(path, content=b"{not json", headers={"content-type": "application/json"})
        good = await client.post("/v1/events", json={"events": wire_events(1)})
    assert 400 <= bad.status_code < 500, bad.text
    assert good.status_code == 202 and good.json()["accepted"] == 1


def _steps(name: str, count: int, done: list[str], hold_s: float = 0.002) -> Steps[str]:
    for _ in range(count - 1):
        time.sleep(hold_s)
        yield
    time.sleep(hold_s)
    done.append(name)
    return name


async def test_a_small_check_is_not_held_behind_big_ones() -> None:
    lane = CheckLane()
    done: list[str] = []
    try:
        results = await asyncio.gather(
            *(lane.run_steps(_steps(f"big-{n}", 40, done)) for n in range(3)),
            lane.run_steps(_steps("small", 1, done)),
        )
    finally:
        lane.close()
    assert results == ["big-0", "big-1", "big-2", "small"]
    # One step of each big check ran before it: it finished first, the big ones in the order asked.
    assert done == ["small", "big-0", "big-1", "big-2"]


async def test_a_cancelled_check_runs_no_further_step() -> None:
    lane = CheckLane()
    done: list[str] = []
    stepped: list[int] = []

    def counted() -> Steps[str]:
        # Never done on its own: only the cancel ends it.
        while True:
            stepped.append(len(stepped))
            time.sleep(0.001)
            yield

    try:
        task = asyncio.create_task(lane.run_steps(counted()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = len(stepped)
        assert await lane.run_steps(_steps("after", 3, done)) == "after"
    finally:
        lane.close()
    assert len(stepped) <= seen + 1


async def test_what_was_asked_before_the_lane_closed_is_still_answered() -> None:
    lane = CheckLane()
    done: list[str] = []
    asked = [asyncio.ensure_future(lane.run_steps(_steps(f"c{n}", 5, done))) for n in range(4)]
    await asyncio.sleep(0)
    lane.close()
    assert await asyncio.gather(*asked) == ["c0", "c1", "c2", "c3"]


async def test_a_check_asked_for_while_the_lane_is_closing_is_run() -> None:
    """A lane closed and asked again at once: the check lands on a thread that runs it, never on one that
    is ending (it hung a test run: the ending thread was still alive, so none was started). The thread here
    lingers after its work loop has returned, as an ending thread does for a moment."""

    class Lingering(CheckLane):
        def _work(self) -> None:
            super()._work()
            time.sleep(0.5)

    lane = Lingering()
    assert (await lane.run_steps(_thread_name())).startswith("mcpdiag-check")
    lane.close()
    await asyncio.sleep(0.1)  # the thread has left its loop and is still alive
    assert (await asyncio.wait_for(lane.run_steps(_thread_name()), timeout=PATIENCE_S)).startswith(
        "mcpdiag-check"
    )
    lane.close()
