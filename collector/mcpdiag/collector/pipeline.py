"""The ingest pipeline behind the HTTP endpoints: a bounded queue, a batch writer, and the spool replayer.

Durability: `submit()` returns a future that resolves only once the request's events were appended to the
store or fsynced to the spool, so a 202 always means "stored or durably spooled" — a SIGKILL after the
answer loses nothing. Events from concurrent requests still share batches: the writer takes whole requests
until it holds `batch_size` events, or until the queue stays empty for one turn of the event loop (group
commit: while a batch is being written the queue refills, so batches grow with load and a lone request is
not held back), and never lingers longer than `batch_interval` for more events.

With an `IngestBudget`, events past their server's (or ingest key's) budget do not take queue room: they
are merged by fingerprint in an `Overflow` (`mcpdiag.collector.storm`), and every `merge_interval` the
summaries go through the queue like any request; the requests that brought the merged events are answered
once their summaries are stored or spooled, so one storming server slows its own hosts' answers a little
and never fills the queue that everyone else's events need.

When a store write fails, the batch goes to the spool and the writer keeps spooling (so order is kept)
until the replayer has stored a spooled batch again; the replayer retries with exponential backoff and
deletes each batch once stored. Appends are idempotent on event id, so a replay after a lost
acknowledgement stores nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from mcpdiag.collector.changes import Changes
from mcpdiag.collector.errors import CollectorError, OverloadedError, SpoolCorruptError, SpoolFullError
from mcpdiag.collector.metrics import CollectorMetrics
from mcpdiag.collector.spool import Spool, SpoolEntry
from mcpdiag.collector.storm import IngestBudget, Overflow
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store.base import EventStore

log = structlog.get_logger("mcpdiag.collector.pipeline")


@dataclass(slots=True)
class _Pending:
    events: Sequence[DiagnosticEvent]
    done: asyncio.Future[int]


def _settle(pending: Sequence[_Pending], error: BaseException | None) -> None:
    for item in pending:
        if item.done.done():  # the request was cancelled (client gone); its events were still handled
            continue
        if error is None:
            item.done.set_result(len(item.events))
        else:
            item.done.set_exception(error)


def _retrieve(future: asyncio.Future[int]) -> None:
    # A request that went away never awaits its future; reading the exception keeps asyncio quiet.
    if not future.cancelled():
        future.exception()


def _joined(parts: Sequence[asyncio.Future[int]], count: int) -> asyncio.Future[int]:
    """A future resolving to `count` once every part has, or failing with the first part that fails."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    done.add_done_callback(_retrieve)
    waiting = set(parts)

    def settle(part: asyncio.Future[int]) -> None:
        waiting.discard(part)
        error: BaseException | None = (
            OverloadedError("the write was cancelled") if part.cancelled() else part.exception()
        )
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        elif not waiting:
            done.set_result(count)

    for part in parts:
        part.add_done_callback(settle)
    return done


