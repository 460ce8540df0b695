"""`CollectorRuntime`: the store, spool, pipeline, metrics and purge task behind the ingest router.

The standalone collector app owns one in its lifespan; the API app composes the same object:

    runtime = CollectorRuntime(get_collector_settings(), store)   # the API's own store instance
    app.state.collector = runtime                                  # where `get_runtime` finds it
    app.include_router(ingest_router)                              # POST /v1/events, POST /v1/logs
    install_error_handlers(app)
    ...and in the API's lifespan:  `async with runtime.running(): yield`
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import Request

from mcpdiag.collector.budget import ServerBudget
from mcpdiag.collector.lane import CheckLane
from mcpdiag.collector.metrics import CollectorMetrics
from mcpdiag.collector.pipeline import IngestPipeline
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.collector.spool import Spool
from mcpdiag.collector.storm import IngestBudget
from mcpdiag.collector.validation import EventValidator
from mcpdiag.store.backends import open_store
from mcpdiag.store.base import Clock, EventStore, utc_now
from mcpdiag.store.mongo import MongoEventStore

log = structlog.get_logger("mcpdiag.collector")


class CollectorRuntime:
    """Everything ingest needs, started and stopped together.

    A store passed in stays the caller's (not closed on stop); without one, the store named by
    `settings.store_url` is opened (on `clock`) and closed here. Validation reads the store's clock.
    """

    def __init__(
        self,
        settings: CollectorSettings,
        store: EventStore | None = None,
        *,
        metrics: CollectorMetrics | None = None,
        replay_backoff: tuple[float, float] = (0.05, 2.0),
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.owns_store = store is None
        self.store = store or open_store(
            settings.store_url, retention=settings.retention, clock=clock, cursor_key=settings.cursor_key
        )
        self.metrics = metrics or CollectorMetrics()
        self.validator = EventValidator(
            settings.redacted_secrets, clock=self.store.clock, retention=self.store.retention
        )
        self.checks = CheckLane()
        """Where the requests' checks run: one thread, the requests taking turns (`lane`)."""
        self.spool = Spool(settings.spool_dir, max_bytes=settings.spool_max_bytes)
        self.pipeline = IngestPipeline(
            self.store,
            self.spool,
            metrics=self.metrics,
            batch_size=settings.batch_size,
            batch_interval=settings.batch_interval_ms / 1000,
            queue_max_events=settings.queue_max_events,
            replay_backoff=replay_backoff,
            budget=IngestBudget(
                server_rate=settings.server_budget_per_s,
                server_burst=settings.server_budget_burst,
                key_rate=settings.key_budget_per_s,
                key_burst=settings.key_budget_burst,
            ),
            merge_interval=settings.budget_merge_s,
        )
        self.budget = ServerBudget(per_key=settings.max_servers_per_key, total=settings.max_servers)
        self._purge: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the schema, replay the spool, start the writer, replayer and (SQLite) purge task."""
        await self.store.ensure_schema()
        await self.budget.load(self.store)
        await self.pipeline.start()
        # MongoDB expires events itself through its TTL index; every other backend is purged on a timer.
        if not isinstance(self.store, MongoEventStore):
            self._purge = asyncio.create_task(self._purge_loop(), name="mcpdiag-retention-purge")
        log.info("collector started", spool_batches=len(self.spool), store=type(self.store).__name__)

    async def stop(self) -> None:
        """Drain the queue into the store (or spool), stop background tasks, close an owned store."""
        if self._purge is not None:
            self._purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge
            self._purge = None
        await self.pipeline.stop()
        self.checks.close()
        if self.owns_store:
            await self.store.close()
        log.info("collector stopped", spool_batches=len(self.spool))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CollectorRuntime]:
        """Started for the duration of the block (the shape a FastAPI lifespan composes)."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def _purge_loop(self) -> None:
        while True:
            try:
                deleted = await self.store.purge_expired()
            except Exception as exc:
                log.warning("retention purge failed", error=str(exc))
            else:
                if deleted:
                    log.info("retention purge", deleted=deleted)
            await asyncio.sleep(self.settings.purge_interval_s)


def get_runtime(request: Request) -> CollectorRuntime:
    """The app's collector runtime (`app.state.collector`)."""
    runtime: CollectorRuntime = request.app.state.collector
    return runtime
