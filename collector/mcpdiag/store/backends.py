"""Choosing an `EventStore` backend from one URL setting."""

from __future__ import annotations

import re

from mcpdiag.store.base import Clock, EventStore, Retention, utc_now
from mcpdiag.store.errors import UnsupportedStoreURLError
from mcpdiag.store.mongo import MongoEventStore
from mcpdiag.store.sqlite import SQLiteEventStore
from mcpdiag.store.sqlite_sql import sqlite_path


def open_store(
    url: str, *, retention: Retention | None = None, clock: Clock = utc_now, cursor_key: bytes | None = None
) -> EventStore:
    """The store `url` names: `sqlite:///file.db`, `mongodb://…` or `mongodb+srv://…`.

    Without a `cursor_key` its cursors are signed with the random key the store keeps for the deployment.
    """
    if check_store_url(url).startswith("sqlite:"):
        return SQLiteEventStore(sqlite_path(url), retention=retention, clock=clock, cursor_key=cursor_key)
    return MongoEventStore.from_url(url, retention=retention, clock=clock, cursor_key=cursor_key)


def check_store_url(url: str) -> str:
    """`url` if a backend takes it (`sqlite:///file.db`, `mongodb://…`, `mongodb+srv://…`), else
    `UnsupportedStoreURLError` saying what one looks like: the settings check it before anything starts."""
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            raise UnsupportedStoreURLError("a SQLite store URL looks like sqlite:///path/to/file.db")
        return url
    if url.startswith(("mongodb://", "mongodb+srv://")):
        return url
    scheme, colon, _ = url.partition(":")
    # Only a scheme is named, never the rest: a URL written wrong (`mongodb//user:password@host`) holds a
    # password where a scheme should be.
    named = f"scheme {scheme!r}" if colon and _SCHEME.fullmatch(scheme) else "without a scheme"
    raise UnsupportedStoreURLError(
        f"unsupported store URL {named}: use sqlite:///path/to/file.db or mongodb://host/db"
    )


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