class IngestPipeline:
    """Queue → batch writer → `EventStore.append`, with the spool when the store fails."""

    def __init__(
        self,
        store: EventStore,
        spool: Spool,
        *,
        metrics: CollectorMetrics | None = None,
        batch_size: int = 5000,
        batch_interval: float = 0.2,
        queue_max_events: int = 50_000,
        replay_backoff: tuple[float, float] = (0.05, 2.0),
        budget: IngestBudget | None = None,
        merge_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.spool = spool
        self.metrics = metrics or CollectorMetrics()
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.queue_max_events = queue_max_events
        self.replay_backoff = replay_backoff
        self.budget = budget if budget is not None and budget.enabled else None
        self.merge_interval = merge_interval
        self.overflow = Overflow()
        self._overflow_done: asyncio.Future[int] | None = None
        self._merger: asyncio.Task[None] | None = None
        self.changes = Changes()
        self._queue: deque[_Pending] = deque()
        self._depth = 0
        self._wake_writer = asyncio.Event()
        self._wake_replayer = asyncio.Event()
        self._healthy = True
        self._accepting = False
        self._writer: asyncio.Task[None] | None = None
        self._replayer: asyncio.Task[None] | None = None
        self.metrics.watch(
            queue_depth=lambda: self._depth,
            spool_bytes=lambda: self.spool.size_bytes,
            spool_batches=lambda: len(self.spool),
            store_healthy=lambda: 1.0 if self._healthy else 0.0,
            overflow_events=lambda: self.overflow.events,
        )

    @property
    def queue_depth(self) -> int:
        """Events queued or being written."""
        return self._depth

    @property
    def store_healthy(self) -> bool:
        """False from a failed store write until the replayer stores a spooled batch again."""
        return self._healthy

    async def start(self) -> None:
        """Open the spool, replay what an earlier run left there, then start the writer and replayer."""
        await self.spool.open()
        leftovers = self.spool.pending()
        if leftovers:
            log.info("replaying spool", batches=len(leftovers), bytes=self.spool.size_bytes)
            await self._replay(leftovers)
        self._accepting = True
        self._writer = asyncio.create_task(self._write_loop(), name="mcpdiag-batch-writer")
        self._replayer = asyncio.create_task(self._replay_loop(), name="mcpdiag-spool-replayer")
        if self.budget is not None:
            self._merger = asyncio.create_task(self._merge_loop(), name="mcpdiag-overflow-merger")

    async def stop(self, timeout: float = 30.0) -> None:
        """Refuse new events, write (or spool) everything queued and merged, then stop the replayer."""
        self._release_overflow()  # with no await before refusing: nothing is merged after this
        self._accepting = False
        if self._merger is not None:
            self._merger.cancel()
        self._wake_writer.set()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._writer, timeout)
            except TimeoutError:
                log.error("batch writer did not drain in time", queued=self._depth)
            self._writer = None
        _settle(self._queue, OverloadedError("the collector is shutting down", code="shutting_down"))
        self._queue.clear()
        if self._merger is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._merger
            self._merger = None
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
            self._replayer = None

    def submit(
        self, events: Sequence[DiagnosticEvent], *, key_id: str = "", budgeted: bool = True
    ) -> asyncio.Future[int]:
        """Queue validated events (sent with the ingest key `key_id`); the future resolves once they are
        stored or spooled — the over-budget ones as part of their summaries. `budgeted=False`: the events
        are the collector's own (a doctor run whose Debug ID must resolve), never merged.

        Raises `OverloadedError` (queue full, shutting down) or `SpoolFullError` instead of accepting
        events it could not keep.
        """
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if not events:
            done.set_result(0)
            return done
        if not self._accepting:
            raise OverloadedError("the collector is not accepting events (starting or shutting down)")
        within: Sequence[DiagnosticEvent] = events
        judged: list[tuple[DiagnosticEvent, str]] = []
        if self.budget is not None and budgeted:
            within, judged = self.budget.split(events, key_id)
        # Over-budget events cost the queue nothing until merged: then one summary per fingerprint.
        if self._depth + len(within) + (1 if judged else 0) > self.queue_max_events:
            raise OverloadedError(f"the ingest queue is full ({self.queue_max_events} events); retry later")
        if not self._healthy and self.spool.full:
            raise SpoolFullError("the store is unavailable and the spool is full; retry later", retry_after=5)
        parts: list[asyncio.Future[int]] = []
        if judged:
            self.metrics.count_over_budget(judged)
            self.overflow.add(event for event, _ in judged)
            if self._overflow_done is None:
                self._overflow_done = asyncio.get_running_loop().create_future()
                self._overflow_done.add_done_callback(_retrieve)
            parts.append(self._overflow_done)
            if len(self.overflow) >= max(1, self.queue_max_events // 10):  # memory: distinct fingerprints
                self._release_overflow()
        if within:
            done.add_done_callback(_retrieve)
            self._queue.append(_Pending(within, done))
            self._depth += len(within)
            self._wake_writer.set()
            parts.append(done)
        return parts[0] if not judged else _joined(parts, len(events))

    def _release_overflow(self) -> None:
        """Queue the summaries merged so far; their requests are answered once these are written."""
        waiting, self._overflow_done = self._overflow_done, None
        merged = self.overflow.take()
        if waiting is None:
            return
        if not merged:  # never expected: a future is made only with the first merged event
            waiting.set_result(0)
            return
        self.metrics.count_summaries(merged)
        summaries = [summary for summary, _ in merged]
        self._queue.append(_Pending(summaries, waiting))
        self._depth += len(summaries)
        self._wake_writer.set()

    async def _merge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.merge_interval)
            self._release_overflow()

    # -- batch writer ---------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while (batch := await self._next_batch()) is not None:
            pending, events = batch
            try:
                await self._persist(events)
            except CollectorError as exc:
                _settle(pending, exc)
            except Exception as exc:  # never let one batch kill the writer
                log.exception("batch write failed")
                _settle(pending, OverloadedError(f"events could not be stored: {type(exc).__name__}"))
            else:
                _settle(pending, None)
            finally:
                self._depth -= len(events)

    async def _next_batch(self) -> tuple[list[_Pending], Sequence[DiagnosticEvent]] | None:
        """The next requests to write together and their events, or None once stopped and drained."""
        while not self._queue:
            if not self._accepting:
                return None
            self._wake_writer.clear()
            await self._wake_writer.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.batch_interval
        batch: list[_Pending] = []
        count = 0
        while True:
            while self._queue and count < self.batch_size:
                item = self._queue.popleft()
                batch.append(item)
                count += len(item.events)
            if count >= self.batch_size or not self._accepting or loop.time() >= deadline:
                break
            # One turn of the loop lets handlers that are ready enqueue their events into this batch.
            await asyncio.sleep(0)
            if not self._queue:
                break
        if len(batch) == 1:  # a request of a batch's size or more (or a lone one) goes to the store as is
            return batch, batch[0].events
        events: list[DiagnosticEvent] = []
        for item in batch:
            events.extend(item.events)
        return batch, events

    async def _persist(self, events: Sequence[DiagnosticEvent]) -> None:
        # While spooled batches wait and the store has not recovered, keep spooling: order is kept and a
        # down store is not hammered by every batch.
        if self._healthy or not len(self.spool):
            started = time.perf_counter()
            try:
                await self.store.append(events)
            except Exception as exc:
                self._healthy = False
                self.metrics.store_failures.inc()
                log.warning("store write failed; spooling", error=str(exc), events=len(events))
            else:
                self._healthy = True
                self.metrics.batch_seconds.observe(time.perf_counter() - started)
                self.metrics.batch_events.observe(len(events))
                self.metrics.stored.inc(len(events))
                self.changes.notify(event.server for event in events)
                return
        try:
            await self.spool.append(events)
        except SpoolFullError:
            raise
        except OSError as exc:
            log.error("spool write failed", error=str(exc))
            raise OverloadedError(
                "the store is unavailable and the spool cannot be written", code="store_unavailable"
            ) from exc
        self.metrics.spooled.inc(len(events))
        self._wake_replayer.set()

    # -- replayer -------------------------------------------------------------------------------------

    async def _replay_loop(self) -> None:
        low, high = self.replay_backoff
        delay = low
        while True:
            self._wake_replayer.clear()
            entries = self.spool.pending()
            if not entries:
                await self._wake_replayer.wait()
                continue
            if await self._replay(entries):
                delay = low
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    async def _replay(self, entries: list[SpoolEntry]) -> bool:
        """Store spooled batches in order, deleting each once stored; False at the first store failure."""
        for entry in entries:
            try:
                events = await self.spool.read(entry)
            except SpoolCorruptError as exc:
                self.metrics.spool_corrupt.inc()
                log.error("quarantined a damaged spool file", error=str(exc))
                continue
            try:
                await self.store.append(events)
            except Exception as exc:
                self._healthy = False
                log.info("replay deferred: store still unavailable", error=str(exc), pending=len(self.spool))
                return False
            await self.spool.delete(entry)
            self._healthy = True
            self.metrics.replayed.inc(len(events))
            self.changes.notify(event.server for event in events)
        return True
