"""Classification: turn an MCP SDK failure (1.x or 2.x) and what the hooks saw into a catalog code.

Here: `classify`, the order of the rules and the rules about connections, OAuth, processes and timeouts.
What the rules read and return is `classify_facts`; the HTTP-status and JSON-RPC rules are `classify_http`;
the detail and attrs of the result are `classify_report`.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Callable, Mapping

from mcpdiag.emitters.chain import (
    MAX_CHAIN_DEPTH,
    exception_chain,
    exception_names,
    exception_text,
    jsonrpc_error,
    walk_chain,
)
from mcpdiag.emitters.classify_facts import Classification, Facts, HttpObservation, Verdict, hit
from mcpdiag.emitters.classify_http import http_rule, jsonrpc_rule, observation_from
from mcpdiag.emitters.classify_report import detail_text, report_attrs
from mcpdiag.emitters.codes import code_info
from mcpdiag.emitters.event import MAX_DETAIL, MAX_MESSAGE_SAFE, AttrValue
from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.text import clip

__all__ = [
    "MAX_CHAIN_DEPTH",
    "Classification",
    "HttpObservation",
    "classification_for",
    "classify",
    "exception_chain",
]

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
# The user (or the authorization server on their behalf) refused the sign-in: RFC 6749 `access_denied`, or
# the OIDC answers that mean "the user has to sign in / consent" (`login_required`, `consent_required`, …).
_DENIED = re.compile(r"(?i)access[_ ]denied|\bdenied\b|\bdeclined\b|(?:login|consent|interaction)_required")


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


def _cut(f: Facts, source: BaseException | None, signal: str) -> Verdict | None:
    """A dropped connection: the process died (stdio), a stream was cut mid-session, or nobody answered."""
    if f.transport == "stdio":
        return hit("MCP_PROCESS_EXITED", signal, source)
    via = f.session_established or f.proxy_in_use
    return hit("MCP_PROXY_SSE_ISSUE" if via else "MCP_CONNECTION_REFUSED", signal, source)


def _oauth(f: Facts) -> Verdict | None:
    failure = f.named(*_OAUTH_NAMES)
    timeout = f.first(_is_timeout) if f.touchpoint == "oauth" or failure is not None else None
    # The authorization response was an error, and the host's callback said so: refused, or a setup fault.
    refused = f.named("OAuthCallbackError")
    denied = refused if refused is not None and any(_says(_DENIED, e) for e in f.chain) else None
    return (
        hit("MCP_OAUTH_TIMEOUT", "oauth timeout", timeout)
        or hit("MCP_AUTH_REQUIRED", "oauth denied", denied)
        or hit("MCP_OAUTH_FAILED", "oauth", failure)
    )


def _spawn(f: Facts) -> Verdict | None:
    if f.transport != "stdio" or f.session_established or f.touchpoint not in (None, "connect"):
        return None
    return hit("MCP_STDIO_SPAWN_FAILED", "stdio spawn", f.first(_is_spawn_error))


def _dns(f: Facts) -> Verdict | None:
    e = f.first(lambda e: isinstance(e, socket.gaierror))
    # EAI_AGAIN is "temporary failure in name resolution": the resolver failed, not the name.
    return hit("MCP_DNS_FAILURE", "dns", e, True if getattr(e, "errno", None) == _EAI_AGAIN else None)


def _tls(f: Facts) -> Verdict | None:
    e = f.first(lambda e: isinstance(e, ssl.SSLError))
    if f.session_established and isinstance(e, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return hit("MCP_PROXY_SSE_ISSUE", "tls stream cut", e)
    return hit("MCP_TLS_ERROR", "tls", e)


def _socket(f: Facts) -> Verdict | None:
    refused = "MCP_PROXY_SSE_ISSUE" if f.proxy_in_use else "MCP_CONNECTION_REFUSED"
    return (
        hit("MCP_PROXY_SSE_ISSUE", "proxy error", f.named("ProxyError"))
        or hit(refused, "refused", f.first(_is_refused))
        or _cut(f, f.first(_is_reset), "connection reset")
    )


def _timeout(f: Facts) -> Verdict | None:
    return hit("MCP_TIMEOUT", "timeout", f.first(_is_timeout))


def _transport(f: Facts) -> Verdict | None:
    found = (
        hit("MCP_PROXY_SSE_ISSUE", "sse content type", f.named("SSEError"))
        # mcpdiag's own finding on 1.x; 2.x says the same as -32000 "SSE stream ended without a response".
        or hit("MCP_PROXY_SSE_ISSUE", "answer lost", f.named("StreamCutError"))
        or _cut(f, f.named(*_STREAM_CUT), "stream cut")
        or hit("MCP_ENDPOINT_NOT_FOUND", "bad url", f.named("UnsupportedProtocol", "InvalidURL"))
        or hit("MCP_PROXY_SSE_ISSUE", "redirect loop", f.named("TooManyRedirects"))
    )
    if found is not None or (e := f.named("ConnectError")) is None:
        return found
    # The OS error was not kept: the wrapper's message is the best signal left.
    text = exception_text(e)
    if _DNS_TEXT.search(text):
        return hit("MCP_DNS_FAILURE", "dns (message)", e)
    if _TLS_TEXT.search(text):
        return hit("MCP_TLS_ERROR", "tls (message)", e)
    return _cut(f, e, "connect error")


def _is_invalid_message(e: BaseException) -> bool:
    names = exception_names(e)
    if "ValidationError" in names and type(e).__module__.startswith("pydantic"):
        return True
    return "JSONDecodeError" in names or (
        isinstance(e, RuntimeError) and bool(_PROTOCOL_TEXT.search(exception_text(e)))
    )


def _says(pattern: re.Pattern[str], exc: BaseException) -> bool:
    return bool(pattern.search(exception_text(exc)))


def _late(f: Facts) -> Verdict | None:
    return (
        hit("MCP_INSPECTION_FAILED", "invalid message", f.first(_is_invalid_message))
        or hit(
            "MCP_PROCESS_EXITED", "stdio closed", f.named(*_STDIO_CLOSED) if f.transport == "stdio" else None
        )
        or hit(
            "MCP_DNS_FAILURE", "dns (message)", f.first(lambda e: bool(_DNS_TEXT.search(exception_text(e))))
        )
        or hit("MCP_TLS_ERROR", "tls (message)", f.first(lambda e: bool(_TLS_TEXT.search(exception_text(e)))))
    )


def _tool_error(f: Facts) -> Verdict | None:
    """fastmcp's `Client.call_tool` raises `ToolError` for a tool call that returned an error result."""
    return hit("MCP_TOOL_ERROR", "tool error", f.named("ToolError")) if f.touchpoint == "tool_call" else None


