"""The classifier's rules for what an HTTP answer and a JSON-RPC error say: status codes, challenges, the
spec's error codes, and the messages the SDKs write themselves."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mcpdiag.emitters.chain import jsonrpc_error
from mcpdiag.emitters.classify_facts import Facts, HttpObservation, Verdict

_CHALLENGE = re.compile(r"(?i)(?:^|,)\s*(?:bearer|dpop)\b")
# Messages the 2.x SDK writes itself; any other message on an MCPError came from the server.
_SDK_MESSAGES = (
    "server returned an error response",
    "not found",
    "session terminated",
    "session not found",  # the server SDK's 404 for an unknown session id, which 2.3 passes on
    "client callback",
)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port) if parts.netloc else None


def _server_jsonrpc_error(f: Facts) -> bool:
    return any((rpc := jsonrpc_error(e)) is not None and rpc[1].lower() not in _SDK_MESSAGES for e in f.chain)


def _http_code(f: Facts, h: HttpObservation, status: int) -> str | None:
    ctype = (h.content_type or "").lower()
    html = "text/html" in ctype
    if status == 403:
        challenge = _CHALLENGE.search(h.www_authenticate or "")
        return "MCP_AUTH_REQUIRED" if challenge else "MCP_DOMAIN_NOT_ALLOWED"
    if status == 404:
        # A spec-correct server may answer an unknown method with 404 and a JSON-RPC error body.
        if ctype.startswith("application/json") and _server_jsonrpc_error(f):
            return None
        return "MCP_SESSION_EXPIRED" if f.session_established else "MCP_ENDPOINT_NOT_FOUND"
    if status == 405 and not f.session_established and (h.method or "POST").upper() == "POST":
        return "MCP_ENDPOINT_NOT_FOUND"  # e.g. a streamable-http client pointed at a legacy SSE URL
    if status in _STATUS_CODES:
        return _STATUS_CODES[status]
    if status >= 500:
        return "MCP_PROXY_SSE_ISSUE" if html and (h.via_proxy or f.proxy_in_use) else "MCP_SERVER_ERROR"
    if 300 <= status < 400 and h.location and _origin(h.location) not in (None, _origin(h.url or "")):
        return "MCP_PROXY_SSE_ISSUE"
    return "MCP_PROXY_SSE_ISSUE" if 200 <= status < 300 and html else None


_STATUS_CODES = {
    401: "MCP_AUTH_REQUIRED",
    407: "MCP_PROXY_SSE_ISSUE",
    421: "MCP_DOMAIN_NOT_ALLOWED",
    429: "MCP_RATE_LIMITED",
    502: "MCP_PROXY_SSE_ISSUE",
    504: "MCP_PROXY_SSE_ISSUE",
}


def _body_decides(status: int) -> bool:
    """Whether the JSON-RPC error in the body of an HTTP error says more than its status."""
    return 400 <= status < 500 and status not in (401, 403, 407, 421, 429)


def http_rule(f: Facts) -> Verdict | None:
    """The code an HTTP answer (or the JSON-RPC error in its body) says, when it says one."""
    h = f.http
    # A 2026 server answers -32020/-32021/-32022 (and other request errors) with 400 and the error in the
    # body; 2.x passes it on, 1.x raises HTTPStatusError and only the hook read the body.
    if h is not None and h.status is not None and h.jsonrpc_code is not None and _body_decides(h.status):
        rpc_code = jsonrpc_code(f, h.jsonrpc_code, h.jsonrpc_message or "")
        return Verdict(rpc_code, f"http {h.status} jsonrpc {h.jsonrpc_code}", f.named("HTTPStatusError"))
    code = _http_code(f, h, h.status) if h is not None and h.status is not None else None
    if h is None or code is None:
        return None
    retryable = True if h.retry_after and h.status in (429, 503) else None
    return Verdict(code, f"http {h.status}", f.named("HTTPStatusError"), retryable)


def jsonrpc_code(f: Facts, code: int, message: str) -> str:
    """The catalog code of a JSON-RPC error, by its code and (for the SDKs' own errors) its message."""
    msg = message.strip().lower()
    if code in (-32600, 32600):  # 1.x wrote "Session terminated" with a positive code
        if msg.startswith(("unexpected content type", "redirect")):
            return "MCP_PROXY_SSE_ISSUE"
        if msg.startswith(("session terminated", "session not found")):
            return "MCP_SESSION_EXPIRED" if f.session_established else "MCP_ENDPOINT_NOT_FOUND"
    elif code == -32601 and msg == "not found":  # 2.x's spelling of an HTTP 404, unlike "Method not found"
        return "MCP_SESSION_EXPIRED" if f.session_established else "MCP_ENDPOINT_NOT_FOUND"
    elif code == -32700:
        no_proxy = f.touchpoint == "inspection" or f.transport == "stdio"
        return "MCP_INSPECTION_FAILED" if no_proxy else "MCP_PROXY_SSE_ISSUE"
    elif code == -32000:  # the SDK's CONNECTION_CLOSED, and servers' own errors
        if msg.startswith("sse stream") or "reconnection attempts" in msg:
            return "MCP_PROXY_SSE_ISSUE"
        if msg.startswith("connection closed"):
            stdio = f.stderr_tail is not None or f.transport == "stdio"
            return "MCP_PROCESS_EXITED" if stdio else "MCP_CONNECTION_REFUSED"
        return "MCP_SERVER_ERROR"
    elif code == -32603 and msg.startswith(("server returned an error response", "client callback")):
        return "MCP_INTERNAL_ERROR"  # 2.x hid the HTTP status; only an httpx hook's observation knows it
    elif code in _SPEC_CODES:
        return _SPEC_CODES[code]
    if f.touchpoint == "tool_call":
        return "MCP_TOOL_ERROR"
    return "MCP_SERVER_ERROR" if code == -32603 else "MCP_INSPECTION_FAILED"


# The spec's own error codes (2025-11-25 and 2026-07-28), wherever they are answered.
_SPEC_CODES = {
    -32020: "MCP_PROXY_SSE_ISSUE",  # header mismatch: something on the way rewrote or dropped Mcp-* headers
    -32021: "MCP_INSPECTION_FAILED",  # the server needs a client capability this host does not declare
    -32022: "MCP_INSPECTION_FAILED",  # no protocol version in common (e.g. a 1.x host, a 2026-only server)
    -32042: "MCP_AUTH_REQUIRED",  # the user must complete a URL elicitation (a third-party sign-in) first
}


def jsonrpc_rule(f: Facts) -> Verdict | None:
    """The code of the first JSON-RPC error in the chain."""
    for e in f.chain:
        if (rpc := jsonrpc_error(e)) is not None:
            return Verdict(jsonrpc_code(f, *rpc), f"jsonrpc {rpc[0]}", e)
    return None


def observation_from(exc: BaseException, proxy_in_use: bool) -> HttpObservation | None:
    """What a 1.x `HTTPStatusError` (or any exception carrying an httpx response) says about the exchange."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    headers = getattr(response, "headers", None)
    header = {k: headers.get(k) for k in HEADERS} if isinstance(headers, Mapping) else {}
    try:  # httpx raises RuntimeError when a response has no request attached
        request = getattr(response, "request", None)
    except RuntimeError:
        request = None
    method, url = getattr(request, "method", None), getattr(request, "url", None)
    found: dict[str, Any] = {k.replace("-", "_"): v for k, v in header.items() if isinstance(v, str)}
    return HttpObservation(
        status=status,
        **found,
        method=method if isinstance(method, str) else None,
        url=str(url) if url is not None else None,
        via_proxy=proxy_in_use,
    )


HEADERS = ("content-type", "www-authenticate", "proxy-authenticate", "location", "retry-after")
