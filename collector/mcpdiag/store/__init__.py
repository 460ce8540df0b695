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
from mcpdiag.store.documents import Conflict, ImportCounts, StoredDocument, stored_document
from mcpdiag.store.errors import (
    InvalidCursorError,
    InvalidExportError,
    InvalidQueryError,
    RejectedLinesError,
    StoreError,
    StoreUnavailableError,
    TransferError,
    UnsupportedStoreURLError,
)
from mcpdiag.store.mongo import MongoEventStore
from mcpdiag.store.sqlite import SQLiteEventStore
from mcpdiag.store.sqlite_sql import sqlite_path

__all__ = [
    "MAX_PAGE",
    "Clock",
    "CodeStats",
    "Conflict",
    "EventQuery",
    "EventStore",
    "ImportCounts",
    "InvalidCursorError",
    "InvalidExportError",
    "InvalidQueryError",
    "MongoEventStore",
    "Page",
    "RejectedLinesError",
    "Retention",
    "SQLiteEventStore",
    "StoreError",
    "StoreUnavailableError",
    "StoredDocument",
    "Summary",
    "TransferError",
    "UnsupportedStoreURLError",
    "open_store",
    "sqlite_path",
    "stored_document",
    "trace_key",
    "utc_now",
]
