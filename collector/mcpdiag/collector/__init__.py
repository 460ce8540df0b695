"""mcpdiag.collector: ingest over HTTP and OTLP, the validate → redact pipeline, batch writer and spool."""

from __future__ import annotations

from mcpdiag.collector.app import create_collector_app
from mcpdiag.collector.body import MAX_BODY_BYTES, MAX_EVENTS
from mcpdiag.collector.errors import (
    CollectorError,
    IngestError,
    InvalidBodyError,
    OverloadedError,
    PayloadTooLargeError,
    RequestTimeoutError,
    SpoolCorruptError,
    SpoolFullError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from mcpdiag.collector.handlers import install_error_handlers
from mcpdiag.collector.ingest import IngestResponse
from mcpdiag.collector.ingest import router as ingest_router
from mcpdiag.collector.logging import RequestIdMiddleware, configure_logging
from mcpdiag.collector.metrics import CollectorMetrics
from mcpdiag.collector.pipeline import IngestPipeline
from mcpdiag.collector.runtime import CollectorRuntime, get_runtime
from mcpdiag.collector.settings import CollectorSettings, get_collector_settings
from mcpdiag.collector.spool import Spool, SpoolEntry
from mcpdiag.collector.validation import EventValidator, Intake, Rejection

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "CollectorError",
    "CollectorMetrics",
    "CollectorRuntime",
    "CollectorSettings",
    "EventValidator",
    "IngestError",
    "IngestPipeline",
    "IngestResponse",
    "Intake",
    "InvalidBodyError",
    "OverloadedError",
    "PayloadTooLargeError",
    "Rejection",
    "RequestIdMiddleware",
    "RequestTimeoutError",
    "Spool",
    "SpoolCorruptError",
    "SpoolEntry",
    "SpoolFullError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "configure_logging",
    "create_collector_app",
    "get_collector_settings",
    "get_runtime",
    "ingest_router",
    "install_error_handlers",
]
