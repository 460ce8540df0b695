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


class TransferError(StoreError):
    """An export or import that cannot go on: a file that is not a usable export, or a bad line in one."""

    code = "transfer_error"


class InvalidExportError(TransferError, ValueError):
    """An export file (or stream) that is not one: not gzip, no header, a newer format, no end line.

    `line` is the 1-based line at fault, or 0 when the problem is the file as a whole.
    """

    code = "invalid_export"

    def __init__(self, message: str, *, line: int = 0) -> None:
        super().__init__(f"line {line:,}: {message}" if line else message)
        self.line = line
        self.reason = message


class RejectedLinesError(TransferError, ValueError):
    """An import refused because lines of the file are invalid; nothing of it was stored.

    `problems` holds the first ones as `(line, field, message)`, `count` how many lines were bad in all.
    """

    code = "invalid_lines"

    def __init__(self, problems: list[tuple[int, str, str]], count: int) -> None:
        first = problems[0] if problems else (0, "event", "invalid")
        more = f" (and {count - 1:,} more bad line{'s' if count > 2 else ''})" if count > 1 else ""
        super().__init__(f"line {first[0]:,}: {first[1]}: {first[2]}{more}; nothing was imported")
        self.problems = problems
        self.count = count
