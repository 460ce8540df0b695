"""Coalescing repeated failures: a processor stage folding identical failures of a window into one event.

When a server goes down, every user's every reconnect fails the same way. Within `window` seconds of the
first occurrence of a failure — same server, user, code, touchpoint, tool and severity — the first one is
sent at once (the Debug ID the user was shown resolves immediately), and the repeats are folded into one
**follow-up** event sent when the window ends (or at `flush()` / `close()`):

- `count` is the number of repeats it stands for, `firstTs` / `lastTs` the first and last of them;
- every other field is the **last** repeat's: its `id`, its `ts` (= `lastTs`), and its `traceId` and
  `spanId`, so the follow-up's Debug ID is the one the user was shown most recently (the one on their
  screen); the Debug IDs of the earlier repeats are counted but do not resolve on their own;
- a window with a single repeat sends that repeat as it is (`count` 1).

Successes, lifecycle events, anything below `warning` and events that already carry a count pass through
untouched. The stage runs on the processor's worker thread only (its state needs no lock); the hot path is
not involved. Its memory is bounded: past `max_keys` open windows, new failures pass through uncoalesced —
never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mcpdiag.emitters.codes import LIFECYCLE_CODES, SEVERITY_RANK
from mcpdiag.emitters.delivery import Item
from mcpdiag.emitters.sinks import WireEvent

DEFAULT_WINDOW = 10.0
"""Seconds a window of identical failures stays open (`Emitter(coalesce_window=...)`; 0 turns it off)."""
MAX_KEYS = 10_000
_FAILURE_RANK = SEVERITY_RANK["warning"]

Key = tuple[object, ...]


@dataclass(slots=True)
class _Window:
    start: float
    """When the first occurrence was seen (the stage's clock)."""
    rank: int
    repeats: int = 0
    first_ts: str = ""
    last: Item | None = None
    """The latest repeat: the follow-up is built from it."""


def failure_key(event: WireEvent) -> Key | None:
    """What makes two failures identical; None for an event that is never coalesced."""
    code = event.get("code")
    if code in LIFECYCLE_CODES or event.get("count", 1) != 1:
        return None
    if SEVERITY_RANK.get(event.get("severity"), 0) < _FAILURE_RANK:  # type: ignore[arg-type]
        return None
    return (
        event.get("server"),
        event.get("userId"),
        code,
        event.get("touchpoint"),
        event.get("tool"),
        event.get("severity"),
    )


class Coalescer:
    """A processor stage (`BatchProcessor(stages=[Coalescer(10.0)])`) with a time window.

    The processor calls it with each batch's finalised items, calls `release()` when the queue is empty
    (everything due, or everything held on `flush()` / `close()`), and wakes by `next_due()`.
    """

    def __init__(
        self,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.window = max(0.0, float(window))
        self.max_keys = max(1, max_keys)
        self._clock = clock
        self._windows: dict[Key, _Window] = {}
        self.held = 0
        """Repeats held now, waiting for their follow-up (read by other threads: an int, updated whole)."""
        self.coalesced = 0
        """Repeats folded into follow-ups since the stage was created (or reset)."""
        self.followups = 0
        """Windows holding repeats now: the follow-up events still to come."""

    def __call__(self, items: list[Item]) -> list[Item]:
        """The items to send now: non-failures, first occurrences, and follow-ups of windows that ended."""
        if not self.window:
            return items
        now = self._clock()
        out: list[Item] = []
        windows = self._windows
        for item in items:
            key = failure_key(item[2])
            if key is None:
                out.append(item)
                continue
            window = windows.get(key)
            if window is not None and now - window.start < self.window:
                self._fold(window, item)
                continue
            if window is not None:  # ended: its repeats go before the new first occurrence
                self._close(window, out)
                del windows[key]
            if len(windows) < self.max_keys:
                windows[key] = _Window(now, item[1])
            out.append(item)
        return out

    def _fold(self, window: _Window, item: Item) -> None:
        if window.last is None:
            window.first_ts = item[2]["ts"]
            self.followups += 1
        window.repeats += 1
        window.last = item
        self.held += 1

    def _close(self, window: _Window, out: list[Item]) -> None:
        last = window.last
        if last is None:
            return
        seq, _, event = last
        if window.repeats > 1:
            event["count"] = window.repeats
            event["firstTs"] = window.first_ts
            event["lastTs"] = event["ts"]
            self.coalesced += window.repeats
        out.append((seq, window.rank, event))
        self.held -= window.repeats
        self.followups -= 1
        window.last, window.repeats = None, 0

    def release(self, *, everything: bool = False) -> list[Item]:
        """Follow-ups of the windows that ended (all held repeats when `everything`), oldest first."""
        if not self._windows:
            return []
        now = self._clock()
        out: list[Item] = []
        # Windows are kept in the order they opened (an ended one is deleted before its key opens again),
        # so the ended ones come first.
        for key, window in list(self._windows.items()):
            ended = now - window.start >= self.window
            if not ended and not everything:
                break
            self._close(window, out)
            if ended:
                del self._windows[key]
        out.sort(key=lambda item: item[0])
        return out

    def next_due(self) -> float | None:
        """Seconds until the oldest open window ends, while any window holds repeats; else None."""
        if not self.followups:
            return None
        oldest = next(iter(self._windows.values()))
        return max(0.0, oldest.start + self.window - self._clock())

    def reset(self) -> None:
        """Forget every window (a forked child: what the parent held is the parent's to deliver)."""
        self._windows = {}
        self.held = self.followups = self.coalesced = 0
