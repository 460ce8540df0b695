"""fastmcp's `Client` (4.x, on mcp 2.x) with the diagnostics of `open_session`, keeping the host's client.

`diagnosed(client, server, emitter=...)` enters the host's own `fastmcp.Client` and yields it wrapped: its
transport gets the observing HTTP transport (statuses, headers, bodies the SDK hides), the OAuth observer
(sign-in started / completed / bounded), a stderr file for stdio, and the traceparent of each request, for
as long as the block runs; then the host's settings are put back. A failure to connect, and a failure of
`call_tool`, `call_tool_mcp`, `list_tools`, `list_tools_mcp` or `ping`, leaves as an emitted
`MCPDiagnosticError` with the original exception chained; any other method is the client's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any

import httpx2
from fastmcp import Client
from fastmcp.client.transports import ClientTransport, SSETransport, StdioTransport, StreamableHttpTransport
from fastmcp.client.transports.base import TransportOptions

from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.mcp.boundary import register_secrets, session_boundary
from mcpdiag.emitters.mcp.hooks import ObservingTransport, stderr_file
from mcpdiag.emitters.mcp.oauth import ObservedOAuth
from mcpdiag.emitters.mcp.run import SessionRun, TransportName, tool_error_text
from mcpdiag.emitters.mcp.sdk import is_error
from mcpdiag.emitters.mcp.tracing import TraceRecordingStream, forget_sent_trace_id, sent_trace_id

__all__ = ["DiagnosedClient", "diagnosed"]

# fastmcp's own default for a client it builds (30 s to connect, 300 s for a response stream).
_DEFAULT_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class DiagnosedClient:
    """The host's `fastmcp.Client`, whose request methods report and raise like a `DiagnosedSession`.

    Every other attribute is the client's own; `client` is the client itself.
    """

    def __init__(self, client: Client[Any], run: SessionRun) -> None:
        self.client = client
        self._run = run
        self.last_debug_id: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, **options: Any) -> Any:
        """`Client.call_tool`; an error result is reported as MCP_TOOL_ERROR (and, as fastmcp does unless
        `raise_on_error=False`, raised: as an `MCPDiagnosticError` from fastmcp's `ToolError`)."""
        return await self._tool("call_tool", name, arguments, options)

    async def call_tool_mcp(self, name: str, arguments: dict[str, Any], **options: Any) -> Any:
        """`Client.call_tool_mcp`: the raw result, an error result reported as MCP_TOOL_ERROR."""
        return await self._tool("call_tool_mcp", name, arguments, options)

    async def list_tools(self, **options: Any) -> Any:
        """`Client.list_tools`; a failure is reported at touchpoint `inspection`."""
        return await self._request("inspection", self.client.list_tools, **options)

    async def list_tools_mcp(self, **options: Any) -> Any:
        """`Client.list_tools_mcp`; a failure is reported at touchpoint `inspection`."""
        return await self._request("inspection", self.client.list_tools_mcp, **options)

    async def ping(self) -> bool:
        """`Client.ping`; a failure is reported at touchpoint `transport`."""
        return bool(await self._request("transport", self.client.ping))

    async def _tool(self, method: str, name: str, arguments: Any, options: dict[str, Any]) -> Any:
        self._run.tool = name
        try:
            result = await self._request(
                "tool_call", getattr(self.client, method), name, arguments, **options
            )
        finally:
            self._run.tool = None
        if is_error(result):
            text = tool_error_text(result, self._run.emitter.redactor)
            self.last_debug_id = self._run.report_tool_error(name, text)
        return result

    async def _request(self, touchpoint: str, call: Callable[..., Any], *args: Any, **options: Any) -> Any:
        forget_sent_trace_id()  # the client sends from a task of its own, which shares this operation
        try:
            return await call(*args, **options)
        except Exception as exc:
            err = await self._run.diagnose(exc, touchpoint, self._run.tool)
            self.last_debug_id = err.debug_id
            raise err from exc


@asynccontextmanager
async def diagnosed(
    client: Client[Any],
    server: str,
    *,
    emitter: Emitter,
    user_id: str | None = None,
    conversation_id: str | None = None,
    run_id: str | None = None,
    oauth_timeout: float = 120.0,
) -> AsyncIterator[DiagnosedClient]:
    """Enter the host's `fastmcp.Client` as `server`; every failure leaves as an emitted MCPDiagnosticError.

    Streamable HTTP, SSE and stdio transports are observed. An `OAuthClientProvider` as the transport's
    `auth` (fastmcp's `OAuth` is one) reports its sign-in and is bounded by `oauth_timeout` seconds.
    """
    transport = client.transport
    kind: TransportName = (
        "stdio"
        if isinstance(transport, StdioTransport)
        else "sse"
        if isinstance(transport, SSETransport)
        else "streamable-http"
    )
    url = getattr(transport, "url", None)
    context = {"user_id": user_id, "conversation_id": conversation_id, "run_id": run_id}
    run = SessionRun(server, emitter, kind, url if isinstance(url, str) else None, context)
    register_secrets(emitter, getattr(transport, "headers", None), getattr(transport, "env", None), run.url)

    async with session_boundary(run) as boundary:
        with _instrumented(client, run, oauth_timeout):
            forget_sent_trace_id()  # fastmcp connects from a task it starts here: it shares the operation
            async with client:
                run.established = True
                run.emit("MCP_CONNECTED", "lifecycle", trace_id=sent_trace_id())
                with boundary.host_block():
                    yield DiagnosedClient(client, run)


@contextmanager
def _instrumented(client: Client[Any], run: SessionRun, oauth_timeout: float) -> Iterator[None]:
    """Put the hooks into the client's transport while the block runs; the host's settings come back."""
    inner = client.transport
    saved: dict[str, Any] = {}
    with ExitStack() as stack:
        if isinstance(inner, StreamableHttpTransport | SSETransport):
            saved = {"httpx_client_factory": inner.httpx_client_factory, "auth": inner.auth}
            run.hook = ObservingTransport(legacy_sse=isinstance(inner, SSETransport))
            inner.httpx_client_factory = _client_factory(inner, run.hook)
            if inner.auth is not None:
                run.oauth = ObservedOAuth(
                    inner.auth,
                    timeout=oauth_timeout,
                    report=run.report_oauth,
                    register_secret=run.emitter.register_secret,
                )
                if run.oauth.observable:
                    stack.enter_context(run.oauth.attached())
                    inner.auth = run.oauth
        elif isinstance(inner, StdioTransport) and inner.log_file is None:
            saved = {"log_file": None}
            run.errlog = stderr_file()
            inner.log_file = run.errlog
        client.transport = _ObservedTransport(inner, run)
        try:
            yield
        finally:
            client.transport = inner
            for name, value in saved.items():
                setattr(inner, name, value)


def _client_factory(transport: StreamableHttpTransport | SSETransport, hook: ObservingTransport) -> Any:
    """The `httpx_client_factory` fastmcp calls: the host's own factory or fastmcp's defaults, with the
    observing transport under the client."""
    host_factory, verify = transport.httpx_client_factory, transport.verify

    def factory(**kwargs: Any) -> httpx2.AsyncClient:
        if host_factory is not None:
            client: httpx2.AsyncClient = host_factory(**kwargs)
            # httpx2 offers no public way to wrap the transport of a client it built.
            hook._inner = client._transport
            client._transport = hook
            return client
        kwargs["timeout"] = kwargs.get("timeout") or _DEFAULT_TIMEOUT
        kwargs.setdefault("follow_redirects", True)
        hook._inner = httpx2.AsyncHTTPTransport(verify=True if verify is None else verify)
        return httpx2.AsyncClient(transport=hook, **kwargs)

    return factory


class _ObservedTransport(ClientTransport):
    """The host's transport, whose sessions write through `TraceRecordingStream` and report unparsable
    messages to the run."""

    def __init__(self, inner: ClientTransport, run: SessionRun) -> None:
        self._inner = inner
        self._run = run
        self.legacy_only = inner.legacy_only

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @asynccontextmanager
    async def connect_session(
        self, *, transport_options: TransportOptions | None = None, **session_kwargs: Any
    ) -> AsyncIterator[Any]:
        """The host transport's session, its writes traced and its unparsable messages noted."""
        options = transport_options or TransportOptions()
        options = dataclasses.replace(options, session_class=_traced(options.session_class))
        host_handler = session_kwargs.get("message_handler")
        invalid = self._run.invalid_messages

        async def on_message(message: Any) -> None:
            if isinstance(message, Exception):
                invalid.append(message)
            if host_handler is not None:
                await host_handler(message)

        session_kwargs["message_handler"] = on_message
        async with self._inner.connect_session(transport_options=options, **session_kwargs) as session:
            yield session

    async def close(self) -> None:
        """Close the host's transport."""
        await self._inner.close()  # type: ignore[no-untyped-call]

    def get_session_id(self) -> str | None:
        """The host transport's session id."""
        return self._inner.get_session_id()


def _traced(session_class: type[Any]) -> type[Any]:
    """`session_class`, writing through a `TraceRecordingStream`."""

    class TracedSession(session_class):  # type: ignore[misc]
        def __init__(self, read_stream: Any, write_stream: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(read_stream, TraceRecordingStream(write_stream), *args, **kwargs)

    TracedSession.__name__ = TracedSession.__qualname__ = f"Traced{session_class.__name__}"
    return TracedSession
