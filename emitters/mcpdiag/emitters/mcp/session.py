"""`open_session`: an MCP client session whose every failure leaves as an emitted `MCPDiagnosticError`."""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx2
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, ListToolsResult, TextContent

from mcpdiag.emitters.classify import Classification, classification_for, exception_chain
from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.mcp.hooks import ObservingTransport, stderr_file, stderr_tail, tcp_reachable

TransportName = Literal["streamable-http", "sse", "stdio"]
_MAX_TOOL_DETAIL = 500


@dataclass
class _Run:
    """What one session knows about itself: where it is, what the hooks saw, how to report."""

    server: str
    emitter: Emitter
    transport: TransportName
    url: str | None
    context: dict[str, Any]
    hook: ObservingTransport | None = None
    errlog: TextIO | None = None
    established: bool = False
    tool: str | None = None
    invalid_messages: list[Exception] = field(default_factory=list)

    def event_fields(self) -> dict[str, Any]:
        return {"transport": self.transport, **self.context}

    def emit(self, code: str, touchpoint: str, **fields: Any) -> dict[str, Any]:
        return self.emitter.emit_event(
            code, server=self.server, touchpoint=touchpoint, **self.event_fields(), **fields
        )

    def refuse(self, code: str, touchpoint: str, detail: str) -> MCPDiagnosticError:
        """Emit `code` chosen without an exception and return the error to raise."""
        event = self.emit(code, touchpoint, detail=detail)
        found = classification_for(code, server=self.server, detail=detail)
        return MCPDiagnosticError.from_classification(found, debug_id=str(event["traceId"]), event=event)

    def fail(self, exc: BaseException, touchpoint: str, tool: str | None = None) -> MCPDiagnosticError:
        """Classify and emit `exc`; return the error to raise from it."""
        event, found = self.emitter.capture_event(
            exc,
            server=self.server,
            touchpoint=touchpoint,
            http=self.hook.last if self.hook is not None else None,
            session_established=self.established,
            proxy_in_use=self.hook.proxy_in_use if self.hook is not None else False,
            stderr_tail=stderr_tail(self.errlog),
            tool=tool,
            **self.event_fields(),
        )
        assert isinstance(found, Classification)
        return MCPDiagnosticError.from_classification(found, debug_id=str(event["traceId"]), event=event)

    async def fail_at_boundary(self, exc: BaseException) -> MCPDiagnosticError:
        """The error for a failure that left the transport: pick the touchpoint, probe a cut stream."""
        tool = self.tool
        touchpoint = "tool_call" if tool else "transport" if self.established else "connect"
        real: BaseException = exc
        if not exception_chain(exc) and self.hook is not None and self.hook.last_exception is not None:
            real = self.hook.last_exception  # only cancellations reached us: the raw HTTP error says more
        if self.invalid_messages and not self.established:
            real, touchpoint = self.invalid_messages[-1], "inspection"
        return await self.diagnose(real, touchpoint, tool)

    async def diagnose(self, exc: BaseException, touchpoint: str, tool: str | None) -> MCPDiagnosticError:
        """Like `fail`, after a reachability probe tells a dead server from a cut stream."""
        if self._stream_cut(exc) and self.url is not None and await self._gone(self.url):
            # Nothing listens any more: the server died, no proxy cut the stream.
            refused = ConnectionRefusedError(111, "server no longer accepts connections")
            refused.__cause__ = exc
            exc = refused
        return self.fail(exc, touchpoint, tool)

    async def _gone(self, url: str) -> bool:
        """True if nothing listens at the server's address any more (probed a few times: a dying process
        closes its open connections a moment before its listening socket)."""
        for attempt in range(4):
            if await tcp_reachable(url) is False:
                return True
            if attempt < 3:
                await asyncio.sleep(0.1)
        return False

    def _stream_cut(self, exc: BaseException) -> bool:
        if not self.established or self.transport == "stdio" or (self.hook and self.hook.last):
            return False
        for e in exception_chain(exc):
            if isinstance(e, MCPError) and e.error.code == -32000:
                return True
            if type(e).__name__ in ("RemoteProtocolError", "ReadError", "ConnectError"):
                return True
        return False


