"""What one doctor run may read and whom it may tell what, enforced where every request passes (the HTTP
transport under the doctor's own clients and under the MCP SDK's):

* every response body is counted while it is read: at most `MAX_BODY_BYTES` per response and
  `MAX_RUN_BYTES` per run; past that the read fails with `BodyTooLargeError` and the run is told (`on_trip`)
  so that a stalled SDK session can be stopped at once instead of at the time bound;
* the caller's headers (and any credential header) are sent to the target's origin only: a request to
  another scheme, host or port (a redirect, a discovery URL) goes without them.

Text the doctor shows from a server is bounded too (`shown`, `clip`), before the redactor ever sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import httpx2

from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.text import word_cut

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_RUN_BYTES = 8 * 1024 * 1024
MAX_NAME_CHARS = 128
"""Names a server chooses (tools, serverInfo, schema properties): the MCP spec's bound for tool names."""
_CREDENTIALS = ("authorization", "proxy-authorization", "cookie")

Origin = tuple[str, str, int]


def origin_of(url: httpx2.URL) -> Origin:
    """`(scheme, host, port)` with the scheme's default port filled in."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme.lower(), url.host.lower(), port


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


class BodyTooLargeError(httpx2.ReadError):
    """A response body passed the run's bounds; reading stopped there. `summary` is the failed step's
    sentence, the message (method and URL without query) its detail."""

    def __init__(self, message: str, *, request: httpx2.Request, summary: str) -> None:
        super().__init__(message, request=request)
        self.summary = summary


@dataclass
class ReadBudget:
    """The bytes one run has read, across all its responses; the first overrun is kept for the report."""

    per_response: int = MAX_BODY_BYTES
    per_run: int = MAX_RUN_BYTES
    used: int = 0
    overrun: str | None = None
    overrun_summary: str | None = None
    on_trip: Callable[[], None] | None = None

    def take(self, request: httpx2.Request, read: int, size: int) -> None:
        """Count `size` more bytes of a response that had `read` so far; raise past either bound."""
        self.used += size
        if read + size > self.per_response:
            what = f"answer was larger than {_mib(self.per_response)}"
        elif self.used > self.per_run:
            what = f"answers passed {_mib(self.per_run)} in all"
        else:
            return
        url = request.url.copy_with(query=None, username=None, password=None)
        message = f"{request.method} {url}: the server's {what}; reading stopped there"
        self.overrun = self.overrun or message
        self.overrun_summary = self.overrun_summary or f"The server's {what}: the test stopped reading it."
        if self.on_trip is not None:
            self.on_trip()
        raise BodyTooLargeError(message, request=request, summary=self.overrun_summary)


class _CountedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, request: httpx2.Request, budget: ReadBudget) -> None:
        self._inner, self._request, self._budget = inner, request, budget

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = 0
        async for chunk in self._inner:
            self._budget.take(self._request, read, len(chunk))
            read += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class BoundedTransport(httpx2.AsyncBaseTransport):
    """Wraps the guarded transport: counts every body against `budget`, and strips `scoped` headers (the
    caller's, by name) and credential headers from any request that leaves `origin`."""

    inner: httpx2.AsyncBaseTransport
    origin: Origin
    budget: ReadBudget
    scoped: frozenset[str] = frozenset()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send `request` (without the caller's headers off the origin) and count its answer's body."""
        if origin_of(request.url) != self.origin:
            for name in [n for n in request.headers if n.lower() in self.scoped or n.lower() in _CREDENTIALS]:
                del request.headers[name]
        response = await self.inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        response.stream = _CountedStream(stream, request, self.budget)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def scoped_names(headers: Iterable[str]) -> frozenset[str]:
    """The lower-cased names of the caller's headers."""
    return frozenset(name.lower() for name in headers)


def shown(name: str | None, limit: int = MAX_NAME_CHARS) -> str:
    """A server-chosen name as the doctor reports it: whole when within `limit`, else only its length
    (a cut name could end in half a secret that the redactor no longer recognises)."""
    if name is None:
        return ""
    return name if len(name) <= limit else f"<a name of {len(name):,} characters>"


def clip(text: str, limit: int, redactor: Redactor | None = None) -> str:
    """`text` bounded to about `limit` characters: redacted (by `redactor`) and cut at a word end
    (`word_cut`), so that no secret is left half in the text, nor one its context made redactable."""
    if len(text) <= limit:
        return text
    kept = word_cut(text, limit, redactor)
    return f"{kept} … ({len(text) - len(kept):,} more characters not shown)"
