"""The doctor's guarded httpx2 transport, seen through the MCP SDK 1.x's httpx.

Every connection the doctor makes goes through its SSRF guard, an httpx2 transport. The 1.x SDK speaks
httpx, so on 1.x the MCP steps send through this bridge: requests and streamed responses are translated,
and httpx2's errors become httpx's errors of the same name (the SDK and the classifier see what they would
see without the bridge), the original kept as the cause.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2

_EXTENSIONS = ("http_version", "reason_phrase")


def _translated(exc: httpx2.HTTPError, request: httpx.Request) -> Exception:
    kind = getattr(httpx, type(exc).__name__, None)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = httpx.TransportError
    translated = kind(str(exc), request=request)
    translated.__cause__ = exc
    return translated


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: httpx2.Response, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx2.HTTPError as exc:
            raise _translated(exc, self._request) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class Httpx2Bridge(httpx.AsyncBaseTransport):
    """An httpx transport that sends every request through an httpx2 transport."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the httpx2 transport; its answer, streamed, as an httpx response."""
        body = await request.aread()
        extensions: dict[str, Any] = {k: v for k, v in request.extensions.items() if k == "timeout"}
        outgoing = httpx2.Request(
            request.method, str(request.url), headers=request.headers.raw, content=body, extensions=extensions
        )
        try:
            response = await self._inner.handle_async_request(outgoing)
        except httpx2.HTTPError as exc:
            raise _translated(exc, request) from exc
        return httpx.Response(
            response.status_code,
            headers=response.headers.raw,
            stream=_Body(response, request),
            extensions={k: response.extensions[k] for k in _EXTENSIONS if k in response.extensions},
        )

    async def aclose(self) -> None:
        """Close the httpx2 transport."""
        await self._inner.aclose()
