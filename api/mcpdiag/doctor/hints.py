"""Swapped transports: an endpoint tested as SSE that speaks streamable HTTP, or the other way round. When
the `http` step fails with a client error, one bounded request in the other transport's shape tells which
(the same URL and origin, so the caller's headers stay where they were going)."""

from __future__ import annotations

import contextlib

import httpx2

from mcpdiag.doctor.http import INITIALIZE
from mcpdiag.doctor.options import DoctorTransport
from mcpdiag.doctor.report import StepFailed

LABELS: dict[DoctorTransport, str] = {"streamable-http": "streamable HTTP", "sse": "SSE"}
_PROBE_BYTES = 16 * 1024
_CLIENT_ERRORS = frozenset({400, 404, 405, 406, 415})


async def with_transport_hint(
    failure: StepFailed, url: str, transport: DoctorTransport, client: httpx2.AsyncClient
) -> StepFailed:
    """`failure`, or, when the endpoint speaks the other transport, the failure that says so."""
    if failure.http_status not in _CLIENT_ERRORS:
        return failure
    other: DoctorTransport = "streamable-http" if transport == "sse" else "sse"
    try:
        speaks = await (
            _speaks_streamable(client, url) if other == "streamable-http" else _speaks_sse(client, url)
        )
    except (httpx2.HTTPError, OSError):
        speaks = False
    if not speaks:
        return failure
    summary = f"This endpoint speaks {LABELS[other]}, not {LABELS[transport]}: use --transport {other}."
    probe = f"probe: {'POST initialize' if other == 'streamable-http' else 'GET (SSE)'} answered as {other}"
    detail = f"{failure.detail}\n{probe}" if failure.detail else probe
    return StepFailed("MCP_ENDPOINT_NOT_FOUND", summary, detail, http_status=failure.http_status)


async def _head_of(response: httpx2.Response, needle: bytes) -> bool:
    """Whether `needle` shows up in the first `_PROBE_BYTES` of the body."""
    seen = b""
    async for chunk in response.aiter_bytes():
        seen += chunk
        if needle in seen:
            return True
        if len(seen) >= _PROBE_BYTES:
            return False
    return False


async def _speaks_streamable(client: httpx2.AsyncClient, url: str) -> bool:
    headers = {"Accept": "application/json, text/event-stream"}
    async with client.stream("POST", url, json=INITIALIZE, headers=headers) as response:
        ctype = response.headers.get("content-type", "").lower()
        answered = response.is_success and ctype.startswith(("application/json", "text/event-stream"))
        found = answered and await _head_of(response, b'"protocolVersion"')
        if session := response.headers.get("mcp-session-id"):
            with contextlib.suppress(httpx2.HTTPError):  # leave no session behind
                await client.delete(url, headers={"mcp-session-id": session}, timeout=2)
        return found


async def _speaks_sse(client: httpx2.AsyncClient, url: str) -> bool:
    async with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
        ctype = response.headers.get("content-type", "").lower()
        if not (response.status_code == 200 and ctype.startswith("text/event-stream")):
            return False
        return await _head_of(response, b"event: endpoint")
