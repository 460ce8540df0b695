"""Classification: turn an MCP SDK failure (1.x or 2.x) and what the hooks saw into a catalog code."""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mcpdiag.emitters.chain import (
    MAX_CHAIN_DEPTH,
    clip,
    describe_exception,
    exception_chain,
    exception_names,
    exception_text,
    jsonrpc_error,
    qualified_name,
    walk_chain,
)
from mcpdiag.emitters.codes import Action, Severity, code_info
from mcpdiag.emitters.event import MAX_DETAIL, MAX_MESSAGE_SAFE, AttrValue
from mcpdiag.emitters.redact import Redactor

__all__ = [
    "MAX_CHAIN_DEPTH",
    "Classification",
    "HttpObservation",
    "classification_for",
    "classify",
    "exception_chain",
]

_MAX_DESCRIBED = 12
_MAX_STDERR = 1500
_MAX_BODY = 200
_DEFAULT_REDACTOR = Redactor()

# Only class names are matched, never the classes (see `chain`).
_OAUTH_NAMES = frozenset(
    {"OAuthFlowError", "OAuthTokenError", "OAuthRegistrationError", "OAuthCallbackError"}
)
_TIMEOUT_NAMES = frozenset(
    {"TimeoutException", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout", "TooSlowError"}
)
_STREAM_CUT = frozenset({"RemoteProtocolError", "ReadError", "WriteError", "CloseError"})
_STDIO_CLOSED = frozenset({"EndOfStream", "BrokenResourceError"})
_TIMEOUT_CODES = frozenset({-32001, 408})  # 2.x REQUEST_TIMEOUT; 1.x used HTTP 408 as the JSON-RPC code


def _errnos(*names: str) -> frozenset[int]:
    return frozenset(n for n in (getattr(errno, name, None) for name in names) if isinstance(n, int))


_SPAWN_ERRNOS = _errnos("ENOENT", "EACCES", "EPERM", "ENOEXEC", "ENOTDIR", "EISDIR")
_UNREACHABLE_ERRNOS = _errnos("ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN")
_RESET_ERRNOS = _errnos("ECONNRESET", "ECONNABORTED", "EPIPE")
_EAI_AGAIN = getattr(socket, "EAI_AGAIN", -3)

_DNS_TEXT = re.compile(r"(?i)name or service not known|nodename nor servname|getaddrinfo failed|no address")
_TLS_TEXT = re.compile(r"\[SSL[:\]]|CERTIFICATE_VERIFY_FAILED|WRONG_VERSION_NUMBER")
_PROTOCOL_TEXT = re.compile(r"(?i)protocol version")
_CHALLENGE = re.compile(r"(?i)(?:^|,)\s*(?:bearer|dpop)\b")
# The user (or the authorization server on their behalf) refused the sign-in: RFC 6749 `access_denied`, or
# the OIDC answers that mean "the user has to sign in / consent" (`login_required`, `consent_required`, …).
_DENIED = re.compile(r"(?i)access[_ ]denied|\bdenied\b|\bdeclined\b|(?:login|consent|interaction)_required")
# The last line of a Python traceback in a stderr tail, e.g. "ModuleNotFoundError: No module named 'x'".
_PY_ERROR = re.compile(r"(?m)^([A-Za-z_][\w.]{0,120}(?:Error|Exception))(?::|$)")
# Messages the 2.x SDK writes itself; any other message on an MCPError came from the server.
_SDK_MESSAGES = (
    "server returned an error response",
    "not found",
    "session terminated",
    "session not found",  # the server SDK's 404 for an unknown session id, which 2.3 passes on
    "client callback",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpObservation:
    """What an httpx-level hook saw for the HTTP exchange most relevant to a failure."""

    status: int | None = None
    content_type: str | None = None
    www_authenticate: str | None = None
    proxy_authenticate: str | None = None
    location: str | None = None
    retry_after: str | None = None
    method: str | None = None
    url: str | None = None
    via_proxy: bool = False
    body_snippet: str | None = None
    jsonrpc_code: int | None = None
    """The code of the JSON-RPC error the body answered the request with (a 4xx from a 2026 server)."""
    jsonrpc_message: str | None = None
    body_truncated: bool = False
    """The hook stopped reading the body at its bound: the answer was larger than that."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """A failure's catalog code with everything an event needs; `message_safe` never holds exception text."""

    code: str
    severity: Severity
    retryable: bool
    message_safe: str
    detail: str
    action: Action
    http_status: int | None = None
    attrs: dict[str, AttrValue] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class _Verdict:
    code: str
    signal: str
    source: BaseException | None = None
    retryable: bool | None = None


def _hit(
    code: str, signal: str, source: BaseException | None, retryable: bool | None = None
) -> _Verdict | None:
    return None if source is None else _Verdict(code, signal, source, retryable)


@dataclass(frozen=True, slots=True)
class _Facts:
    chain: list[BaseException]
    touchpoint: str | None
    transport: str | None
    session_established: bool
    proxy_in_use: bool
    stderr_tail: str | None
    http: HttpObservation | None

    def first(self, test: Callable[[BaseException], object]) -> BaseException | None:
        return next((e for e in self.chain if test(e)), None)

    def named(self, *names: str) -> BaseException | None:
        return self.first(lambda e: not exception_names(e).isdisjoint(names))


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError) or not _TIMEOUT_NAMES.isdisjoint(exception_names(exc)):
        return True
    return (rpc := jsonrpc_error(exc)) is not None and rpc[0] in _TIMEOUT_CODES


def _os_error(types: tuple[type[OSError], ...], errnos: frozenset[int]) -> Callable[[BaseException], bool]:
    return lambda e: isinstance(e, types) or (isinstance(e, OSError) and e.errno in errnos)


_is_spawn_error = _os_error(
    (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError), _SPAWN_ERRNOS
)
_is_refused = _os_error((ConnectionRefusedError,), _UNREACHABLE_ERRNOS)
_is_reset = _os_error((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), _RESET_ERRNOS)


def _cut(f: _Facts, source: BaseException | None, signal: str) -> _Verdict | None:
    """A dropped connection: the process died (stdio), a stream was cut mid-session, or nobody answered."""
    if f.transport == "stdio":
        return _hit("MCP_PROCESS_EXITED", signal, source)
    via = f.session_established or f.proxy_in_use
    return _hit("MCP_PROXY_SSE_ISSUE" if via else "MCP_CONNECTION_REFUSED", signal, source)


def _oauth(f: _Facts) -> _Verdict | None:
    failure = f.named(*_OAUTH_NAMES)
    timeout = f.first(_is_timeout) if f.touchpoint == "oauth" or failure is not None else None
    # The authorization response was an error, and the host's callback said so: refused, or a setup fault.
    refused = f.named("OAuthCallbackError")
    denied = refused if refused is not None and any(_says(_DENIED, e) for e in f.chain) else None
    return (
        _hit("MCP_OAUTH_TIMEOUT", "oauth timeout", timeout)
        or _hit("MCP_AUTH_REQUIRED", "oauth denied", denied)
        or _hit("MCP_OAUTH_FAILED", "oauth", failure)
    )


def _spawn(f: _Facts) -> _Verdict | None:
    if f.transport != "stdio" or f.session_established or f.touchpoint not in (None, "connect"):
        return None
    return _hit("MCP_STDIO_SPAWN_FAILED", "stdio spawn", f.first(_is_spawn_error))


def _dns(f: _Facts) -> _Verdict | None:
    e = f.first(lambda e: isinstance(e, socket.gaierror))
    # EAI_AGAIN is "temporary failure in name resolution": the resolver failed, not the name.
    return _hit("MCP_DNS_FAILURE", "dns", e, True if getattr(e, "errno", None) == _EAI_AGAIN else None)


def _tls(f: _Facts) -> _Verdict | None:
    e = f.first(lambda e: isinstance(e, ssl.SSLError))
    if f.session_established and isinstance(e, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return _hit("MCP_PROXY_SSE_ISSUE", "tls stream cut", e)
    return _hit("MCP_TLS_ERROR", "tls", e)


def _socket(f: _Facts) -> _Verdict | None:
    refused = "MCP_PROXY_SSE_ISSUE" if f.proxy_in_use else "MCP_CONNECTION_REFUSED"
    return (
        _hit("MCP_PROXY_SSE_ISSUE", "proxy error", f.named("ProxyError"))
        or _hit(refused, "refused", f.first(_is_refused))
        or _cut(f, f.first(_is_reset), "connection reset")
    )


def _origin(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port) if parts.netloc else None


def _server_jsonrpc_error(f: _Facts) -> bool:
    return any((rpc := jsonrpc_error(e)) is not None and rpc[1].lower() not in _SDK_MESSAGES for e in f.chain)


def _http_code(f: _Facts, h: HttpObservation, status: int) -> str | None:
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


def _http(f: _Facts) -> _Verdict | None:
    h = f.http
    # A 2026 server answers -32020/-32021/-32022 (and other request errors) with 400 and the error in the
    # body; 2.x passes it on, 1.x raises HTTPStatusError and only the hook read the body.
    if h is not None and h.status is not None and h.jsonrpc_code is not None and _body_decides(h.status):
        rpc_code = _jsonrpc_code(f, h.jsonrpc_code, h.jsonrpc_message or "")
        return _Verdict(rpc_code, f"http {h.status} jsonrpc {h.jsonrpc_code}", f.named("HTTPStatusError"))
    code = _http_code(f, h, h.status) if h is not None and h.status is not None else None
    if h is None or code is None:
        return None
    retryable = True if h.retry_after and h.status in (429, 503) else None
    return _Verdict(code, f"http {h.status}", f.named("HTTPStatusError"), retryable)


def _timeout(f: _Facts) -> _Verdict | None:
    return _hit("MCP_TIMEOUT", "timeout", f.first(_is_timeout))


def _transport(f: _Facts) -> _Verdict | None:
    found = (
        _hit("MCP_PROXY_SSE_ISSUE", "sse content type", f.named("SSEError"))
        # mcpdiag's own finding on 1.x; 2.x says the same as -32000 "SSE stream ended without a response".
        or _hit("MCP_PROXY_SSE_ISSUE", "answer lost", f.named("StreamCutError"))
        or _cut(f, f.named(*_STREAM_CUT), "stream cut")
        or _hit("MCP_ENDPOINT_NOT_FOUND", "bad url", f.named("UnsupportedProtocol", "InvalidURL"))
        or _hit("MCP_PROXY_SSE_ISSUE", "redirect loop", f.named("TooManyRedirects"))
    )
    if found is not None or (e := f.named("ConnectError")) is None:
        return found
    # The OS error was not kept: the wrapper's message is the best signal left.
    text = exception_text(e)
    if _DNS_TEXT.search(text):
        return _hit("MCP_DNS_FAILURE", "dns (message)", e)
    if _TLS_TEXT.search(text):
        return _hit("MCP_TLS_ERROR", "tls (message)", e)
    return _cut(f, e, "connect error")


def _jsonrpc_code(f: _Facts, code: int, message: str) -> str:
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


def _jsonrpc_rule(f: _Facts) -> _Verdict | None:
    for e in f.chain:
        if (rpc := jsonrpc_error(e)) is not None:
            return _Verdict(_jsonrpc_code(f, *rpc), f"jsonrpc {rpc[0]}", e)
    return None


def _is_invalid_message(e: BaseException) -> bool:
    names = exception_names(e)
    if "ValidationError" in names and type(e).__module__.startswith("pydantic"):
        return True
    return "JSONDecodeError" in names or (
        isinstance(e, RuntimeError) and bool(_PROTOCOL_TEXT.search(exception_text(e)))
    )


def _says(pattern: re.Pattern[str], exc: BaseException) -> bool:
    return bool(pattern.search(exception_text(exc)))


def _late(f: _Facts) -> _Verdict | None:
    return (
        _hit("MCP_INSPECTION_FAILED", "invalid message", f.first(_is_invalid_message))
        or _hit(
            "MCP_PROCESS_EXITED", "stdio closed", f.named(*_STDIO_CLOSED) if f.transport == "stdio" else None
        )
        or _hit(
            "MCP_DNS_FAILURE", "dns (message)", f.first(lambda e: bool(_DNS_TEXT.search(exception_text(e))))
        )
        or _hit(
            "MCP_TLS_ERROR", "tls (message)", f.first(lambda e: bool(_TLS_TEXT.search(exception_text(e))))
        )
    )


def _tool_error(f: _Facts) -> _Verdict | None:
    """fastmcp's `Client.call_tool` raises `ToolError` for a tool call that returned an error result."""
    return _hit("MCP_TOOL_ERROR", "tool error", f.named("ToolError")) if f.touchpoint == "tool_call" else None


def _oauth_leftover(f: _Facts) -> _Verdict | None:
    """Anything else that broke a sign-in flow (e.g. the host's callback server) is a failed sign-in."""
    return (
        _hit("MCP_OAUTH_FAILED", "oauth (other)", f.chain[0] if f.chain else None)
        if f.touchpoint == "oauth"
        else None
    )


# Most specific first: the first rule that matches anywhere in the chain decides.
_RULES: tuple[Callable[[_Facts], _Verdict | None], ...] = (
    _oauth, _spawn, _dns, _tls, _socket, _http, _timeout, _transport, _jsonrpc_rule, _tool_error, _late,
    _oauth_leftover,
)  # fmt: skip


def _observation_from(exc: BaseException, proxy_in_use: bool) -> HttpObservation | None:
    """What a 1.x `HTTPStatusError` (or any exception carrying an httpx response) says about the exchange."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    headers = getattr(response, "headers", None)
    header = {k: headers.get(k) for k in _HEADERS} if isinstance(headers, Mapping) else {}
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


_HEADERS = ("content-type", "www-authenticate", "proxy-authenticate", "location", "retry-after")


def _detail(f: _Facts, verdict: _Verdict, cancelled: int, http: HttpObservation | None) -> str:
    context = [f"{k}={v}" for k, v in (("touchpoint", f.touchpoint), ("transport", f.transport)) if v]
    context += [name for name, on in (("session", f.session_established), ("proxy", f.proxy_in_use)) if on]
    lines = [f"{verdict.code} by {verdict.signal}" + (f" ({', '.join(context)})" if context else "")]
    lines += [f"  {describe_exception(e)}" for e in f.chain[:_MAX_DESCRIBED]]
    if len(f.chain) > _MAX_DESCRIBED:
        lines.append(f"  … {len(f.chain) - _MAX_DESCRIBED} more")
    if cancelled:
        lines.append(f"  ({cancelled} cancellation{'s' if cancelled > 1 else ''} dropped)")
    if http is not None:
        status = "no response" if http.status is None else http.status
        values = zip(_HEADERS, (http.content_type, http.www_authenticate, http.proxy_authenticate,
                                http.location, http.retry_after), strict=True)  # fmt: skip
        lines.append(
            f"http: {http.method or '?'} {http.url or '?'} -> {status}"
            + "".join(f"; {name}: {value}" for name, value in values if value)
            + ("; via proxy" if http.via_proxy else "")
        )
        if http.jsonrpc_code is not None:
            lines.append(f"body: JSON-RPC error {http.jsonrpc_code}: {clip(http.jsonrpc_message or '', 200)}")
        elif http.body_snippet:
            lines.append(f"body: {' '.join(http.body_snippet[:_MAX_BODY].split())}")
    if verdict.code == "MCP_PROCESS_EXITED":
        # "Connection closed" says nothing of when: before initialize is a server that cannot start at all
        # (a missing setting, or an import that broke with an SDK upgrade), later one that crashed.
        when = "during the session" if f.session_established else "before initialize"
        lines.append(f"the server process exited {when}")
    if f.stderr_tail:
        lines += ["stderr (tail):", f.stderr_tail[-_MAX_STDERR:].strip()]
    return "\n".join(lines)


def _attrs(f: _Facts, verdict: _Verdict, cancelled: int) -> dict[str, AttrValue]:
    os_error = f.first(lambda e: isinstance(e, OSError) and isinstance(e.errno, int))
    rpc = next((r for e in f.chain if (r := jsonrpc_error(e)) is not None), None)
    if rpc is None and f.http is not None and f.http.jsonrpc_code is not None:
        rpc = (f.http.jsonrpc_code, f.http.jsonrpc_message or "")
    attrs: dict[str, AttrValue] = {
        "signal": verdict.signal,
        "exception": qualified_name(f.chain[0]) if f.chain else None,
        "signal_exception": qualified_name(verdict.source) if verdict.source is not None else None,
        "errno": getattr(os_error, "errno", None),
        "jsonrpc_code": rpc[0] if rpc is not None else None,
        "tls_verify_code": getattr(verdict.source, "verify_code", None),
        "content_type": f.http.content_type if f.http is not None else None,
        "retry_after": f.http.retry_after if f.http is not None else None,
        "cancelled": cancelled or None,
        "stderr_error": _stderr_error(f.stderr_tail),
    }
    return {k: v for k, v in attrs.items() if v is not None}


def _stderr_error(tail: str | None) -> str | None:
    """The exception a Python server died of, from the last traceback line in its stderr tail."""
    found = _PY_ERROR.findall(tail[-_MAX_STDERR:]) if tail else []
    return found[-1] if found else None


def _message_safe(code: str, server: str | None) -> str:
    message = code_info(code).render(server or "the server")
    return clip(message if server else message[:1].upper() + message[1:], MAX_MESSAGE_SAFE)


def classification_for(
    code: str,
    *,
    server: str | None = None,
    detail: str = "",
    http_status: int | None = None,
    attrs: Mapping[str, AttrValue] | None = None,
    retryable: bool | None = None,
) -> Classification:
    """A `Classification` for a code chosen without an exception (e.g. an allow-list refusal)."""
    info = code_info(code)
    return Classification(
        code=code,
        severity=info.severity,
        retryable=info.retryable if retryable is None else retryable,
        message_safe=_message_safe(code, server),
        detail=clip(detail, MAX_DETAIL),
        action=info.action,
        http_status=http_status,
        attrs=dict(attrs or {}),
    )


def classify(
    exc: BaseException,
    *,
    touchpoint: str | None = None,
    transport: str | None = None,
    server: str | None = None,
    http: HttpObservation | None = None,
    session_established: bool = False,
    proxy_in_use: bool = False,
    stderr_tail: str | None = None,
    redactor: Redactor | None = None,
) -> Classification:
    """Classify an MCP failure (any exception, as raised) into a catalog code; never raises."""
    redactor = redactor or _DEFAULT_REDACTOR
    try:
        chain, cancelled = walk_chain(exc)
        for e in chain:
            if isinstance(passed := getattr(e, "classification", None), Classification):
                return passed  # already classified, emitted and raised by the host
        observed = http if http is not None and http.status is not None else None
        for e in chain if observed is None else ():
            if (observed := _observation_from(e, proxy_in_use)) is not None:
                break
        facts = _Facts(chain, touchpoint, transport, session_established, proxy_in_use, stderr_tail, observed)
        verdict = next((v for rule in _RULES if (v := rule(facts)) is not None), None)
        if verdict is None:
            verdict = _Verdict(
                "MCP_INTERNAL_ERROR", "cancelled" if cancelled and not chain else "unclassified"
            )
        attrs = _attrs(facts, verdict, cancelled)
        return classification_for(
            verdict.code,
            server=server,
            detail=redactor.text(_detail(facts, verdict, cancelled, http or observed)),
            http_status=observed.status if observed is not None else None,
            attrs={k: redactor.text(v) if isinstance(v, str) else v for k, v in attrs.items()},
            retryable=verdict.retryable,
        )
    except Exception as failure:  # an SDK never breaks its host: report the classifier's own failure
        detail = f"classifier failed ({type(failure).__name__}) on {type(exc).__name__}"
        return classification_for(
            "MCP_INTERNAL_ERROR", server=server, detail=detail, attrs={"signal": "error"}
        )