class DiagnosedSession:
    """An initialized MCP client session whose failures are classified and emitted."""

    def __init__(self, run: _Run, session: ClientSession, read_timeout: float) -> None:
        self._run = run
        self._read_timeout = read_timeout
        self.session = session
        self.last_debug_id: str | None = None

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> CallToolResult:
        """Call a tool; an `is_error` result is returned as is and reported as MCP_TOOL_ERROR."""
        self._run.tool = name
        try:
            result = await self.session.call_tool(
                name, arguments, read_timeout_seconds=timeout or self._read_timeout
            )
        except MCPError as exc:
            self._run.tool = None
            err = await self._run.diagnose(exc, "tool_call", name)
            self.last_debug_id = err.debug_id
            raise err from exc
        self._run.tool = None
        if result.is_error:
            text = " ".join(c.text for c in result.content if isinstance(c, TextContent))
            event = self._run.emit(
                "MCP_TOOL_ERROR", "tool_call", tool=name, detail=text[:_MAX_TOOL_DETAIL] or None
            )
            self.last_debug_id = str(event["traceId"])
        return result

    async def list_tools(self) -> ListToolsResult:
        """List the server's tools; an invalid answer is reported as an inspection failure."""
        try:
            return await self.session.list_tools()
        except (MCPError, ValueError) as exc:
            err = self._run.fail(exc, "inspection")
            self.last_debug_id = err.debug_id
            raise err from exc


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` is one of `allowed`: exact names, or `*.example.com` for any subdomain."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if host == pattern or (pattern.startswith("*.") and fnmatch.fnmatchcase(host, pattern)):
            return True
    return False


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [unquote(v) for v in (parts.password,) if v]
    found += [value for _, value in parse_qsl(parts.query) if len(value) >= 8]
    return found


def _owned_error(exc: BaseException) -> MCPDiagnosticError | None:
    if isinstance(exc, MCPDiagnosticError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            if (found := _owned_error(sub)) is not None:
                return found
    return None


def _cancelled_from_outside() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@asynccontextmanager
async def open_session(
    server: str,
    *,
    emitter: Emitter,
    url: str | None = None,
    stdio: StdioServerParameters | None = None,
    transport: TransportName = "streamable-http",
    user_id: str | None = None,
    conversation_id: str | None = None,
    run_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    oauth: httpx2.Auth | None = None,
    allowed_domains: Iterable[str] | None = None,
    timeout: float = 30.0,
    read_timeout: float = 60.0,
) -> AsyncIterator[DiagnosedSession]:
    """Open, initialize and yield an MCP session; every failure leaves as an emitted MCPDiagnosticError."""
    context = {"user_id": user_id, "conversation_id": conversation_id, "run_id": run_id}
    run = _Run(server, emitter, transport, url if transport != "stdio" else None, context)
    for value in (headers or {}).values():
        emitter.register_secret(value)
        emitter.register_secret(value.partition(" ")[2])
    if stdio is not None:
        for value in (stdio.env or {}).values():
            emitter.register_secret(value)
    if url is not None:
        for value in _url_secrets(url):
            emitter.register_secret(value)
    _check_target(run, url, stdio, allowed_domains)

    host_error: BaseException | None = None
    try:
        async with AsyncExitStack() as stack:
            read, write = await _enter_transport(run, stack, stdio, headers, oauth, timeout, read_timeout)

            async def on_message(message: Any) -> None:
                if isinstance(message, Exception):
                    run.invalid_messages.append(message)

            session = await stack.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=read_timeout, message_handler=on_message)
            )
            await session.initialize()
            run.established = True
            run.emit("MCP_CONNECTED", "lifecycle")
            try:
                yield DiagnosedSession(run, session, read_timeout)
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError | MCPDiagnosticError | GeneratorExit):
                    host_error = exc
                raise
    except BaseException as exc:
        if host_error is not None:
            raise host_error from None
        if (owned := _owned_error(exc)) is not None:
            raise owned from owned.__cause__
        if isinstance(exc, GeneratorExit | KeyboardInterrupt | SystemExit) or (
            not exception_chain(exc) and _cancelled_from_outside()
        ):
            raise
        raise await run.fail_at_boundary(exc) from exc
    finally:
        if run.errlog is not None:
            run.errlog.close()
        if run.established:
            run.emit("MCP_DISCONNECTED", "lifecycle")


def _check_target(
    run: _Run, url: str | None, stdio: StdioServerParameters | None, allowed: Iterable[str] | None
) -> None:
    if run.transport == "stdio":
        if stdio is None:
            raise ValueError("stdio= (StdioServerParameters) is required for the stdio transport")
        return
    if url is None:
        raise ValueError(f"url= is required for the {run.transport} transport")
    if allowed is not None:
        host = urlsplit(url).hostname or ""
        if not host_allowed(host, allowed):
            raise run.refuse("MCP_DOMAIN_NOT_ALLOWED", "connect", f"host {host!r} is not in allowed_domains")


async def _enter_transport(
    run: _Run,
    stack: AsyncExitStack,
    stdio: StdioServerParameters | None,
    headers: Mapping[str, str] | None,
    oauth: httpx2.Auth | None,
    timeout: float,
    read_timeout: float,
) -> tuple[Any, Any]:
    if run.transport == "stdio":
        assert stdio is not None
        run.errlog = stderr_file()
        streams = await stack.enter_async_context(stdio_client(stdio, errlog=run.errlog))
        return streams[0], streams[1]
    assert run.url is not None
    run.hook = hook = ObservingTransport()
    limits = httpx2.Timeout(timeout, read=read_timeout)

    def client_factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=hook, headers=headers, timeout=timeout or limits, auth=auth, follow_redirects=True
        )

    if run.transport == "sse":
        streams = await stack.enter_async_context(
            sse_client(
                run.url,
                headers=dict(headers or {}),
                timeout=timeout,
                sse_read_timeout=read_timeout,
                httpx_client_factory=client_factory,
                auth=oauth,
            )
        )
        return streams[0], streams[1]
    client = await stack.enter_async_context(client_factory(dict(headers or {}), limits, oauth))
    streams = await stack.enter_async_context(streamable_http_client(run.url, http_client=client))
    return streams[0], streams[1]
