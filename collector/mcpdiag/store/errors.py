"""Errors raised by the event store and its queries."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store error; `code` is the machine-readable error code."""

    code = "store_error"


class InvalidCursorError(StoreError, ValueError):
    """A pagination cursor that is malformed, tampered with, or belongs to another query."""

    code = "invalid_cursor"


class InvalidQueryError(StoreError, ValueError):
    """A store query with an out-of-range or inconsistent parameter; `field` names it."""

    code = "invalid_query"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class StoreUnavailableError(StoreError):
    """The store could not be reached or refused the operation."""

    code = "store_unavailable"


class UnsupportedStoreURLError(StoreError, ValueError):
    """`MCPDIAG_STORE_URL` names a scheme no backend handles."""

    code = "unsupported_store_url"
