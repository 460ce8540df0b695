"""What `open_session` and fastmcp's `diagnosed` share: the secrets a session is handed, and its boundary.

At the boundary every failure of the session leaves as one emitted `MCPDiagnosticError`; the host's own
exceptions (raised in its block) and its cancellations leave as they are; the stderr file is closed and a
session that connected reports `MCP_DISCONNECTED`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from urllib.parse import parse_qsl, unquote, urlsplit

from mcpdiag.emitters.classifier import exception_chain
from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.mcp.run import SessionRun


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [unquote(v) for v in (parts.password,) if v]
    found += [value for _, value in parse_qsl(parts.query) if len(value) >= 8]
    return found


def register_secrets(
    emitter: Emitter,
    headers: Mapping[str, str] | None,
    env: Mapping[str, str] | None = None,
    url: str | None = None,
) -> None:
    """Tell the emitter's redactor every value a session is handed that must never appear in an event."""
    for value in (headers or {}).values():
        emitter.register_secret(value)
        emitter.register_secret(value.partition(" ")[2])
    for value in (env or {}).values():
        emitter.register_secret(value)
    for value in _url_secrets(url) if url is not None else ():
        emitter.register_secret(value)


def owned_error(exc: BaseException) -> MCPDiagnosticError | None:
    """The `MCPDiagnosticError` this session already raised and emitted, if `exc` is (or groups) one."""
    if isinstance(exc, MCPDiagnosticError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            if (found := owned_error(sub)) is not None:
                return found
    return None


def cancelled_from_outside() -> bool:
    """Whether the current task is being cancelled by someone else (e.g. the host's own deadline)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Boundary:
    """One session's boundary, as `session_boundary` yields it; `host_block` goes around the host's block."""

    def __init__(self) -> None:
        self.host_error: BaseException | None = None

    @contextmanager
    def host_block(self) -> Iterator[None]:
        """Around the session's `yield` to the host: an exception of the host's own is noted, and leaves."""
        try:
            yield
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError | MCPDiagnosticError | GeneratorExit):
                self.host_error = exc
            raise


@asynccontextmanager
async def session_boundary(run: SessionRun) -> AsyncIterator[Boundary]:
    """Around a whole session (connecting, the host's block, closing): see the module's docstring."""
    boundary = Boundary()
    try:
        yield boundary
    except BaseException as exc:
        if boundary.host_error is not None:
            raise boundary.host_error from None
        if (owned := owned_error(exc)) is not None:
            raise owned from owned.__cause__
        if isinstance(exc, GeneratorExit | KeyboardInterrupt | SystemExit) or (
            cancelled_from_outside() and (isinstance(exc, asyncio.CancelledError) or not exception_chain(exc))
        ):
            raise  # the host cancelled us (e.g. its own timeout): not an MCP failure
        raise await run.fail_at_boundary(exc) from exc
    finally:
        if run.errlog is not None:
            run.errlog.close()
        if run.established:
            run.disconnected()