def _oauth_leftover(f: Facts) -> Verdict | None:
    """Anything else that broke a sign-in flow (e.g. the host's callback server) is a failed sign-in."""
    return (
        hit("MCP_OAUTH_FAILED", "oauth (other)", f.chain[0] if f.chain else None)
        if f.touchpoint == "oauth"
        else None
    )


# Most specific first: the first rule that matches anywhere in the chain decides.
_RULES: tuple[Callable[[Facts], Verdict | None], ...] = (
    _oauth, _spawn, _dns, _tls, _socket, http_rule, _timeout, _transport, jsonrpc_rule, _tool_error, _late,
    _oauth_leftover,
)  # fmt: skip


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
            if (observed := observation_from(e, proxy_in_use)) is not None:
                break
        facts = Facts(chain, touchpoint, transport, session_established, proxy_in_use, stderr_tail, observed)
        verdict = next((v for rule in _RULES if (v := rule(facts)) is not None), None)
        if verdict is None:
            verdict = Verdict(
                "MCP_INTERNAL_ERROR", "cancelled" if cancelled and not chain else "unclassified"
            )
        attrs = report_attrs(facts, verdict, cancelled)
        return classification_for(
            verdict.code,
            server=server,
            detail=redactor.text(detail_text(facts, verdict, cancelled, http or observed)),
            http_status=observed.status if observed is not None else None,
            attrs={k: redactor.text(v) if isinstance(v, str) else v for k, v in attrs.items()},
            retryable=verdict.retryable,
        )
    except Exception as failure:  # an SDK never breaks its host: report the classifier's own failure
        detail = f"classifier failed ({type(failure).__name__}) on {type(exc).__name__}"
        return classification_for(
            "MCP_INTERNAL_ERROR", server=server, detail=detail, attrs={"signal": "error"}
        )
