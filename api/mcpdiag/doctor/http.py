"""The `http` layer: one real request to the endpoint (status, content type, proxy signs, redirects,
`WWW-Authenticate`), judged by the emitters' classifier so the codes match the rest of the product."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2

from mcpdiag.doctor.bounded import BodyTooLargeError, origin_of
from mcpdiag.doctor.netguard import AddressRefusedError
from mcpdiag.doctor.network import connection_refused
from mcpdiag.doctor.options import DoctorTransport, Target
from mcpdiag.doctor.report import Outcome, StepFailed
from mcpdiag.emitters import HttpObservation, Redactor, classify, exception_chain
from mcpdiag.emitters.mcp.sdk import types

_SNIPPET = 512
_MCP_TYPES = ("application/json", "text/event-stream")
_PROXY_HEADERS = ("via", "x-cache", "x-squid-error", "proxy-agent", "x-forwarded-for", "cf-ray")
_CHALLENGE = re.compile(r"(?i)(?:^|,)\s*(?:bearer|dpop)\b")
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": types.LATEST_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcpdiag-doctor", "version": "1"},
    },
}


class HttpProbeError(Exception):
    """Stands for an HTTP answer an MCP client would fail on, so the classifier can judge it."""


@dataclass(slots=True)
class HttpFinding:
    """What the `http` step saw: enough for the `oauth` step to start discovery."""

    status: int
    content_type: str | None
    www_authenticate: str | None
    final_url: str
    redirects: list[str] = field(default_factory=list)

    @property
    def auth_required(self) -> bool:
        """401, or 403 with a Bearer challenge: the `oauth` step takes over."""
        return self.status == 401 or (
            self.status == 403 and bool(_CHALLENGE.search(self.www_authenticate or ""))
        )


def _request(client: httpx2.AsyncClient, url: str, transport: DoctorTransport) -> httpx2.Request:
    if transport == "sse":
        return client.build_request("GET", url, headers={"Accept": "text/event-stream"})
    return client.build_request(
        "POST", url, json=INITIALIZE, headers={"Accept": "application/json, text/event-stream"}
    )


async def http_step(
    target: Target, transport: DoctorTransport, client: httpx2.AsyncClient, redactor: Redactor
) -> tuple[Outcome, HttpFinding]:
    """Send what an MCP client sends first (POST initialize, or the SSE GET) and judge the answer.

    The client follows redirects itself (dropping credentials across origins); its guarded transport
    refuses any hop to an address that is off limits before connecting.
    """
    try:
        response = await client.send(_request(client, target.url, transport), stream=True)
    except Exception as exc:
        raise _transport_failure(exc, target, transport, redactor) from exc
    start = origin_of(httpx2.URL(target.url))
    redirects, left_origin = [], False
    for hop in response.history:
        url = hop.url.join(hop.headers.get("location", ""))
        elsewhere = origin_of(url) != start
        left_origin |= elsewhere
        note = " (another origin: your headers are not sent there)" if elsewhere else ""
        redirects.append(f"{hop.status_code} → {_safe_url(str(url))}{note}")
    try:
        return await _judge(
            response, str(response.url), transport, (redirects, left_origin), client, redactor
        )
    finally:
        await response.aclose()


async def _judge(
    response: httpx2.Response,
    url: str,
    transport: DoctorTransport,
    hops: tuple[list[str], bool],
    client: httpx2.AsyncClient,
    redactor: Redactor,
) -> tuple[Outcome, HttpFinding]:
    (redirects, left_origin), status, headers = hops, response.status_code, response.headers
    ctype = headers.get("content-type") or None
    finding = HttpFinding(status, ctype, headers.get("www-authenticate"), url, redirects)
    proxy = _proxy_signs(headers)
    streaming = (ctype or "").lower().startswith("text/event-stream")
    body = b"" if streaming else await _read_capped(response)
    lines = [f"{response.request.method} {_safe_url(url)} -> {status}; content-type: {ctype or 'none'}"]
    lines += [f"redirect: {hop}" for hop in redirects] + [f"proxy sign: {sign}" for sign in proxy]
    if finding.www_authenticate:
        lines.append(f"www-authenticate: {finding.www_authenticate}")
    if body:
        lines.append(f"body: {' '.join(body[:_SNIPPET].decode('utf-8', 'replace').split())}")
    detail = redactor.text("\n".join(lines))
    extras = "".join(
        [f", redirected {len(redirects)} times" if redirects else "",
         " to another origin (your headers were not sent there)" if left_origin else "",
         f", via {proxy[0]}" if proxy else ""]
    )  # fmt: skip
    if finding.auth_required:
        summary = f"HTTP {status}: the server asks for sign-in (checked below){extras}."
        return Outcome(summary, detail), finding
    expected = ("text/event-stream",) if transport == "sse" else _MCP_TYPES
    if 200 <= status < 300 and (ctype or "").lower().startswith(expected):
        if session := headers.get("mcp-session-id"):
            with contextlib.suppress(Exception):  # leave no session behind: the mcp step opens its own
                await client.delete(url, headers={"mcp-session-id": session}, timeout=2)
        return Outcome(f"HTTP {status}, {ctype}{extras}.", detail), finding
    observation = HttpObservation(
        status=status,
        content_type=ctype,
        www_authenticate=finding.www_authenticate,
        proxy_authenticate=headers.get("proxy-authenticate"),
        location=headers.get("location"),
        retry_after=headers.get("retry-after"),
        method=response.request.method,
        url=_safe_url(url),
        via_proxy=bool(proxy),
        body_snippet=body[:_SNIPPET].decode("utf-8", "replace") or None,
    )
    found = classify(
        HttpProbeError(f"HTTP {status}"), touchpoint="inspection", transport=transport, http=observation
    )
    code = found.code
    if code == "MCP_INTERNAL_ERROR":
        code = (
            "MCP_PROXY_SSE_ISSUE"
            if status < 300
            else "MCP_SERVER_ERROR"
            if status >= 500
            else ("MCP_INSPECTION_FAILED")
        )
    raise StepFailed(code, _summary(code, status, ctype) + extras + ".", detail, http_status=status)


def _summary(code: str, status: int, ctype: str | None) -> str:
    kind = f"HTTP {status}" + (f", {ctype.split(';')[0]}" if ctype else "")
    if "html" in (ctype or "").lower() and status < 400:
        return f"Got a web page ({kind}) instead of MCP: a proxy, captive portal or login page is in the way"
    return {
        "MCP_PROXY_SSE_ISSUE": f"A proxy or gateway got in the way ({kind})",
        "MCP_ENDPOINT_NOT_FOUND": f"No MCP endpoint at this URL ({kind}); check the path (often /mcp)",
        "MCP_DOMAIN_NOT_ALLOWED": f"Access was blocked by a proxy, firewall or host check ({kind})",
        "MCP_RATE_LIMITED": f"The server is rate limiting requests ({kind})",
        "MCP_SERVER_ERROR": f"The server failed on its side ({kind})",
        "MCP_AUTH_REQUIRED": f"The server asks for sign-in ({kind})",
    }.get(code, f"Unexpected answer from the server ({kind})")


def _transport_failure(
    exc: Exception, target: Target, transport: DoctorTransport, redactor: Redactor
) -> StepFailed:
    chain = exception_chain(exc)
    if large := next((e for e in chain if isinstance(e, BodyTooLargeError)), None):
        return StepFailed("MCP_INSPECTION_FAILED", large.summary, str(large))
    if refused := next((e for e in chain if isinstance(e, AddressRefusedError)), None):
        return connection_refused(target.host, refused)
    found = classify(exc, touchpoint="inspection", transport=transport, redactor=redactor)
    summary = {
        "MCP_TIMEOUT": "The server did not answer in time",
        "MCP_TLS_ERROR": "The secure connection failed",
        "MCP_DNS_FAILURE": "A redirect pointed to a name that does not resolve",
        "MCP_CONNECTION_REFUSED": "The connection was refused or dropped",
    }.get(found.code, "The request failed")
    return StepFailed(found.code, f"{summary}.", found.detail)


def _proxy_signs(headers: Mapping[str, str]) -> list[str]:
    signs = [f"{name}: {headers[name]}" for name in _PROXY_HEADERS if name in headers]
    server = headers.get("server", "")
    if re.search(r"(?i)squid|zscaler|bluecoat|fortigate|envoy|varnish", server):
        signs.append(f"server: {server}")
    return signs


async def _read_capped(response: httpx2.Response, limit: int = 64 * 1024) -> bytes:
    chunks, size = [], 0
    with contextlib.suppress(httpx2.HTTPError):
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    return b"".join(chunks)


def _safe_url(url: str) -> str:
    """The URL without user info or query (they may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{netloc}{parts.path}"
