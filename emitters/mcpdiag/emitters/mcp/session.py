"""`open_session`: an MCP client session whose every failure leaves as an emitted `MCPDiagnosticError`."""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.endpoint import command_endpoint, url_endpoint
from mcpdiag.emitters.errors import StreamCutError
from mcpdiag.emitters.mcp.boundary import register_secrets, session_boundary
from mcpdiag.emitters.mcp.hooks import ObservingTransport, stderr_file
from mcpdiag.emitters.mcp.oauth import ObservedOAuth
from mcpdiag.emitters.mcp.run import SessionRun, TransportName, tool_error_text
from mcpdiag.emitters.mcp.sdk import McpError, field, http, is_error, seconds, types
from mcpdiag.emitters.mcp.streams import http_streams
from mcpdiag.emitters.mcp.tracing import TraceRecordingStream, forget_sent_trace_id, sent_trace_id


class DiagnosedSession:
    """An initialized MCP client session whose failures are classified and emitted."""

    def __init__(
        self,
        run: SessionRun,
        session: ClientSession,
        read_timeout: float,
        initialized: types.InitializeResult | None = None,
    ) -> None:
        self._run = run
        self._read_timeout = read_timeout
        self.session = session
        self.initialized = initialized
        """The server's answer to `initialize` (either SDK line's `InitializeResult`)."""
        self.last_debug_id: str | None = None

    @property
    def protocol_version(self) -> str | None:
        """The protocol version the server chose."""
        return field(self.initialized, "protocol_version")  # type: ignore[no-any-return]

    @property
    def server_info(self) -> types.Implementation | None:
        """Who the server says it is."""
        return field(self.initialized, "server_info")  # type: ignore[no-any-return]

    @property
    def server_capabilities(self) -> types.ServerCapabilities | None:
        """What the server offers."""
        return field(self.initialized, "capabilities")  # type: ignore[no-any-return]

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> types.CallToolResult:
        """Call a tool; an `is_error` result is returned as is and reported as MCP_TOOL_ERROR."""
        self._run.tool = name
        forget_sent_trace_id()
        try:
            result = await self._run.request(
                lambda: self.session.call_tool(
                    name, arguments, read_timeout_seconds=seconds(timeout or self._read_timeout)
                )
            )
        except (McpError, StreamCutError) as exc:
            self._run.tool = None
            err = await self._run.diagnose(exc, "tool_call", name)
            self.last_debug_id = err.debug_id
            raise err from exc
        self._run.tool = None
        if is_error(result):
            text = tool_error_text(result, self._run.emitter.redactor)
            self.last_debug_id = self._run.report_tool_error(name, text)
        return result

    async def ping(self) -> None:
        """Check that the server still answers; a failure is reported at touchpoint `transport`."""
        forget_sent_trace_id()
        try:
            await self._run.request(self.session.send_ping)
        except (McpError, StreamCutError) as exc:
            err = await self._run.diagnose(exc, "transport", None)
            self.last_debug_id = err.debug_id
            raise err from exc

    async def list_tools(self) -> types.ListToolsResult:
        """List the server's tools; an invalid answer is reported as an inspection failure."""
        forget_sent_trace_id()
        try:
            return await self._run.request(self.session.list_tools)
        except (McpError, StreamCutError, ValueError) as exc:
            err = self._run.fail(exc, "inspection", trace_id=sent_trace_id())
            self.last_debug_id = err.debug_id
            raise err from exc


def host_key(name: str) -> str:
    """A host name as names are compared: lowercase, without a trailing dot, an international name in its
    ASCII form (`bücher.example` is `xn--bcher-kva.example`, as a connection sees it)."""
    name = name.strip("[]").rstrip(".").lower()
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:  # not a name IDNA can spell: compared as it is
        return name


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` is one of `allowed`: exact names, or `*.example.com` for any subdomain (`host_key`
    spellings alike)."""
    host = host_key(host)
    for pattern in allowed:
        pattern = host_key(pattern)
        if host == pattern or (pattern.startswith("*.") and fnmatch.fnmatchcase(host, pattern)):
            return True
    return False


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
    oauth: http.Auth | None = None,
    oauth_timeout: float = 120.0,
    allowed_domains: Iterable[str] | None = None,
    timeout: float = 30.0,
    read_timeout: float = 60.0,
    http_transport: http.AsyncBaseTransport | None = None,
) -> AsyncIterator[DiagnosedSession]:
    """Open, initialize and yield an MCP session; every failure leaves as an emitted MCPDiagnosticError.

    Works with the MCP SDK 1.x (1.28 and later) and 2.x alike, whichever is installed.
    `oauth` is the host's `OAuthClientProvider`: its sign-in is reported (MCP_OAUTH_STARTED, then
    MCP_OAUTH_COMPLETED) and the wait for its `callback_handler` is bounded by `oauth_timeout` seconds
    (MCP_OAUTH_TIMEOUT); its failures are reported at touchpoint `oauth`. `http_transport` is the host's own
    transport of the SDK line's httpx (e.g. `AsyncHTTPTransport(verify=its_ssl_context)`); the session's hook
    wraps it.
    """
    context = {"user_id": user_id, "conversation_id": conversation_id, "run_id": run_id}
    run = SessionRun(server, emitter, transport, url if transport != "stdio" else None, context)
    if transport == "stdio":
        run.endpoint = command_endpoint(stdio.command) if stdio is not None else None
    elif url is not None:
        run.endpoint = url_endpoint(url)
    register_secrets(emitter, headers, stdio.env if stdio is not None else None, url)
    _check_target(run, url, stdio, allowed_domains)
    if oauth is not None:
        run.oauth = ObservedOAuth(
            oauth,
            timeout=oauth_timeout,
            report=run.report_oauth,
            register_secret=emitter.register_secret,
        )

    async with session_boundary(run) as boundary, AsyncExitStack() as stack:
        if run.oauth is not None:
            stack.enter_context(run.oauth.attached())
        read, write = await _enter_transport(
            run, stack, stdio, headers, run.oauth, timeout, read_timeout, http_transport
        )

        async def on_message(message: Any) -> None:
            if isinstance(message, Exception):
                run.invalid_messages.append(message)

        session = await stack.enter_async_context(
            ClientSession(
                read,
                TraceRecordingStream(write),
                read_timeout_seconds=seconds(read_timeout),
                message_handler=on_message,
            )
        )
        forget_sent_trace_id()
        initialized = await run.request(session.initialize)
        run.established = True
        run.emit("MCP_CONNECTED", "lifecycle", trace_id=sent_trace_id())
        with boundary.host_block():
            yield DiagnosedSession(run, session, read_timeout, initialized)


def _check_target(
    run: SessionRun, url: str | None, stdio: StdioServerParameters | None, allowed: Iterable[str] | None
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
    run: SessionRun,
    stack: AsyncExitStack,
    stdio: StdioServerParameters | None,
    headers: Mapping[str, str] | None,
    oauth: http.Auth | None,
    timeout: float,
    read_timeout: float,
    http_transport: http.AsyncBaseTransport | None = None,
) -> tuple[Any, Any]:
    if run.transport == "stdio":
        assert stdio is not None
        run.errlog = stderr_file()
        streams = await stack.enter_async_context(stdio_client(stdio, errlog=run.errlog))
        return streams[0], streams[1]
    assert run.url is not None
    run.hook = ObservingTransport(http_transport, legacy_sse=run.transport == "sse")
    return await http_streams(
        stack,
        run.transport,
        run.url,
        run.hook,
        headers=headers,
        timeout=timeout,
        read_timeout=read_timeout,
        auth=oauth,
    )
