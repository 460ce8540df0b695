"""The MCP SDK's (and its HTTP client's) own log records during a doctor run: kept for the run's report,
never passed on to the process's logs (the terminal of `mcpdiag doctor`, the service's log lines).

The SDK logs a traceback for each answer it cannot parse: a person testing a server saw four of them above
the doctor's verdict, and the service would write a server's answer into its logs unredacted. A filter on
each of those loggers takes the records emitted inside a run (a context variable, so the SDK's tasks of
that run inherit it and other threads or runs are not affected) and lets every other record through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOGGER_PREFIXES = ("mcp", "mcp_types", "httpx2", "httpcore2")
MAX_LINES = 20
_LINE_CHARS = 300
_lines: ContextVar[list[str] | None] = ContextVar("mcpdiag_doctor_sdk_log", default=None)


def _keep(record: logging.LogRecord) -> bool:
    """The filter: False (drop, after noting warnings and errors) inside a run, True elsewhere."""
    lines = _lines.get()
    if lines is None:
        return True
    if record.levelno >= logging.WARNING and len(lines) < MAX_LINES:
        try:
            text = " ".join(record.getMessage().split())[:_LINE_CHARS]
        except Exception:  # a record whose arguments do not format: its template still says something
            text = str(record.msg)[:_LINE_CHARS]
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__})"
        lines.append(f"{record.levelname.lower()} {record.name}: {text}")
    return False


def _install() -> None:
    # Filters are not inherited by child loggers: each existing one gets it (the SDK's loggers exist from
    # import time on; this runs at every run, so later ones are covered from the next run on).
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in LOGGER_PREFIXES]
    for name in {*LOGGER_PREFIXES, *names}:
        logger = logging.getLogger(name)
        if _keep not in logger.filters:
            logger.addFilter(_keep)


@contextmanager
def sdk_log_captured() -> Iterator[list[str]]:
    """Inside the block, the SDK's records are kept in the yielded list (warnings and errors, at most
    `MAX_LINES`) instead of being logged."""
    _install()
    lines: list[str] = []
    token = _lines.set(lines)
    try:
        yield lines
    finally:
        _lines.reset(token)
