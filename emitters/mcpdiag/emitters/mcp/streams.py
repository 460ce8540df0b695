"""The streams of an HTTP MCP transport (streamable HTTP or SSE) whose every request goes through a hook.

`open_session` and the doctor open their HTTP transports here, so both see the exchanges the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any, Literal

from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcpdiag.emitters.mcp.hooks import ObservingTransport
from mcpdiag.emitters.mcp.sdk import http


async def http_streams(
    stack: AsyncExitStack,
    transport: Literal["streamable-http", "sse"],
    url: str,
    hook: ObservingTransport,
    *,
    headers: Mapping[str, str] | None,
    timeout: float,
    read_timeout: float,
    auth: http.Auth | None = None,
) -> tuple[Any, Any]:
    """The (read, write) streams of `transport` to `url`, entered on `stack`; its HTTP client sends through
    `hook` and follows redirects (which the hook sees one by one)."""
    limits = http.Timeout(timeout, read=read_timeout)

    def client_factory(
        headers: dict[str, str] | None = None,
        timeout: http.Timeout | None = None,
        auth: http.Auth | None = None,
    ) -> http.AsyncClient:
        return http.AsyncClient(
            transport=hook, headers=headers, timeout=timeout or limits, auth=auth, follow_redirects=True
        )

    if transport == "sse":
        streams = await stack.enter_async_context(
            sse_client(
                url,
                headers=dict(headers or {}),
                timeout=timeout,
                sse_read_timeout=read_timeout,
                httpx_client_factory=client_factory,
                auth=auth,
            )
        )
        return streams[0], streams[1]
    client = await stack.enter_async_context(client_factory(dict(headers or {}), limits, auth))
    streams = await stack.enter_async_context(streamable_http_client(url, http_client=client))
    return streams[0], streams[1]
