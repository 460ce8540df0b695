"""Handing batches to the sink: retries, isolating a poisoned event, and reporting drops on later events.

An unavailable sink (`RETRY`) is an outage, not a bad batch: `deliver` hands everything not yet delivered
back to the processor, which keeps it queued (in order) and retries with backoff for as long as the outage
lasts. A refusal that may be about the batch itself (`SinkResult.isolate`: the receiver answered 400, 413,
422 or 500) is retried at most `max_retries` times, then the batch is split in halves sent on their own,
until the event at fault is alone: that one is dropped and counted, every other is delivered, in order.
Isolating one event in a batch of n costs about 2·log2(n) extra sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcpdiag.emitters.event import MAX_ATTRS
from mcpdiag.emitters.redact import redact_text
from mcpdiag.emitters.sinks import Outcome, Sink, SinkResult, WireEvent
from mcpdiag.emitters.stats import Counters
from mcpdiag.emitters.text import type_name

logger = logging.getLogger("mcpdiag.emitters")
_MAX_REFUSALS = 16

Item = tuple[int, int, WireEvent]
"""A finalised record: its sequence number, its severity rank and its wire event."""

DROPPED_EVENTS_ATTR = "mcpdiag.dropped_events"
"""The attr on a delivered event that counts the events dropped since the previous report."""


class Delivery:
    """Sends batches of finalised items to a sink for the processor's worker thread."""

    def __init__(
        self,
        sink: Sink,
        counters: Counters,
        *,
        max_retries: int,
        backoff: tuple[float, float],
        rest: Callable[[float], bool],
    ) -> None:
        self.sink = sink
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self._counters = counters
        self._rest = rest
        """Waits before a retry; True when the worker must stop (the emitter is closing, out of time)."""
        self._refusals: set[str] = set()
        """The refusals already logged (a wrong key refuses every batch: one line says so, not thousands)."""

    def deliver(self, items: list[Item]) -> list[Item]:
        """Send `items`, isolating any event the receiver refuses; what to keep for later (an outage)."""
        low, high = self.backoff
        work: list[tuple[list[Item], int]] = [(items, self.max_retries)]  # a stack: the next batch last
        while work:
            batch, retries = work.pop()
            if not batch:
                continue
            result = self._send(batch)
            if result.outcome is Outcome.SENT:
                continue
            if not result.isolate:
                if result.outcome is Outcome.RETRY:
                    return _unsent(batch, work)
                self._counters.discard([item[1] for item in batch], poisoned=False)
                self._log_refusal(len(batch), result.error)
                continue
            if result.outcome is Outcome.RETRY and retries > 0:
                pause = min(low * 2 ** (self.max_retries - retries), high)
                if self._rest(pause if result.retry_after is None else min(result.retry_after, high)):
                    return _unsent(batch, work)
                work.append((batch, retries - 1))
                continue
            if len(batch) == 1:
                logger.warning("mcpdiag emitter dropped an event the receiver refused: %s", result.error)
                self._counters.discard([batch[0][1]], poisoned=True)
                continue
            # Halves are sent once each; only an event left alone earns its retries again.
            half = len(batch) // 2
            for part in (batch[half:], batch[:half]):
                work.append((part, self.max_retries if len(part) == 1 else 0))
        return []

    def _log_refusal(self, count: int, error: str | None) -> None:
        """Say once, for each distinct refusal, that the receiver refused whole batches (a wrong ingest key,
        a wrong URL): they are dropped, and nothing else would say so. Redacted: it may quote the answer."""
        reason = redact_text(error or "refused")
        if reason in self._refusals or len(self._refusals) >= _MAX_REFUSALS:
            return
        self._refusals.add(reason)
        logger.warning(
            "mcpdiag emitter dropped %d event(s): the receiver refused the batch (%s); check the collector's "
            "URL and the ingest key (said once; emitter.stats() counts every drop)",
            count,
            reason,
        )

    def _send(self, batch: list[Item]) -> SinkResult:
        events = [item[2] for item in batch]
        report = self._report_drops(events)
        try:
            answer: Any = self.sink.send(events)
        except Exception as exc:
            logger.warning("mcpdiag sink %s raised %s", type_name(self.sink), type_name(exc))
            answer = SinkResult(Outcome.FAILED, error=type_name(exc))
        # None (or anything else a sink returns that is not a result) means sent.
        result = answer if isinstance(answer, SinkResult) else SinkResult.sent()
        if report is not None and result.outcome is not Outcome.SENT:
            # Not delivered: take the count back, so the batch that does get through reports it.
            carrier, dropped = report
            carrier["attrs"].pop(DROPPED_EVENTS_ATTR, None)
            self._counters.give_back(dropped)
        if result.outcome is Outcome.SENT:
            self._counters.sent(len(batch), result.rejected)
        elif result.outcome is Outcome.RETRY:
            self._counters.retried()
        return result

    def _report_drops(self, events: list[WireEvent]) -> tuple[WireEvent, int] | None:
        """Put the count of drops not yet reported on the first event with room; that event and the count."""
        dropped = self._counters.take_unreported()
        if not dropped:
            return None
        for event in events:
            attrs = event.get("attrs")
            if isinstance(attrs, dict) and len(attrs) < MAX_ATTRS:
                attrs[DROPPED_EVENTS_ATTR] = dropped
                return event, dropped
        self._counters.give_back(dropped)
        return None


def _unsent(batch: list[Item], work: list[tuple[list[Item], int]]) -> list[Item]:
    """`batch` and every batch still to send after it, in emit order."""
    return batch + [item for rest, _ in reversed(work) for item in rest]
