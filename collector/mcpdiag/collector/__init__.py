"""mcpdiag.collector: ingest, the batch writer and spool, and the `EventStore` with its backends."""

from __future__ import annotations

from mcpdiag.collector.app import create_collector_app
from mcpdiag.collector.backends import open_store
from mcpdiag.collector.body import MAX_BODY_BYTES, MAX_EVENTS
from mcpdiag.collector.errors import (
    CollectorError,
    IngestError,
    InvalidBodyError,
    InvalidCursorError,
    InvalidQueryError,
    OverloadedError,
    PayloadTooLargeError,
    RequestTimeoutError,
    SpoolCorruptError,
    SpoolFullError,
    StoreUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    UnsupportedStoreURLError,
)
from mcpdiag.collector.handlers import install_error_handlers
from mcpdiag.collector.ingest import IngestResponse
from mcpdiag.collector.ingest import router as ingest_router
from mcpdiag.collector.logging import RequestIdMiddleware, configure_logging
from mcpdiag.collector.metrics import CollectorMetrics
from mcpdiag.collector.mongo_store import MongoEventStore
from mcpdiag.collector.pipeline import IngestPipeline
from mcpdiag.collector.runtime import CollectorRuntime, get_runtime
from mcpdiag.collector.settings import CollectorSettings, get_collector_settings
from mcpdiag.collector.spool import Spool, SpoolEntry
from mcpdiag.collector.sqlite_store import SQLiteEventStore
from mcpdiag.collector.store import CodeStats, EventQuery, EventStore, Page, Retention, Summary
from mcpdiag.collector.validation import EventValidator, Intake, Rejection

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "CodeStats",
    "CollectorError",
    "CollectorMetrics",
    "CollectorRuntime",
    "CollectorSettings",
    "EventQuery",
    "EventStore",
    "EventValidator",
    "IngestError",
    "IngestPipeline",
    "IngestResponse",
    "Intake",
    "InvalidBodyError",
    "InvalidCursorError",
    "InvalidQueryError",
    "MongoEventStore",
    "OverloadedError",
    "Page",
    "PayloadTooLargeError",
    "Rejection",
    "RequestIdMiddleware",
    "RequestTimeoutError",
    "Retention",
    "SQLiteEventStore",
    "Spool",
    "SpoolCorruptError",
    "SpoolEntry",
    "SpoolFullError",
    "StoreUnavailableError",
    "Summary",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "UnsupportedStoreURLError",
    "configure_logging",
    "create_collector_app",
    "get_collector_settings",
    "get_runtime",
    "ingest_router",
    "install_error_handlers",
    "open_store",
]
