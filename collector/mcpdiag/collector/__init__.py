"""mcpdiag.collector: ingest, the batch writer and spool, and the `EventStore` with its backends."""

from __future__ import annotations

from mcpdiag.collector.backends import open_store
from mcpdiag.collector.errors import (
    CollectorError,
    InvalidCursorError,
    InvalidQueryError,
    StoreUnavailableError,
    UnsupportedStoreURLError,
)
from mcpdiag.collector.mongo_store import MongoEventStore
from mcpdiag.collector.settings import CollectorSettings, get_collector_settings
from mcpdiag.collector.sqlite_store import SQLiteEventStore
from mcpdiag.collector.store import CodeStats, EventQuery, EventStore, Page, Retention, Summary

__all__ = [
    "CodeStats",
    "CollectorError",
    "CollectorSettings",
    "EventQuery",
    "EventStore",
    "InvalidCursorError",
    "InvalidQueryError",
    "MongoEventStore",
    "Page",
    "Retention",
    "SQLiteEventStore",
    "StoreUnavailableError",
    "Summary",
    "UnsupportedStoreURLError",
    "get_collector_settings",
    "open_store",
]
