"""Errors raised by the collector and the event store."""

from __future__ import annotations


class CollectorError(Exception):
    """Base class of every collector error; `code` is the machine-readable error code."""

    code = "collector_error"


class InvalidCursorError(CollectorError, ValueError):
    """A pagination cursor that is malformed, tampered with, or belongs to another query."""

    code = "invalid_cursor"


class InvalidQueryError(CollectorError, ValueError):
    """A store query with an out-of-range or inconsistent parameter; `field` names it."""

    code = "invalid_query"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StoreUnavailableError(CollectorError):
    """The store could not be reached or refused the operation."""

    code = "store_unavailable"


class UnsupportedStoreURLError(CollectorError, ValueError):
    """`MCPDIAG_STORE_URL` names a scheme no backend handles."""

    code = "unsupported_store_url"
