"""The API app: query routes with RBAC, the collector's ingest routes, `/metrics`, health and `/docs`.

Run it with `uvicorn --factory mcpdiag.api.app:create_app`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from mcpdiag.api.acl import AccessPolicy
from mcpdiag.api.auth import DevSigner, TokenVerifier
from mcpdiag.api.errors import install_api_error_handlers
from mcpdiag.api.live import LiveFeeds, StreamSlots, StreamsStopping
from mcpdiag.api.opened import MOUNT, OpenedBundles, OpenedDispatch
from mcpdiag.api.routes import (
    admin,
    bundle,
    debug,
    dev,
    diagnostics,
    doctor,
    guides,
    health,
    overview,
    problems,
    session,
    status,
    stream,
)
from mcpdiag.api.routes import opened as opened_routes
from mcpdiag.api.routes import transfer as transfer_routes
from mcpdiag.api.routes.ui import mount_ui
from mcpdiag.api.settings import ApiSettings, get_api_settings
from mcpdiag.api.telemetry import Telemetry, TracingMiddleware
from mcpdiag.bundle.settings import BundleSettings, get_bundle_settings
from mcpdiag.collector.auth import check_metrics_token
from mcpdiag.collector.bodybound import BodyBound
from mcpdiag.collector.heap import startup_heap_frozen
from mcpdiag.collector.ingest import INGEST_BODIES
from mcpdiag.collector.ingest import router as ingest_router
from mcpdiag.collector.logging import RequestIdMiddleware, configure_logging
from mcpdiag.collector.metrics import METRICS_CONTENT_TYPE, CollectorMetrics
from mcpdiag.collector.runtime import CollectorRuntime
from mcpdiag.collector.settings import CollectorSettings, get_collector_settings
from mcpdiag.store.backends import open_store
from mcpdiag.store.base import Clock, EventStore, utc_now

log = structlog.get_logger("mcpdiag.api")

DESCRIPTION = """Why did an MCP server fail? Scoped diagnostics for end users, Debug ID lookups for support.

Every `/api` endpoint takes `Authorization: Bearer <JWT>`. A user sees the servers they can access (token
claim or ACL), and on them their own events plus server-wide ones, never `detail`; support and admins see
everything. A server the caller cannot access answers 404, like one that does not exist. Errors are
`{"error": {"code", "message"}}`.
"""


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    # Bad input answers 400 `invalid_parameter` (see errors.py), so FastAPI's default 422 is not the contract.
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(
    settings: ApiSettings | None = None,
    collector_settings: CollectorSettings | None = None,
    store: EventStore | None = None,
    *,
    clock: Clock = utc_now,
    bundle_settings: BundleSettings | None = None,
) -> FastAPI:
    """The API app. Its lifespan opens the store named by `collector_settings.store_url` (unless `store`
    is given, which then stays the caller's), creates the schema, and runs the collector runtime.

    `clock` is the one "now" of the service (retention, purge, ingest's future check, default windows);
    a given `store` brings its own."""
    api_settings = settings or get_api_settings()
    ingest_settings = collector_settings or get_collector_settings()
    configure_logging(
        known_secrets=[*ingest_settings.redacted_secrets, *(s.decode() for s in api_settings.hs256_secrets)]
    )
    bundles = bundle_settings or get_bundle_settings()
    opened = OpenedBundles(bundles)
    policy = AccessPolicy.from_file(api_settings.acl_file)
    # Demo tokens are signed with a key only this process has (never MCPDIAG_JWT_SECRET).
    dev_signer = DevSigner() if api_settings.dev_mode else None
    verifier = TokenVerifier(api_settings, dev_signer=dev_signer)
    metrics = CollectorMetrics()
    telemetry = Telemetry(api_settings.otlp_endpoint) if api_settings.otlp_endpoint else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = store or open_store(
            ingest_settings.store_url,
            retention=ingest_settings.retention,
            cursor_key=ingest_settings.cursor_key,
            clock=clock,
        )
        try:
            if telemetry is not None:
                telemetry.start()
            await active.ensure_schema()
            runtime = CollectorRuntime(ingest_settings, active, metrics=metrics)
            app.state.store = active
            app.state.collector = runtime
            app.state.stream_slots = StreamSlots(api_settings.streams_per_user, api_settings.max_streams)
            app.state.live_feeds = LiveFeeds(active, runtime.pipeline.changes)
            app.state.streams_stopping = StreamsStopping()
            if not verifier.configured:
                log.warning("no MCPDIAG_JWT_SECRET or MCPDIAG_JWKS_URL: every /api request will get 401")
            async with runtime.running():
                try:
                    with startup_heap_frozen():
                        yield
                finally:
                    app.state.streams_stopping.set()
        finally:
            await transfer_routes.stop_jobs(app)  # a running import stops before its store closes
            await opened.close_all()
            if store is None:
                await active.close()
            if telemetry is not None:
                # Exports what is still buffered: a blocking HTTP call, kept off the event loop.
                await asyncio.to_thread(telemetry.shutdown)

    app = FastAPI(title="mcpdiag", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.api_settings = api_settings
    app.state.collector_settings = ingest_settings
    app.state.bundle_settings = bundles
    app.state.opened_bundles = opened
    app.state.policy = policy
    app.state.verifier = verifier
    app.state.dev_signer = dev_signer
    for router in (
        diagnostics.router,
        stream.router,
        problems.router,
        overview.router,
        status.router,
        debug.router,
        admin.router,
        health.router,
        session.router,
        bundle.router,
        doctor.router,
        guides.router,
        transfer_routes.router,
        opened_routes.router,
        ingest_router,
    ):
        app.include_router(router)
    app.mount(MOUNT, OpenedDispatch(opened))
    if api_settings.dev_mode:
        app.include_router(dev.router)
    mount_ui(app)
    install_api_error_handlers(app)
    if telemetry is not None:
        app.add_middleware(TracingMiddleware, telemetry=telemetry)  # inside RequestIdMiddleware
    bodies = {
        **INGEST_BODIES,
        transfer_routes.IMPORT_PATH: api_settings.import_max_bytes,
        opened_routes.UPLOAD_PATH: bundles.bundle_open_max_bytes,
    }
    app.add_middleware(BodyBound, larger=bodies)
    app.add_middleware(RequestIdMiddleware)

    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        runtime: CollectorRuntime = request.app.state.collector
        check_metrics_token(request.headers, runtime.settings.metrics_bearer)
        return Response(runtime.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return app
