"""Sinks whose behaviour the emitter tests control: the boundary we fake (a collector that is down, hangs,
or refuses particular events)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from mcpdiag.emitters.sinks import Outcome, SinkResult


class GatedSink:
    """A sink whose availability the test controls: down, hanging or slow."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.up = threading.Event()
        self.up.set()
        self.hang = threading.Event()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def send(self, events: Sequence[dict[str, Any]]) -> SinkResult:
        self.calls += 1
        self.entered.set()
        if self.hang.is_set():
            self.release.wait(10)
        if not self.up.is_set():
            return SinkResult(Outcome.RETRY, retry_after=0.01, error="collector down")
        self.events.extend(events)
        return SinkResult.sent()

    def close(self) -> None:
        self.release.set()


class JudgingSink:
    """Delivers a batch unless `judge` returns a result for it; records every batch it was handed."""

    def __init__(self, judge: Callable[[list[dict[str, Any]]], SinkResult | None]) -> None:
        self.judge = judge
        self.batches: list[list[dict[str, Any]]] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, events: Sequence[dict[str, Any]]) -> SinkResult:
        batch = [dict(e, attrs=dict(e["attrs"])) for e in events]
        with self._lock:
            self.batches.append(batch)
        verdict = self.judge(batch)
        if verdict is not None and verdict.outcome is not Outcome.SENT:
            return verdict
        with self._lock:
            self.events.extend(batch)
        return verdict or SinkResult.sent()

    def close(self) -> None:
        return None
