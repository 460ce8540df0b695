"""The standalone collector app: the ingest router, `/metrics` and `/healthz`; its runtime in the lifespan.

Run it alone with `uvicorn --factory mcpdiag.collector.app:create_collector_app`; the API app mounts the
same router in its own process (see `mcpdiag.collector.runtime`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from mcpdiag.collector.auth import check_metrics_token
from mcpdiag.collector.bodybound import BodyBound
from mcpdiag.collector.handlers import install_error_handlers
from mcpdiag.collector.heap import startup_heap_frozen
from mcpdiag.collector.ingest import INGEST_BODIES
from mcpdiag.collector.ingest import router as ingest_router
from mcpdiag.collector.logging import RequestIdMiddleware, configure_logging
from mcpdiag.collector.metrics import METRICS_CONTENT_TYPE
from mcpdiag.collector.runtime import CollectorRuntime
from mcpdiag.collector.settings import CollectorSettings, get_collector_settings
from mcpdiag.store.base import Clock, EventStore, utc_now


def create_collector_app(
    settings: CollectorSettings | None = None,
    store: EventStore | None = None,
    *,
    replay_backoff: tuple[float, float] = (0.05, 2.0),
    clock: Clock = utc_now,
) -> FastAPI:
    """The collector as its own FastAPI app; its lifespan starts and stops the `CollectorRuntime`."""
    settings = settings or get_collector_settings()
    configure_logging(known_secrets=settings.redacted_secrets)
    runtime = CollectorRuntime(settings, store, replay_backoff=replay_backoff, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            with startup_heap_frozen():
                yield

    app = FastAPI(title="mcpdiag collector", version="0.1.0", lifespan=lifespan)
    app.state.collector = runtime
    app.include_router(ingest_router)
    install_error_handlers(app)
    app.add_middleware(BodyBound, larger=INGEST_BODIES)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        check_metrics_token(request.headers, runtime.settings.metrics_bearer)
        return Response(runtime.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Liveness, with the pipeline's state."""
        return {
            "status": "ok",
            "queueDepth": runtime.pipeline.queue_depth,
            "storeHealthy": runtime.pipeline.store_healthy,
            "spoolBatches": len(runtime.spool),
            "spoolBytes": runtime.spool.size_bytes,
        }

    return app
