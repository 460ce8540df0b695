"""The batch processor behind `Emitter`: a bounded queue drained by one worker thread into the sink.

Cut like OpenTelemetry's `BatchProcessor`: the host's thread only appends a record to a queue, and one
worker thread drains it through

    queue ─► take, in emit order ─► finalise each record ─► stages ─► batch ─► `Delivery` ─► sink

- **Order.** A record carries a sequence number (`next_seq()`, taken when it is emitted). The queue is one
  deque per severity, so that a full queue sheds the oldest event of the lowest severity in O(1); the
  worker merges the deques by sequence number, so the sink receives the kept events in emit order.
- **One record at a time.** Each record is finalised on its own: one that cannot be made into a wire event
  is dropped and counted (`poisoned`), never the batch around it.
- **Stages** are callables from the finalised items of a batch (in emit order) to the items to send: the
  seam where the coalescing stage (`mcpdiag.emitters.coalesce`: repeated failures merged into one event
  with a count) sits. A stage that holds items across batches (a `WindowStage`: it has `release`) is
  asked for them whenever the queue is empty, the worker wakes in time for its `next_due()`, and
  `flush()` / `close()` ask it for everything it holds, so nothing it holds is lost at close. Items the
  sink handed back are not staged again.
- **Failures** are `Delivery`'s (`mcpdiag.emitters.delivery`): what an outage hands back goes to the front
  of the queue again, in order, shedding as the bound requires, and is retried with backoff.
- **Fork.** A forked child starts with an empty queue and its own worker; what the parent queued is the
  parent's to deliver.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, Protocol, runtime_checkable

from mcpdiag.emitters.delivery import Delivery, Item
from mcpdiag.emitters.sinks import Sink, WireEvent
from mcpdiag.emitters.stats import Counters, EmitterStats
from mcpdiag.emitters.text import type_name

logger = logging.getLogger("mcpdiag.emitters")

Record = tuple[Any, ...]
"""A queued record, `(seq, ...)`: raw (`finalize`'s input) or `(seq, event)`; its deque says its severity."""
Stage = Callable[[list[Item]], list[Item]]
"""Takes a batch's finalised items in emit order, returns the items to send (it may merge or drop)."""


@runtime_checkable
class WindowStage(Protocol):
    """A stage that holds items across batches (a time window) and gives them back when asked."""

    held: int
    """Occurrences held now (an int other threads may read)."""
    followups: int
    """Items `release(everything=True)` would give now."""

    def __call__(self, items: list[Item]) -> list[Item]:
        """The items to send now."""

    def release(self, *, everything: bool = False) -> list[Item]:
        """Held items that are due (all of them when `everything`)."""

    def next_due(self) -> float | None:
        """Seconds until held items are due; None when nothing is held."""

    def reset(self) -> None:
        """Forget what is held (a forked child)."""


_HANDED_BACK = None
"""The third element of a record the sink handed back: `(seq, event, _HANDED_BACK)`, already staged."""
_SEQ = itemgetter(0)
RETRY_BACKOFF = (0.05, 2.0)
_LEVELS = 5  # severities, debug (0) to critical (4)

next_seq: Callable[[], int] = itertools.count().__next__
"""The next sequence number: atomic in CPython, cheap enough for the hot path."""

_live: weakref.WeakSet[BatchProcessor] = weakref.WeakSet()


def seconds(value: object, default: float = 5.0) -> float:
    """`value` as a timeout in seconds: NaN and negatives are 0, what is not a number is `default`."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except Exception:
        return default
    return 0.0 if number != number else min(max(number, 0.0), 1e7)


class BatchProcessor:
    """Queues records from any thread and ships them from one worker thread, never blocking the caller."""

    def __init__(
        self,
        sink: Sink,
        *,
        finalize: Callable[[Record], WireEvent],
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_retries: int = 3,
        retry_backoff: tuple[float, float] = RETRY_BACKOFF,
        stages: Sequence[Stage] = (),
    ) -> None:
        self.queue_size = max(1, queue_size)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.retry_backoff = retry_backoff
        self._finalize = finalize
        self._stages = list(stages)
        self._windows = [stage for stage in self._stages if isinstance(stage, WindowStage)]
        self._counters = Counters()
        self._delivery = Delivery(
            sink, self._counters, max_retries=max_retries, backoff=retry_backoff, rest=self._rest
        )
        self._closed = False
        self._reset()
        _live.add(self)

    @property
    def sink(self) -> Sink:
        """Where the batches go."""
        return self._delivery.sink

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages every batch goes through, in order."""
        return tuple(self._stages)

    def _reset(self) -> None:
        self._queues: tuple[deque[Record], ...] = tuple(deque() for _ in range(_LEVELS))
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._deadline = 0.0
        self._in_flight = 0
        self._worker: threading.Thread | None = None
        self._release_asked = 0
        """Bumped by `flush()`: the worker hands the sink everything the window stages hold."""
        self._released = 0
        """The last `_release_asked` the worker served."""

    # -- the caller's side ----------------------------------------------------------------------------

    def enqueue(self, record: Record, rank: int) -> None:
        """Queue `record` at severity `rank` (0-4); lock-free unless full or closed. Never raises."""
        try:
            q = self._queues
            size = len(q[0]) + len(q[1]) + len(q[2]) + len(q[3]) + len(q[4])
            if self._closed or size >= self.queue_size:
                self._enqueue_contended(record, rank)
                return
            q[rank].append(record)  # deque.append is atomic: no lock on the hot path
            if self._worker is None:
                self._start_worker()
            if size + 1 >= self.batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:
            logger.debug("mcpdiag emitter failed to enqueue an event", exc_info=True)

    def _enqueue_contended(self, record: Record, rank: int) -> None:
        with self._lock:
            if self._closed or (self._size >= self.queue_size and not self._shed_below(rank)):
                self._counters.drop(rank)
                return
            self._queues[rank].append(record)

    @property
    def _size(self) -> int:
        return sum(len(queue) for queue in self._queues)

    def _shed_below(self, rank: int) -> bool:
        """Drop the oldest queued event of a lower severity than `rank`; False if there is none."""
        for lower in range(rank):
            if self._queues[lower]:
                self._queues[lower].popleft()
                self._counters.drop(lower)
                return True
        return False

    # -- the worker -----------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is not None or self._closed:
                return
            self._worker = threading.Thread(target=self._run, name="mcpdiag-emitter", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        low, high = self.retry_backoff
        pause = low
        while True:
            self._wake.wait(self._next_wait())
            self._wake.clear()
            asked = self._release_asked
            while True:
                records = self._take()
                items = self._prepare(records) if records else []
                if self._windows and not self._size:  # the queue is drained: what the windows hold
                    items += self._release(everything=self._released < asked)
                if not items:
                    if not records:
                        break
                    self._settle()  # everything taken was folded into a window
                    continue
                unsent = self._delivery.deliver(items)
                if not unsent:
                    pause = low
                    self._settle()
                    continue
                self._requeue(unsent)  # the sink is down: keep the events, in order, as room allows
                if self._rest(pause):
                    return
                pause = min(pause * 2, high)
            self._released = asked
            if self._settle(idle=True):
                return

    def _next_wait(self) -> float:
        """How long the worker sleeps: the flush interval, or less when a window is due sooner."""
        wait = self.flush_interval
        for stage in self._windows:
            try:
                due = stage.next_due()
            except Exception:
                due = None
            if due is not None:
                wait = min(wait, due + 0.001)
        return wait

    def _release(self, *, everything: bool) -> list[Item]:
        items: list[Item] = []
        for stage in self._windows:
            try:
                items += stage.release(everything=everything)
            except Exception as exc:  # a broken stage costs its work, never the worker
                logger.warning("mcpdiag emitter stage %s failed: %s", type_name(stage), type_name(exc))
        if items:
            with self._lock:
                self._in_flight += len(items)
        return items

    def _settle(self, *, idle: bool = False) -> bool:
        """Nothing is in flight any more; True when the queue is empty too and the processor closed."""
        with self._lock:
            self._in_flight = 0
            if idle:
                self._idle.notify_all()
            return idle and self._closed and not self._size

    def _take(self) -> list[tuple[int, Record]]:
        """Up to `batch_size` queued records and their ranks, oldest first across the severities."""
        with self._lock:
            queues = [(rank, queue) for rank, queue in enumerate(self._queues) if queue]
            batch: list[tuple[int, Record]] = []
            while queues and len(batch) < self.batch_size:
                entry = queues[0] if len(queues) == 1 else min(queues, key=_head_seq)  # a merge by seq
                batch.append((entry[0], entry[1].popleft()))
                if not entry[1]:
                    queues.remove(entry)
            self._in_flight = len(batch)
            return batch

    def _prepare(self, records: list[tuple[int, Record]]) -> list[Item]:
        """Finalise records one by one (a poisoned one is dropped alone), then run the stages."""
        items: list[Item] = []
        staged: list[Item] = []
        poisoned: list[int] = []
        for rank, record in records:
            if type(record[1]) is dict:  # built on the caller's thread (`emit_event`), or handed back
                (staged if len(record) == 3 else items).append((record[0], rank, record[1]))
                continue
            try:
                items.append((record[0], rank, self._finalize(record)))
            except Exception as exc:
                logger.warning("mcpdiag emitter dropped an event it could not build: %s", type_name(exc))
                poisoned.append(rank)
        if poisoned:
            self._counters.discard(poisoned, poisoned=True)
        for stage in self._stages:
            try:
                items = stage(items)
            except Exception as exc:  # a broken stage costs its work, never the events
                logger.warning("mcpdiag emitter stage %s failed: %s", type_name(stage), type_name(exc))
        if staged:
            items = sorted(staged + items, key=_SEQ)
        return items

    def _requeue(self, items: list[Item]) -> None:
        with self._lock:
            for seq, rank, event in reversed(items):
                if self._closed or (self._size >= self.queue_size and not self._shed_below(rank)):
                    self._counters.drop(rank)
                    continue
                self._queues[rank].appendleft((seq, event, _HANDED_BACK))
            self._in_flight = 0

    def _rest(self, pause: float) -> bool:
        """Wait `pause` before a retry (less once closing); True when `close()`'s deadline has passed."""
        if self._closing.is_set():
            pause = min(pause, self._deadline - time.monotonic())
            if pause > 0:
                time.sleep(pause)
        else:
            self._closing.wait(pause)  # `close()` cuts the pause short
        return self._closing.is_set() and self._deadline <= time.monotonic()

    # -- flushing and closing ---------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event (and every repeat a window stage holds) was handed to the sink;
        False if `timeout` passed first."""
        deadline = time.monotonic() + seconds(timeout)
        with self._lock:
            self._release_asked += 1
            asked = self._release_asked
        self._wake.set()
        with self._lock:
            while self._size or self._in_flight or self._holding(asked):
                remaining = deadline - time.monotonic()
                if self._worker is None:  # nothing was ever queued: no window holds anything
                    return not (self._size or self._in_flight)
                if remaining <= 0:
                    return not (self._size or self._in_flight or self._holding(asked))
                self._idle.wait(min(remaining, 0.05))
                self._wake.set()
        return True

    def _holding(self, asked: int) -> bool:
        """Whether the worker has yet to hand the sink what the window stages held at flush `asked`."""
        return bool(self._windows) and self._released < asked

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (up to `timeout`), stop the worker, drop and count what is left."""
        if self._closed:
            return
        self._deadline = time.monotonic() + seconds(timeout)
        self._closing.set()
        flushed = self.flush(timeout)
        with self._lock:
            self._closed = True
            leftover = self._size + self._in_flight + self.held
            self._drop_queued()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(max(0.0, self._deadline - time.monotonic()) + 0.1)
        with self._lock:
            self._drop_queued()  # handed back by a worker that gave up at the deadline
            if self._worker is None or not self._worker.is_alive():
                self._drop_held()
        if not flushed:
            logger.warning("mcpdiag emitter closed with %d event(s) not delivered", leftover)
        try:
            self.sink.close()
        except Exception:
            logger.debug("mcpdiag sink close failed", exc_info=True)

    def _drop_held(self) -> None:
        """Count what the window stages still hold as dropped (only once no worker touches them)."""
        for stage in self._windows:
            held = stage.held
            try:
                ranks = [item[1] for item in stage.release(everything=True)]
            except Exception:
                ranks = []
            if held:
                self._counters.drop(max(ranks, default=2), held)

    @property
    def held(self) -> int:
        """Repeats the window stages hold now, waiting for their follow-up event."""
        return sum(stage.held for stage in self._windows)

    def _drop_queued(self) -> None:
        for rank, queue in enumerate(self._queues):
            if queue:
                self._counters.drop(rank, len(queue))
                queue.clear()

    def stats(self) -> EmitterStats:
        """A snapshot of the counters."""
        stats = self._counters.snapshot(queued=self.pending)
        stats.held = self.held
        stats.coalesced = sum(getattr(stage, "coalesced", 0) for stage in self._windows)
        return stats

    @property
    def pending(self) -> int:
        """Events queued and not yet handed to the sink (a window's follow-up still to come counts one)."""
        return self._size + self._in_flight + sum(stage.followups for stage in self._windows)

    def after_fork(self) -> None:
        """Start over in a forked child: the parent's worker does not exist here and its lock may be held."""
        self._reset()
        for stage in self._windows:
            stage.reset()
        self._counters = Counters()  # its lock may be held too; the child's counts start at zero
        self._delivery = Delivery(
            self.sink,
            self._counters,
            max_retries=self._delivery.max_retries,
            backoff=self.retry_backoff,
            rest=self._rest,
        )


def _head_seq(entry: tuple[int, deque[Record]]) -> int:
    seq: int = entry[1][0][0]
    return seq


def _reinit_after_fork() -> None:
    for processor in list(_live):
        processor.after_fork()


os.register_at_fork(after_in_child=_reinit_after_fork)
