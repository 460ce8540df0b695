"""mcpdiag.store: the `EventStore` interface, its SQLite and MongoDB backends, cursors and store errors.

No web framework: the collector, the API, the bundle exporter and the CLI all build on it.
"""

from __future__ import annotations

from mcpdiag.store.backends import open_store
from mcpdiag.store.base import (
    MAX_PAGE,
    Clock,
    CodeStats,
    EventQuery,
    EventStore,
    Page,
    Retention,
    Summary,
    trace_key,
    utc_now,
)
from mcpdiag.store.errors import (
    InvalidCursorError,
    InvalidQueryError,
    StoreError,
    StoreUnavailableError,
    UnsupportedStoreURLError,
)
from mcpdiag.store.mongo import MongoEventStore
from mcpdiag.store.sqlite import SQLiteEventStore
from mcpdiag.store.sqlite_sql import sqlite_path

__all__ = [
    "MAX_PAGE",
    "Clock",
    "CodeStats",
    "EventQuery",
    "EventStore",
    "InvalidCursorError",
    "InvalidQueryError",
    "MongoEventStore",
    "Page",
    "Retention",
    "SQLiteEventStore",
    "StoreError",
    "StoreUnavailableError",
    "Summary",
    "UnsupportedStoreURLError",
    "open_store",
    "sqlite_path",
    "trace_key",
    "utc_now",
]
