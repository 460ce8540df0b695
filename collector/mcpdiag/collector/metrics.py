"""Prometheus metrics of the collector, in a registry per app (so tests and embedders can build many)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mcpdiag.emitters import CATALOG, DiagnosticEvent

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER = "other"
"""The label value of every server or code past its cap."""
MAX_SERVER_LABELS = 200
MAX_EXTRA_CODE_LABELS = 20


class LabelCap:
    """At most `limit` distinct values of one label, first come first kept; the rest are `other`: a
    Prometheus series per server and code, without letting invented names grow the scrape forever."""

    def __init__(self, limit: int, always: Iterable[str] = ()) -> None:
        self.limit = limit
        self._always = frozenset(always)
        self._kept: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._always or value in self._kept:
            return value
        with self._lock:
            if len(self._kept) < self.limit:
                self._kept.add(value)
                return value
        return OTHER


class CollectorMetrics:
    """The collector's counters, gauges and histograms, registered in their own `CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter(
            "mcpdiag_events_accepted", "Events accepted for storage", ["endpoint"], registry=r
        )
        self.rejected = Counter(
            "mcpdiag_events_rejected", "Events rejected as invalid", ["endpoint"], registry=r
        )
        self.requests_refused = Counter(
            "mcpdiag_ingest_requests_refused", "Ingest requests refused, by error code", ["code"], registry=r
        )
        self.occurrences = Counter(
            "mcpdiag_events",
            "Failures and lifecycle events accepted, by server, code and severity (occurrences: a coalesced "
            f"event counts as many as it stands for; past {MAX_SERVER_LABELS} servers, `other`)",
            ["server", "code", "severity"],
            registry=r,
        )
        self._server_label = LabelCap(MAX_SERVER_LABELS)
        self._code_label = LabelCap(MAX_EXTRA_CODE_LABELS, always=CATALOG)
        self.over_budget = Counter(
            "mcpdiag_events_over_budget",
            "Events past their server's or ingest key's budget, merged into summary events instead of "
            "stored one by one (budget: server or key)",
            ["server", "budget"],
            registry=r,
        )
        self.coalesced = Counter(
            "mcpdiag_events_coalesced",
            "Events merged into another event's summary by the ingest budget (each counted in the summary)",
            ["server"],
            registry=r,
        )
        self.summaries = Counter(
            "mcpdiag_budget_summaries",
            "Summary events the ingest budget wrote in place of over-budget events",
            ["server"],
            registry=r,
        )
        self.key_requests = Counter(
            "mcpdiag_ingest_key_requests",
            "Authenticated ingest requests by ingest key (key_id: the first 16 hex digits of its SHA-256)",
            ["key_id"],
            registry=r,
        )
        self.stored = Counter("mcpdiag_events_stored", "Events written to the store", registry=r)
        self.spooled = Counter("mcpdiag_events_spooled", "Events written to the spool", registry=r)
        self.replayed = Counter("mcpdiag_events_replayed", "Spooled events written to the store", registry=r)
        self.store_failures = Counter("mcpdiag_store_write_failures", "Failed store writes", registry=r)
        self.spool_corrupt = Counter(
            "mcpdiag_spool_corrupt_files", "Spool files quarantined as damaged", registry=r
        )
        self.redactions = Counter(
            "mcpdiag_ingest_redactions", "Secrets redacted at ingest, by rule", ["rule"], registry=r
        )
        self.batch_seconds = Histogram(
            "mcpdiag_batch_write_seconds",
            "Latency of one batch write to the store",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_events = Histogram(
            "mcpdiag_batch_events",
            "Events per batch write",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=r,
        )
        self.queue_depth = Gauge("mcpdiag_queue_depth", "Events waiting for the batch writer", registry=r)
        self.spool_bytes = Gauge("mcpdiag_spool_bytes", "Bytes of batches waiting in the spool", registry=r)
        self.spool_batches = Gauge("mcpdiag_spool_batches", "Batches waiting in the spool", registry=r)
        self.store_healthy = Gauge(
            "mcpdiag_store_healthy", "1 while store writes succeed, 0 while they spool", registry=r
        )
        self.overflow_events = Gauge(
            "mcpdiag_overflow_events", "Over-budget events being merged, not yet in the queue", registry=r
        )

    def count_events(self, events: Iterable[DiagnosticEvent]) -> None:
        """Add accepted events to `mcpdiag_events_total`, each as the occurrences it stands for."""
        for event in events:
            occurrences = getattr(event, "count", 1) or 1
            self.occurrences.labels(
                self._server_label(event.server), self._code_label(event.code), event.severity.value
            ).inc(occurrences)

    def count_over_budget(self, judged: Iterable[tuple[DiagnosticEvent, str]]) -> None:
        """Count events past a budget (`server` or `key`), by server."""
        tally: dict[tuple[str, str], int] = {}
        for event, budget in judged:
            label = (self._server_label(event.server), budget)
            tally[label] = tally.get(label, 0) + 1
        for (server, budget), n in tally.items():
            self.over_budget.labels(server, budget).inc(n)

    def count_summaries(self, summaries: Iterable[tuple[DiagnosticEvent, int]]) -> None:
        """Count summary events about to be written and the events each one merged."""
        for summary, merged in summaries:
            server = self._server_label(summary.server)
            self.summaries.labels(server).inc()
            if merged > 1:
                self.coalesced.labels(server).inc(merged - 1)

    def watch(
        self,
        *,
        queue_depth: Callable[[], float],
        spool_bytes: Callable[[], float],
        spool_batches: Callable[[], float],
        store_healthy: Callable[[], float] = lambda: 1.0,
        overflow_events: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """Read the gauges from live values at scrape time."""
        self.overflow_events.set_function(overflow_events)
        self.store_healthy.set_function(store_healthy)
        self.queue_depth.set_function(queue_depth)
        self.spool_bytes.set_function(spool_bytes)
        self.spool_batches.set_function(spool_batches)

    def render(self) -> bytes:
        """The text exposition format of every metric in the registry."""
        return generate_latest(self.registry)
