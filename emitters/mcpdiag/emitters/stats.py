"""The emitter's counters: what it sent, retried and dropped, and the drops not yet reported to the sink."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from mcpdiag.emitters.codes import Severity

_SEVERITIES = tuple(Severity)


@dataclass(slots=True)
class EmitterStats:
    """Counters of an emitter since it was created."""

    queued: int = 0
    """Events waiting in the queue or in the batch being sent."""
    sent: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Severity})
    failed_batches: int = 0
    retried_batches: int = 0
    rejected: int = 0
    poisoned: int = 0
    """Events dropped on their own: not finalisable, or refused by the receiver even when sent alone."""
    coalesced: int = 0
    """Repeated failures folded into follow-up events (`count` > 1) so far."""
    held: int = 0
    """Repeated failures held now, waiting for the follow-up event that will count them."""

    @property
    def dropped_total(self) -> int:
        """Events dropped for any reason (full queue, closed emitter, a sink that refused them)."""
        return sum(self.dropped.values())


class Counters:
    """Thread-safe counters behind `EmitterStats`, and the count of drops a later event must report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = EmitterStats()
        self._unreported = 0

    def drop(self, rank: int, count: int = 1) -> None:
        """`count` events of severity `rank` (0-4) were dropped."""
        with self._lock:
            self._stats.dropped[_SEVERITIES[rank].value] += count
            self._unreported += count

    def discard(self, ranks: list[int], *, poisoned: bool) -> None:
        """Events dropped by the worker: a poisoned event each, or one failed batch."""
        with self._lock:
            if poisoned:
                self._stats.poisoned += len(ranks)
            else:
                self._stats.failed_batches += 1
            for rank in ranks:
                self._stats.dropped[_SEVERITIES[rank].value] += 1
            self._unreported += len(ranks)

    def sent(self, delivered: int, rejected: int) -> None:
        """A batch was delivered; the receiver refused `rejected` of its events."""
        with self._lock:
            self._stats.sent += delivered - rejected
            self._stats.rejected += rejected

    def retried(self) -> None:
        """A batch came back from the sink to be sent again."""
        with self._lock:
            self._stats.retried_batches += 1

    def take_unreported(self) -> int:
        """The drops not reported yet, now to be reported by the caller."""
        with self._lock:
            dropped, self._unreported = self._unreported, 0
            return dropped

    def give_back(self, dropped: int) -> None:
        """The report of `dropped` drops was not delivered: a later event reports them."""
        with self._lock:
            self._unreported += dropped

    def snapshot(self, queued: int) -> EmitterStats:
        """A copy of the counters, with `queued` events waiting."""
        with self._lock:
            s = self._stats
            return EmitterStats(
                queued=queued,
                sent=s.sent,
                dropped=dict(s.dropped),
                failed_batches=s.failed_batches,
                retried_batches=s.retried_batches,
                rejected=s.rejected,
                poisoned=s.poisoned,
            )
