"""The classifier: every failure shape in shared/notes/mcp-failure-shapes.md maps to its catalog code.

Exceptions are real objects built the way the SDKs build them (real `httpx2`/`httpx` classes, the installed
SDK line's `MCPError`/`McpError`, real OAuth errors, real pydantic `ValidationError`s), and where it is cheap
they are provoked for real: loopback sockets, a trustme TLS server, and the installed line's `ClientSession`s
over a `MockTransport` of its httpx. `make test` runs this module on 2.x and on the latest 1.x.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpcore2
import httpx
import httpx2
import pydantic
import pytest
import trustme
from mcp import ClientSession
from mcp.client.auth import OAuthFlowError, OAuthRegistrationError, OAuthTokenError
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from mcpdiag.emitters.classifier import (
    MAX_CHAIN_DEPTH,
    Classification,
    HttpObservation,
    classify,
    exception_chain,
)
from mcpdiag.emitters.codes import CATALOG
from mcpdiag.emitters.errors import StreamCutError
from mcpdiag.emitters.event import MAX_DETAIL, MAX_MESSAGE_SAFE
from mcpdiag.emitters.mcp.oauth import OAuthCallbackError
from mcpdiag.emitters.mcp.sdk import SDK_LINE, seconds, types
from mcpdiag.emitters.mcp.sdk import McpError as SdkMcpError
from mcpdiag.emitters.mcp.sdk import http as sdk_http
from mcpdiag.emitters.redact import Redactor

ErrorData, JSONRPCMessage = types.ErrorData, types.JSONRPCMessage

ROOT = Path(__file__).resolve().parents[2]
URL = "https://mcp.example.com/mcp"
TASK_GROUP = "unhandled errors in a TaskGroup (1 sub-exception)"


# --- exceptions as the SDKs build them -------------------------------------------------------------------


class McpError(Exception):
    """mcp 1.x's `McpError`, reproduced as 1.x defines it (1.x and 2.x cannot share one environment): the
    1.x shapes are checked under 2.x too."""

    error: ErrorData

    def __init__(self, error: ErrorData) -> None:
        super().__init__(error.message)
        self.error = error


McpError.__module__ = "mcp.shared.exceptions"


def eg(*excs: BaseException) -> BaseExceptionGroup[BaseException]:
    """What escapes an anyio task group."""
    return BaseExceptionGroup(TASK_GROUP, list(excs))


def eg2(exc: BaseException) -> BaseExceptionGroup[BaseException]:
    """What escapes the transport *and* the session task groups: nested twice."""
    return eg(eg(exc))


def mcp_error(code: int, message: str) -> Exception:
    """The installed line's error as its session raises it for a JSON-RPC error response (2.x `MCPError`,
    1.x `McpError`)."""
    if SDK_LINE == 2:
        return SdkMcpError.from_error_data(ErrorData(code=code, message=message))
    return SdkMcpError(ErrorData(code=code, message=message))


def mcp1_error(code: int, message: str) -> McpError:
    return McpError(ErrorData(code=code, message=message))


def connect_error(
    os_error: BaseException, message: str | None = None, *, http: Any = httpx2, core: Any = httpcore2
) -> Any:
    """httpx2's chain: the OS error survives only as httpcore2's args[0] and a suppressed __context__."""
    name = "ReadError" if isinstance(os_error, ConnectionResetError) else "ConnectError"
    inner = getattr(core, name)(os_error)
    inner.__context__ = os_error
    inner.__suppress_context__ = True
    outer = getattr(http, name)(str(os_error) if message is None else message)
    outer.__cause__ = inner
    outer.__context__ = inner
    return outer


def connect_error_1x() -> httpx.ConnectError:
    """The same chain from mcp 1.x's httpx/httpcore: different classes, same names."""
    refused = ConnectionRefusedError(111, "Connection refused")
    return connect_error(refused, http=httpx, core=httpcore)  # type: ignore[no-any-return]


def reset_error() -> httpx2.ReadError:
    return connect_error(ConnectionResetError(104, "Connection reset by peer"))  # type: ignore[no-any-return]


def bare_connect_error(os_error: BaseException, message: str) -> httpx2.ConnectError:
    """The minimal shape: only a suppressed __context__ carries the OS error."""
    outer = httpx2.ConnectError(message)
    outer.__context__ = os_error
    outer.__suppress_context__ = True
    return outer


def cert_error() -> ssl.SSLCertVerificationError:
    e = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)"
    )
    e.verify_code, e.verify_message = 18, "self-signed certificate"
    return e


def status_error(
    module: Any, status: int, headers: dict[str, str] | None = None, url: str = URL
) -> BaseException:
    """A genuine `HTTPStatusError` from `raise_for_status()` on a response from a mock transport."""
    transport = module.MockTransport(lambda request: module.Response(status, headers=headers or {}))
    with module.Client(transport=transport) as client:
        response = client.post(url)
    try:
        response.raise_for_status()
    except module.HTTPStatusError as exc:
        return exc  # type: ignore[no-any-return]
    raise AssertionError("no HTTPStatusError")


def validation_error(line: str) -> pydantic.ValidationError:
    try:
        pydantic.TypeAdapter(JSONRPCMessage).validate_json(line)
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


def timeout_chain() -> httpx2.ReadTimeout:
    exc = httpx2.ReadTimeout("")
    exc.__context__ = TimeoutError()
    return exc


def callback_error(host: BaseException) -> OAuthCallbackError:
    """What the session's OAuth observer raises when the host's `callback_handler` failed."""
    err = OAuthCallbackError(f"the sign-in callback failed: {host}")
    err.__cause__ = host
    return err


def stream_cut(cause: BaseException | None) -> BaseException:
    """What `open_session` raises on 1.x when the hook saw a request's answer lost."""
    err = StreamCutError("the event stream ended before the answer to request 0")
    err.__cause__ = cause
    return err


def obs(status: int, **kw: Any) -> HttpObservation:
    return HttpObservation(status=status, method=kw.pop("method", "POST"), url=kw.pop("url", URL), **kw)


BEARER = 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"'
SCOPE = 'Bearer error="insufficient_scope", scope="files:read"'
HTML = "text/html; charset=utf-8"
SESSION = {"session_established": True}
OAUTH = {"touchpoint": "oauth"}
JSON = "application/json"
TOOL_CALL = {"touchpoint": "tool_call", **SESSION}
IMPORT_ERROR = (
    'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
    "ModuleNotFoundError: No module named 'mcp.server.fastmcp'\n"
)

# (id, exception factory, classify kwargs, code, retryable)
CASES: list[tuple[str, Callable[[], BaseException], dict[str, Any], str, bool]] = [
    # --- reachability -----------------------------------------------------------------------------------
    ("dns-eai-noname", lambda: eg(connect_error(socket.gaierror(-2, "Name or service not known"))),
     {}, "MCP_DNS_FAILURE", False),
    ("dns-eai-again", lambda: eg(connect_error(socket.gaierror(-3, "Temporary failure in name resolution"))),
     {}, "MCP_DNS_FAILURE", True),
    ("dns-eai-nodata-empty-message", lambda: eg(bare_connect_error(socket.gaierror(-5, "No data"), "")),
     {}, "MCP_DNS_FAILURE", False),
    ("dns-message-only", lambda: RuntimeError("getaddrinfo failed for mcp.example.com"),
     {}, "MCP_DNS_FAILURE", False),
    ("refused", lambda: eg(bare_connect_error(ConnectionRefusedError(111, "Connection refused"),
                                              "All connection attempts failed")),
     {}, "MCP_CONNECTION_REFUSED", True),
    ("refused-httpx-1x", lambda: eg(connect_error_1x()), {}, "MCP_CONNECTION_REFUSED", True),
    ("refused-by-proxy", lambda: eg(connect_error(ConnectionRefusedError(111, "Connection refused"))),
     {"proxy_in_use": True}, "MCP_PROXY_SSE_ISSUE", False),
    ("host-unreachable", lambda: connect_error(OSError(errno.EHOSTUNREACH, "No route to host")),
     {}, "MCP_CONNECTION_REFUSED", True),
    ("net-unreachable", lambda: connect_error(OSError(errno.ENETUNREACH, "Network is unreachable")),
     {}, "MCP_CONNECTION_REFUSED", True),
    ("reset-before-session", lambda: eg(reset_error()), {}, "MCP_CONNECTION_REFUSED", True),
    ("reset-mid-session", lambda: eg(reset_error()), SESSION, "MCP_PROXY_SSE_ISSUE", False),
    ("connect-error-without-cause", lambda: eg(httpx2.ConnectError("All connection attempts failed")),
     {}, "MCP_CONNECTION_REFUSED", True),
    # --- TLS --------------------------------------------------------------------------------------------
    ("tls-self-signed", lambda: eg(connect_error(cert_error())), {}, "MCP_TLS_ERROR", False),
    ("tls-wrong-version", lambda: eg(connect_error(
        ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"))),
     {}, "MCP_TLS_ERROR", False),
    ("tls-eof-empty-message", lambda: eg(connect_error(ssl.SSLEOFError(8, "EOF occurred"), "")),
     {}, "MCP_TLS_ERROR", False),
    ("tls-message-only", lambda: httpx2.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify"),
     {}, "MCP_TLS_ERROR", False),
    # --- auth -------------------------------------------------------------------------------------------
    ("401-2x-hidden-with-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(401, www_authenticate=BEARER)}, "MCP_AUTH_REQUIRED", False),
    ("401-1x-status-error", lambda: eg(status_error(httpx, 401, {"www-authenticate": BEARER})),
     {}, "MCP_AUTH_REQUIRED", False),
    ("401-on-sse-get", lambda: status_error(httpx2, 401), {"transport": "sse"}, "MCP_AUTH_REQUIRED", False),
    ("403-insufficient-scope-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(403, www_authenticate=SCOPE)}, "MCP_AUTH_REQUIRED", False),
    ("403-insufficient-scope-1x", lambda: eg(status_error(httpx, 403, {"www-authenticate": SCOPE})),
     {}, "MCP_AUTH_REQUIRED", False),
    ("oauth-user-never-finished", lambda: eg(TimeoutError()), OAUTH, "MCP_OAUTH_TIMEOUT", True),
    ("oauth-endpoint-timed-out", lambda: eg(timeout_chain()), OAUTH, "MCP_OAUTH_TIMEOUT", True),
    ("oauth-token-invalid-grant", lambda: eg(OAuthTokenError("Token exchange failed (400): invalid_grant")),
     {}, "MCP_OAUTH_FAILED", False),
    ("oauth-metadata-500", lambda: eg(OAuthFlowError("Protected resource metadata request failed: HTTP 500")),
     {"http": obs(500, method="GET")}, "MCP_OAUTH_FAILED", False),
    ("oauth-registration", lambda: OAuthRegistrationError("Registration failed: 400"),
     {"touchpoint": "oauth"}, "MCP_OAUTH_FAILED", False),
    # --- proxies, captive pages, cut streams ------------------------------------------------------------
    ("200-html-2x", lambda: eg2(mcp_error(-32600, "Unexpected content type: text/html; charset=utf-8")),
     {}, "MCP_PROXY_SSE_ISSUE", False),
    ("200-html-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(200, content_type=HTML, body_snippet="<html><title>Sign in</title>")},
     "MCP_PROXY_SSE_ISSUE", False),
    ("sse-get-html", lambda: eg(httpx2.SSEError(
        "Expected response with content type 'text/event-stream', got 'text/html'")),
     {"transport": "sse"}, "MCP_PROXY_SSE_ISSUE", False),
    ("502-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(502, content_type=HTML)}, "MCP_PROXY_SSE_ISSUE", False),
    ("502-sse-status-error", lambda: status_error(httpx2, 502, {"content-type": HTML}),
     {"transport": "sse"}, "MCP_PROXY_SSE_ISSUE", False),
    ("504-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(504)}, "MCP_PROXY_SSE_ISSUE", False),
    ("403-block-page-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(403, content_type=HTML, via_proxy=True)}, "MCP_DOMAIN_NOT_ALLOWED", False),
    ("403-block-page-1x", lambda: eg(status_error(httpx, 403, {"content-type": HTML})),
     {}, "MCP_DOMAIN_NOT_ALLOWED", False),
    ("421-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(421)}, "MCP_DOMAIN_NOT_ALLOWED", False),
    ("421-1x", lambda: eg(status_error(httpx, 421)), {}, "MCP_DOMAIN_NOT_ALLOWED", False),
    ("407-plain-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(407, proxy_authenticate='Basic realm="corp"', via_proxy=True)},
     "MCP_PROXY_SSE_ISSUE", False),
    ("407-connect", lambda: eg(httpx2.ProxyError("407 Proxy Authentication Required")),
     {"proxy_in_use": True}, "MCP_PROXY_SSE_ISSUE", False),
    ("sse-cut-before-event", lambda: eg2(mcp_error(-32000, "SSE stream ended without a response")),
     {}, "MCP_PROXY_SSE_ISSUE", False),
    ("sse-reconnect-exhausted", lambda: eg2(mcp_error(
        -32000, "SSE stream ended and reconnection attempts were exhausted")),
     SESSION, "MCP_PROXY_SSE_ISSUE", False),
    ("sse-stream-failed", lambda: eg2(mcp_error(-32000, "SSE stream failed: Expected response ...")),
     SESSION, "MCP_PROXY_SSE_ISSUE", False),
    ("json-not-jsonrpc", lambda: eg2(mcp_error(-32700, "Failed to parse JSON response: 11 validation")),
     {}, "MCP_PROXY_SSE_ISSUE", False),
    ("json-not-jsonrpc-at-inspection", lambda: eg2(mcp_error(-32700, "Failed to parse JSON response: x")),
     {"touchpoint": "inspection"}, "MCP_INSPECTION_FAILED", False),
    ("307-other-origin-2x", lambda: eg2(mcp_error(
        -32600, "Redirect to https://login.example.net/sso not followed; use that URL as the endpoint")),
     {}, "MCP_PROXY_SSE_ISSUE", False),
    ("307-other-origin-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(307, location="https://login.example.net/sso?next=/mcp")}, "MCP_PROXY_SSE_ISSUE", False),
    ("chunked-read-cut-mid-session", lambda: eg(httpx2.RemoteProtocolError(
        "peer closed connection without sending complete message body (incomplete chunked read)")),
     SESSION, "MCP_PROXY_SSE_ISSUE", False),
    ("server-disconnected-before-session", lambda: eg(httpx2.RemoteProtocolError(
        "Server disconnected without sending a response.")),
     {}, "MCP_CONNECTION_REFUSED", True),
    ("server-killed-during-tool-call", lambda: eg2(mcp_error(-32000, "SSE stream ended without a response")),
     {"touchpoint": "tool_call", **SESSION}, "MCP_PROXY_SSE_ISSUE", False),
    # --- timeouts ---------------------------------------------------------------------------------------
    ("httpx-read-timeout", lambda: eg(timeout_chain()), {}, "MCP_TIMEOUT", True),
    ("httpx-connect-timeout", lambda: eg(httpx2.ConnectTimeout("")), {}, "MCP_TIMEOUT", True),
    ("httpx-pool-timeout-1x", lambda: httpx.PoolTimeout(""), {}, "MCP_TIMEOUT", True),
    ("session-timeout-2x", lambda: eg2(mcp_error(-32001, "Request 'initialize' timed out")),
     {}, "MCP_TIMEOUT", True),
    ("session-timeout-1x", lambda: eg(mcp1_error(408, "Timed out while waiting for response to Request")),
     {}, "MCP_TIMEOUT", True),
    ("tool-call-timeout", lambda: mcp_error(-32001, "Request 'tools/call' timed out"),
     {"touchpoint": "tool_call", **SESSION}, "MCP_TIMEOUT", True),
    ("legacy-sse-post-502-timeout", lambda: eg2(mcp_error(-32001, "Request 'initialize' timed out")),
     {"transport": "sse"}, "MCP_TIMEOUT", True),
    ("legacy-sse-post-502-hook", lambda: eg2(mcp_error(-32001, "Request 'initialize' timed out")),
     {"transport": "sse", "http": obs(502, content_type=HTML)}, "MCP_PROXY_SSE_ISSUE", False),
    ("type-beats-message", lambda: TimeoutError("Name or service not known"), {}, "MCP_TIMEOUT", True),
    # --- endpoint, session, server ----------------------------------------------------------------------
    ("404-first-request-2x", lambda: eg2(mcp_error(-32601, "Not Found")),
     {}, "MCP_ENDPOINT_NOT_FOUND", False),
    ("404-first-request-1x", lambda: eg(mcp1_error(32600, "Session terminated")),
     {}, "MCP_ENDPOINT_NOT_FOUND", False),
    ("404-hook-before-session", lambda: eg2(mcp_error(-32601, "Not Found")),
     {"http": obs(404)}, "MCP_ENDPOINT_NOT_FOUND", False),
    ("404-after-session", lambda: mcp_error(-32600, "Session terminated"),
     SESSION, "MCP_SESSION_EXPIRED", True),
    ("404-after-session-1x", lambda: mcp1_error(32600, "Session terminated"),
     SESSION, "MCP_SESSION_EXPIRED", True),
    ("404-hook-after-session", lambda: mcp_error(-32600, "Session terminated"),
     {"http": obs(404), **SESSION}, "MCP_SESSION_EXPIRED", True),
    ("405-on-post-before-session", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(405)}, "MCP_ENDPOINT_NOT_FOUND", False),
    ("503-jsonrpc-overloaded", lambda: eg2(mcp_error(-32000, "overloaded")), {}, "MCP_SERVER_ERROR", True),
    ("500-json-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(500, content_type="application/json")}, "MCP_SERVER_ERROR", True),
    ("501-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(501)}, "MCP_SERVER_ERROR", True),
    ("503-html-via-proxy", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(503, content_type=HTML, via_proxy=True)}, "MCP_PROXY_SSE_ISSUE", False),
    ("503-html-proxy-retry-after", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(503, content_type=HTML, retry_after="30"), "proxy_in_use": True},
     "MCP_PROXY_SSE_ISSUE", True),
    ("429-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {"http": obs(429, retry_after="5")}, "MCP_RATE_LIMITED", True),
    ("429-1x", lambda: eg(status_error(httpx, 429)), {}, "MCP_RATE_LIMITED", True),
    ("status-hidden-no-hook", lambda: eg2(mcp_error(-32603, "Server returned an error response")),
     {}, "MCP_INTERNAL_ERROR", True),
    ("server-internal-error-at-connect", lambda: eg2(mcp_error(-32603, "Internal error")),
     {"touchpoint": "connect"}, "MCP_SERVER_ERROR", True),
    ("bad-url-scheme", lambda: httpx2.UnsupportedProtocol("Request URL has an unsupported protocol 'htp://'."),
     {}, "MCP_ENDPOINT_NOT_FOUND", False),
    # --- inspection -------------------------------------------------------------------------------------
    ("method-not-found-at-initialize", lambda: eg2(mcp_error(-32601, "Method not found")),
     {"touchpoint": "connect"}, "MCP_INSPECTION_FAILED", False),
    ("method-not-found-at-list-tools", lambda: mcp_error(-32601, "Method not found"),
     {"touchpoint": "inspection", **SESSION}, "MCP_INSPECTION_FAILED", False),
    ("unsupported-protocol-version", lambda: RuntimeError(
        "Unsupported protocol version from the server: 1999-01-01"),
     {"touchpoint": "connect"}, "MCP_INSPECTION_FAILED", False),
    ("invalid-jsonrpc-line", lambda: validation_error('{"hello": "banner"}'),
     {"touchpoint": "inspection"}, "MCP_INSPECTION_FAILED", False),
    # --- stdio ------------------------------------------------------------------------------------------
    ("stdio-command-missing", lambda: FileNotFoundError(2, "No such file or directory"),
     {"touchpoint": "connect", "transport": "stdio"}, "MCP_STDIO_SPAWN_FAILED", False),
    ("stdio-not-executable", lambda: OSError(errno.ENOEXEC, "Exec format error"),
     {"touchpoint": "connect", "transport": "stdio"}, "MCP_STDIO_SPAWN_FAILED", False),
    ("stdio-a-directory", lambda: PermissionError(13, "Permission denied"),
     {"touchpoint": "connect", "transport": "stdio"}, "MCP_STDIO_SPAWN_FAILED", False),
    ("stdio-exits-at-once", lambda: eg2(mcp_error(-32000, "Connection closed")),
     {"transport": "stdio", "stderr_tail": "fatal: missing API_KEY\n"}, "MCP_PROCESS_EXITED", True),
    ("stdio-banner-line", lambda: validation_error("Starting server v1.2..."),
     {"transport": "stdio"}, "MCP_INSPECTION_FAILED", False),
    ("stdio-silent", lambda: eg2(mcp_error(-32001, "Request 'initialize' timed out")),
     {"transport": "stdio"}, "MCP_TIMEOUT", True),
    ("stdio-pipe-broken", lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"),
     {"transport": "stdio", **SESSION}, "MCP_PROCESS_EXITED", True),
    # --- tool calls -------------------------------------------------------------------------------------
    ("tool-unknown-32602", lambda: mcp_error(-32602, "Unknown tool: nope"),
     {"touchpoint": "tool_call", **SESSION}, "MCP_TOOL_ERROR", False),
    ("tool-method-not-found", lambda: mcp_error(-32601, "Method not found"),
     {"touchpoint": "tool_call", **SESSION}, "MCP_TOOL_ERROR", False),
    ("tool-raised-mcperror", lambda: mcp_error(-32002, "Resource not found"),
     {"touchpoint": "tool_call", **SESSION}, "MCP_TOOL_ERROR", False),
    ("tool-404-with-jsonrpc-body", lambda: mcp_error(-32601, "Method not found"),
     {"touchpoint": "tool_call", "http": obs(404, content_type="application/json"), **SESSION},
     "MCP_TOOL_ERROR", False),
    # --- the 2026 spec's codes: answered in the body (2.x passes it on), or a 400 only the hook read (1.x) --
    ("2026-header-mismatch", lambda: eg2(mcp_error(-32020, "Mcp-Method header does not match the body")),
     {"http": obs(400, content_type=JSON, jsonrpc_code=-32020)}, "MCP_PROXY_SSE_ISSUE", False),
    ("2026-header-mismatch-1x", lambda: eg(status_error(httpx, 400, {"content-type": JSON})),
     {"http": obs(400, content_type=JSON, jsonrpc_code=-32020, jsonrpc_message="Mcp-Name header ...")},
     "MCP_PROXY_SSE_ISSUE", False),
    ("2026-missing-client-capability", lambda: mcp_error(-32021, "tools/call requires elicitation"),
     TOOL_CALL, "MCP_INSPECTION_FAILED", False),
    ("2026-missing-client-capability-1x", lambda: eg(status_error(httpx, 400, {"content-type": JSON})),
     {"http": obs(400, content_type=JSON, jsonrpc_code=-32021), **TOOL_CALL}, "MCP_INSPECTION_FAILED", False),
    ("2026-unsupported-protocol-version", lambda: eg2(mcp_error(-32022, "connection is serving 2026-07-28")),
     {"touchpoint": "connect"}, "MCP_INSPECTION_FAILED", False),
    ("2026-unsupported-protocol-version-1x", lambda: eg(status_error(httpx, 400, {"content-type": JSON})),
     {"http": obs(400, content_type=JSON, jsonrpc_code=-32022)}, "MCP_INSPECTION_FAILED", False),
    ("url-elicitation-required", lambda: mcp_error(-32042, "URL elicitation required"),
     TOOL_CALL, "MCP_AUTH_REQUIRED", False),
    ("401-with-a-jsonrpc-body-the-status-decides", lambda: eg(status_error(httpx, 401)),
     {"http": obs(401, content_type=JSON, www_authenticate=BEARER, jsonrpc_code=-32600)},
     "MCP_AUTH_REQUIRED", False),
    ("404-jsonrpc-answer-in-the-body-1x", lambda: eg(mcp1_error(32600, "Session terminated")),
     {"http": obs(404, content_type=JSON, jsonrpc_code=-32601, jsonrpc_message="Method not found")},
     "MCP_INSPECTION_FAILED", False),
    ("404-session-not-found-2x", lambda: mcp_error(-32600, "Session not found"),
     {"http": obs(404, content_type=JSON), **SESSION}, "MCP_SESSION_EXPIRED", True),
    ("404-session-not-found-no-hook", lambda: mcp_error(-32600, "Session not found"),
     SESSION, "MCP_SESSION_EXPIRED", True),
    # --- OAuth's hard failures --------------------------------------------------------------------------
    ("oauth-issuer-mismatch", lambda: eg(OAuthFlowError(
        "Authorization server metadata issuer mismatch: https://a.example != https://b.example")),
     {}, "MCP_OAUTH_FAILED", False),
    ("oauth-iss-mismatch", lambda: eg(OAuthFlowError("Authorization response iss mismatch: x != y")),
     {}, "MCP_OAUTH_FAILED", False),
    ("oauth-consent-refused", lambda: eg(callback_error(
        RuntimeError("Access was denied by the authorization server."))), OAUTH, "MCP_AUTH_REQUIRED", False),
    ("oauth-access-denied-code", lambda: eg(callback_error(ValueError("error=access_denied"))),
     OAUTH, "MCP_AUTH_REQUIRED", False),
    ("oauth-login-required", lambda: callback_error(RuntimeError("Authorization failed: login_required")),
     OAUTH, "MCP_AUTH_REQUIRED", False),
    ("oauth-offline-access-refused", lambda: eg(callback_error(
        RuntimeError("Authorization failed: offline_access is not allowed"))),
     OAUTH, "MCP_OAUTH_FAILED", False),
    ("oauth-callback-server-failed", lambda: eg(callback_error(
        OSError(errno.EADDRINUSE, "callback port already in use"))), OAUTH, "MCP_OAUTH_FAILED", False),
    ("oauth-anything-else-at-oauth", lambda: eg(KeyError("state")), OAUTH, "MCP_OAUTH_FAILED", False),
    ("oauth-server-refused-connection", lambda: eg(connect_error(
        ConnectionRefusedError(111, "Connection refused"))), OAUTH, "MCP_CONNECTION_REFUSED", True),
    # --- version drift ----------------------------------------------------------------------------------
    ("stdio-dies-on-import", lambda: eg2(mcp_error(-32000, "Connection closed")),
     {"transport": "stdio", "stderr_tail": IMPORT_ERROR}, "MCP_PROCESS_EXITED", True),
    # --- mcpdiag's own finding on 1.x: the answer was lost on the way -----------------------------------
    ("answer-lost-before-session", lambda: stream_cut(httpx.RemoteProtocolError("incomplete chunked read")),
     {}, "MCP_PROXY_SSE_ISSUE", False),
    ("answer-lost-html-200", lambda: stream_cut(None),
     {"http": obs(200, content_type=HTML)}, "MCP_PROXY_SSE_ISSUE", False),
    # --- everything else --------------------------------------------------------------------------------
    ("unknown", lambda: ValueError("something else"), {}, "MCP_INTERNAL_ERROR", True),
    ("keyboard-interrupt", lambda: KeyboardInterrupt(), {}, "MCP_INTERNAL_ERROR", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "kwargs", "code", "retryable"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_failure_shape_maps_to_its_catalog_code(
    make: Callable[[], BaseException], kwargs: dict[str, Any], code: str, retryable: bool
) -> None:
    result = classify(make(), server="github", **kwargs)
    info = CATALOG[code]
    assert (result.code, result.retryable) == (code, retryable), result.detail
    assert (result.severity, result.action) == (info.severity, info.action)
    assert result.message_safe == info.render("github")


def test_every_failure_code_in_the_catalog_has_a_case() -> None:
    covered = {case[3] for case in CASES}
    assert {info.code for info in CATALOG.values() if info.failure} <= covered


# --- the chain: groups, hidden OS errors, cancellations, cycles ---------------------------------------------


def test_os_error_in_a_suppressed_context_is_found_and_reported_in_attrs() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    exc = eg2(bare_connect_error(refused, "All connection attempts failed"))
    result = classify(exc)
    assert result.code == "MCP_CONNECTION_REFUSED"
    assert result.attrs["exception"] == "httpx2.ConnectError"
    assert result.attrs["signal_exception"] == "ConnectionRefusedError"
    assert result.attrs["errno"] == 111
    assert "ConnectionRefusedError [errno 111]" in result.detail


def test_gaierror_anywhere_beats_wrappers_and_other_leaves() -> None:
    dns = connect_error(socket.gaierror(-2, "Name or service not known"), "")
    exc = eg(httpx2.ConnectTimeout(""), eg(mcp_error(-32603, "Server returned an error response"), dns))
    assert classify(exc).code == "MCP_DNS_FAILURE"


def test_exception_chain_flattens_groups_and_follows_cause_context_and_args() -> None:
    os_error = ConnectionRefusedError(111, "Connection refused")
    inner = httpcore2.ConnectError(os_error)  # args[0] only: no context set
    outer = httpx2.ConnectError("All connection attempts failed")
    outer.__cause__ = inner
    other = ValueError("other")
    chain = exception_chain(eg(outer, eg(other, outer)))
    assert chain == [outer, inner, os_error, other]


def test_cancellations_are_dropped_and_counted() -> None:
    refused = bare_connect_error(ConnectionRefusedError(111, "Connection refused"), "")
    exc = BaseExceptionGroup("outer", [asyncio.CancelledError(), eg(asyncio.CancelledError(), refused)])
    assert not any(isinstance(e, asyncio.CancelledError) for e in exception_chain(exc))
    result = classify(exc)
    assert result.code == "MCP_CONNECTION_REFUSED"
    assert result.attrs["cancelled"] == 2


def test_only_cancellations_is_an_internal_error_marked_cancelled() -> None:
    trio_cancelled = type("Cancelled", (BaseException,), {"__module__": "trio"})
    result = classify(BaseExceptionGroup("g", [asyncio.CancelledError(), trio_cancelled()]))
    assert (result.code, result.attrs["signal"]) == ("MCP_INTERNAL_ERROR", "cancelled")
    assert "2 cancellations dropped" in result.detail


def test_the_context_of_a_cancellation_is_still_walked() -> None:
    cancelled = asyncio.CancelledError()
    cancelled.__context__ = mcp_error(-32001, "Request 'tools/call' timed out")
    assert classify(cancelled, touchpoint="tool_call").code == "MCP_TIMEOUT"


def test_anyio_flow_control_behind_a_cancellation_is_not_part_of_the_failure() -> None:
    """`anyio.WouldBlock`, the context of a cancelled stream read, is skipped; what it links to is not."""
    token_error = OAuthTokenError("Token exchange failed (400): invalid_grant")
    would_block = anyio.WouldBlock()
    would_block.__context__ = token_error
    cancelled = asyncio.CancelledError()
    cancelled.__context__ = would_block
    assert exception_chain(cancelled) == [token_error]
    result = classify(cancelled)
    assert result.code == "MCP_OAUTH_FAILED"
    assert "WouldBlock" not in result.detail


def test_a_cycle_in_context_terminates() -> None:
    a, b = httpx2.ConnectError(""), socket.gaierror(-2, "Name or service not known")
    a.__context__, b.__context__ = b, a
    assert exception_chain(a) == [a, b]
    assert classify(a).code == "MCP_DNS_FAILURE"


def _nested(depth: int, leaf: BaseException) -> BaseException:
    exc = leaf
    for i in range(depth):
        wrapper = RuntimeError(f"wrapper {i}")
        wrapper.__cause__ = exc
        exc = wrapper
    return exc


def test_chain_depth_is_bounded() -> None:
    assert classify(_nested(5, socket.gaierror(-2, "x"))).code == "MCP_DNS_FAILURE"
    deep = _nested(MAX_CHAIN_DEPTH + 10, socket.gaierror(-2, "x"))
    assert len(exception_chain(deep)) == MAX_CHAIN_DEPTH + 1
    assert classify(deep).code == "MCP_INTERNAL_ERROR"


# --- never raises ----------------------------------------------------------------------------------------


class Unprintable(ConnectionRefusedError):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class Hostile(Exception):
    @property
    def response(self) -> Any:
        raise ValueError("attribute access blew up")


def test_an_unprintable_exception_is_still_classified() -> None:
    result = classify(eg(Unprintable(111, "Connection refused")))
    assert result.code == "MCP_CONNECTION_REFUSED"
    assert "<unprintable Unprintable>" in result.detail


def test_a_classifier_failure_returns_internal_error_naming_it() -> None:
    result = classify(eg(Hostile("x")), server="github")
    assert result.code == "MCP_INTERNAL_ERROR"
    assert result.detail == "classifier failed (ValueError) on ExceptionGroup"
    assert result.message_safe == CATALOG["MCP_INTERNAL_ERROR"].render("github")


# --- what the classification carries ---------------------------------------------------------------------


def test_message_safe_is_the_catalog_message_never_exception_text() -> None:
    marker = secrets.token_hex(8)
    result = classify(eg(mcp_error(-32000, f"overloaded {marker}")))
    assert marker not in result.message_safe
    assert marker in result.detail
    assert result.message_safe.startswith("The server ran into a problem")


def test_detail_and_message_respect_the_wire_limits() -> None:
    leaves = [ValueError("x" * 5000) for _ in range(20)]
    result = classify(eg(*leaves), server="s" * 128, stderr_tail="e" * 10_000)
    assert len(result.detail) <= MAX_DETAIL
    assert len(result.message_safe) <= MAX_MESSAGE_SAFE
    assert "… 8 more" in result.detail


def test_detail_names_tls_verification_failure() -> None:
    result = classify(eg(connect_error(cert_error())))
    assert result.attrs["tls_verify_code"] == 18
    assert "[verify 18: self-signed certificate]" in result.detail


def test_detail_carries_the_stderr_tail_of_an_exited_process() -> None:
    tail = "Traceback ...\nfatal: missing API_KEY\n"
    result = classify(eg2(mcp_error(-32000, "Connection closed")), transport="stdio", stderr_tail=tail)
    assert result.code == "MCP_PROCESS_EXITED"
    assert result.detail.endswith("stderr (tail):\nTraceback ...\nfatal: missing API_KEY")


@pytest.mark.parametrize(
    ("established", "when"), [(False, "before initialize"), (True, "during the session")]
)
def test_an_exited_process_says_when_and_what_it_died_of(established: bool, when: str) -> None:
    """ "Connection closed" from stdio says whether the server ever started, and names the Python error
    its stderr ends with (e.g. an import an SDK upgrade broke)."""
    found = classify(
        eg2(mcp_error(-32000, "Connection closed")),
        transport="stdio",
        stderr_tail=IMPORT_ERROR,
        session_established=established,
    )
    assert found.code == "MCP_PROCESS_EXITED"
    assert f"the server process exited {when}" in found.detail
    assert "No module named 'mcp.server.fastmcp'" in found.detail
    assert found.attrs["stderr_error"] == "ModuleNotFoundError"


def test_a_stderr_without_a_python_error_names_none() -> None:
    found = classify(
        eg2(mcp_error(-32000, "Connection closed")), transport="stdio", stderr_tail="fatal: no key\n"
    )
    assert "stderr_error" not in found.attrs


def test_a_jsonrpc_error_the_hook_read_is_in_detail_and_attrs() -> None:
    """A 400 whose body answered with a JSON-RPC error reports that error, not a body snippet."""
    seen = obs(400, content_type=JSON, jsonrpc_code=-32022, jsonrpc_message="no common protocol version")
    found = classify(eg(status_error(httpx, 400)), http=seen)
    assert found.attrs["jsonrpc_code"] == -32022
    assert "JSON-RPC error -32022: no common protocol version" in found.detail


def test_detail_and_attrs_describe_the_http_exchange() -> None:
    seen = obs(502, content_type=HTML, body_snippet="<html>\n<h1>Bad Gateway</h1>", via_proxy=True)
    result = classify(eg2(mcp_error(-32603, "Server returned an error response")), http=seen)
    assert result.http_status == 502
    assert result.attrs["jsonrpc_code"] == -32603
    assert result.attrs["content_type"] == HTML
    assert f"http: POST {URL} -> 502; content-type: {HTML}; via proxy" in result.detail
    assert "body: <html> <h1>Bad Gateway</h1>" in result.detail


def test_http_status_comes_from_a_1x_status_error() -> None:
    result = classify(eg(status_error(httpx, 401, {"www-authenticate": BEARER})))
    assert result.http_status == 401
    assert f"www-authenticate: {BEARER}" in result.detail


def test_a_1x_html_5xx_through_a_proxy_is_a_proxy_issue() -> None:
    exc = eg(status_error(httpx, 500, {"content-type": HTML}))
    assert classify(exc).code == "MCP_SERVER_ERROR"
    assert classify(exc, proxy_in_use=True).code == "MCP_PROXY_SSE_ISSUE"


def test_a_same_origin_redirect_is_not_a_proxy_issue() -> None:
    hidden = eg2(mcp_error(-32603, "Server returned an error response"))
    assert classify(hidden, http=obs(307, location="/mcp/")).code == "MCP_INTERNAL_ERROR"
    same_origin = obs(307, location="https://mcp.example.com:443/x")
    assert classify(hidden, http=same_origin).code == "MCP_INTERNAL_ERROR"


def test_an_observation_without_a_response_is_only_reported() -> None:
    seen = HttpObservation(method="POST", url=URL)
    result = classify(eg(connect_error(ConnectionRefusedError(111, "Connection refused"))), http=seen)
    assert (result.code, result.http_status) == ("MCP_CONNECTION_REFUSED", None)
    assert f"http: POST {URL} -> no response" in result.detail


def test_touchpoint_accepts_the_enum() -> None:
    from mcpdiag.emitters.codes import Touchpoint

    assert classify(TimeoutError(), touchpoint=Touchpoint.OAUTH).code == "MCP_OAUTH_TIMEOUT"


def test_classification_is_frozen() -> None:
    result = classify(TimeoutError())
    assert isinstance(result, Classification)
    with pytest.raises(AttributeError):
        result.code = "MCP_TOOL_ERROR"  # type: ignore[misc]


# --- secrets never leave ------------------------------------------------------------------------------------


def test_known_secrets_never_reach_detail_message_or_attrs() -> None:
    token = secrets.token_hex(16)
    leaf = mcp_error(-32000, f"Connection closed (key {token})")
    seen = obs(
        401,
        url=f"{URL}?x={token}",
        www_authenticate=f'Bearer realm="{token}"',
        body_snippet=f"<html>{token}</html>",
        content_type=f"text/html; {token}",
    )
    result = classify(
        eg2(leaf),
        server="github",
        transport="stdio",
        http=seen,
        stderr_tail=f"loaded {token}\nfatal: bad key",
        redactor=Redactor(known_secrets=[token]),
    )
    everything = result.detail + result.message_safe + repr(result.attrs)
    assert token not in everything
    assert "[REDACTED:known_secret]" in result.detail


def test_secret_patterns_are_redacted_without_known_secrets() -> None:
    token, bearer = secrets.token_hex(16), secrets.token_urlsafe(32)
    exc = eg(httpx2.ConnectError(f"failed GET {URL}?token={token} with Authorization: Bearer {bearer}"))
    result = classify(exc, http=HttpObservation(method="GET", url=f"{URL}?access_token={token}"))
    assert token not in result.detail and bearer not in result.detail
    assert "[REDACTED:query_param]" in result.detail


# --- really provoked failures -------------------------------------------------------------------------------


@contextmanager
def loopback(serve: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 running `serve` for each connection; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                serve(conn, done)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def request_error(http: Any, url: str, **client: Any) -> BaseException:
    try:
        with http.Client(**client) as c:
            c.get(url)
    except Exception as exc:
        return exc
    raise AssertionError("request succeeded")


@pytest.mark.parametrize("http", [httpx2, httpx], ids=["httpx2", "httpx"])
def test_real_connection_refused(http: Any) -> None:
    result = classify(eg(request_error(http, f"http://127.0.0.1:{closed_port()}/mcp")))
    assert (result.code, result.attrs["errno"]) == ("MCP_CONNECTION_REFUSED", errno.ECONNREFUSED)


def test_real_dns_failure() -> None:
    assert classify(request_error(httpx2, "http://mcpdiag-test.invalid/mcp")).code == "MCP_DNS_FAILURE"


def test_real_self_signed_certificate() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    def handshake(conn: socket.socket, done: threading.Event) -> None:
        with contextlib.suppress(ssl.SSLError):
            server_ctx.wrap_socket(conn, server_side=True)

    with loopback(handshake) as port:
        exc = request_error(httpx2, f"https://127.0.0.1:{port}/mcp")
    result = classify(eg(exc))
    assert result.code == "MCP_TLS_ERROR"
    assert result.attrs["signal_exception"] == "ssl.SSLCertVerificationError"
    assert "certificate verify failed" in result.detail


def test_real_https_to_a_plain_http_port() -> None:
    def plain(conn: socket.socket, done: threading.Event) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with loopback(plain) as port:
        exc = request_error(httpx2, f"https://127.0.0.1:{port}/mcp")
    assert classify(exc).code == "MCP_TLS_ERROR"


def test_real_read_timeout() -> None:
    def silent(conn: socket.socket, done: threading.Event) -> None:
        conn.recv(4096)
        done.wait(5)

    with loopback(silent) as port:
        exc = request_error(httpx2, f"http://127.0.0.1:{port}/mcp", timeout=0.2)
    assert classify(exc).code == "MCP_TIMEOUT"
    assert classify(exc, touchpoint="oauth").code == "MCP_OAUTH_TIMEOUT"


Handler = Callable[[Any], Any]


async def sdk_failure(
    handler: Handler | None = None, *, url: str = URL, timeout: float = 5.0
) -> BaseException:
    """What escapes the installed line's real `streamable_http_client` + `ClientSession.initialize()`,
    without any of mcpdiag's hooks."""
    transport = sdk_http.MockTransport(handler) if handler else None
    async with sdk_http.AsyncClient(transport=transport) as client:
        try:
            async with streamable_http_client(url, http_client=client) as (read, write, *_):  # noqa: SIM117
                async with ClientSession(read, write, read_timeout_seconds=seconds(timeout)) as session:
                    await session.initialize()
        except BaseException as exc:
            return exc
    raise AssertionError("initialize succeeded")


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Handler:
    return lambda request: sdk_http.Response(status, headers=headers or {}, content=body)


def jsonrpc_error(code: int, message: str) -> Handler:
    async def handler(request: Any) -> Any:
        request_id = pydantic.TypeAdapter(dict[str, Any]).validate_json(request.content)["id"]
        body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
        return sdk_http.Response(503, json=body)

    return handler


async def never_answers(request: Any) -> Any:
    await anyio.sleep(10)
    raise AssertionError("not reached")


HANGS_ON_1X = "1.x drops the answer and waits for the read timeout"

# (id, handler, what a hook saw, code on 2.x, code on 1.x): the raw SDKs, no hook of mcpdiag's. Where the
# lines differ, the hooks make them agree (tests/e2e/test_failure_zoo.py runs the same failures on both).
SDK_CASES: list[tuple[str, Handler, HttpObservation | None, str, str]] = [
    # 2.x hides the status (-32603); 1.x raises HTTPStatusError, which keeps it.
    ("401-without-hook", answer(401, {"www-authenticate": BEARER}), None, "MCP_INTERNAL_ERROR",
     "MCP_AUTH_REQUIRED"),
    ("401-with-hook", answer(401, {"www-authenticate": BEARER}), obs(401, www_authenticate=BEARER),
     "MCP_AUTH_REQUIRED", "MCP_AUTH_REQUIRED"),
    ("421-with-hook", answer(421), obs(421), "MCP_DOMAIN_NOT_ALLOWED", "MCP_DOMAIN_NOT_ALLOWED"),
    ("200-html", answer(200, {"content-type": HTML}, b"<html>login</html>"), None, "MCP_PROXY_SSE_ISSUE",
     "MCP_TIMEOUT"),  # HANGS_ON_1X
    # 2.x: -32601 "Not Found"; 1.x: +32600 "Session terminated".
    ("404", answer(404, {"content-type": "text/plain"}), None, "MCP_ENDPOINT_NOT_FOUND",
     "MCP_ENDPOINT_NOT_FOUND"),
    ("json-not-jsonrpc", answer(200, {"content-type": "application/json"}, b'{"a": 1}'), None,
     "MCP_PROXY_SSE_ISSUE", "MCP_TIMEOUT"),  # HANGS_ON_1X
    ("307-other-origin", answer(307, {"location": "https://login.example.net/sso"}), None,
     "MCP_PROXY_SSE_ISSUE", "MCP_PROXY_SSE_ISSUE"),
    # 2.x passes the body's error on; 1.x raises HTTPStatusError 503.
    ("503-overloaded", jsonrpc_error(-32000, "overloaded"), None, "MCP_SERVER_ERROR", "MCP_SERVER_ERROR"),
    ("read-timeout", never_answers, None, "MCP_TIMEOUT", "MCP_TIMEOUT"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("handler", "seen", "code_2x", "code_1x"),
    [case[1:] for case in SDK_CASES],
    ids=[case[0] for case in SDK_CASES],
)
async def test_real_sdk_session_failure(
    handler: Handler, seen: HttpObservation | None, code_2x: str, code_1x: str
) -> None:
    """The installed SDK line's raw failure shape classifies to that line's code."""
    hangs = handler is never_answers or (SDK_LINE == 1 and code_1x == "MCP_TIMEOUT")
    exc = await sdk_failure(handler, timeout=0.3 if hangs else 5.0)
    found = classify(exc, touchpoint="connect", transport="streamable-http", http=seen)
    assert found.code == (code_2x if SDK_LINE == 2 else code_1x), found.detail


async def test_real_sdk_connection_refused() -> None:
    exc = await sdk_failure(url=f"http://127.0.0.1:{closed_port()}/mcp")
    assert classify(exc, touchpoint="connect").code == "MCP_CONNECTION_REFUSED"


async def stdio_failure(params: StdioServerParameters, errlog: Path) -> BaseException:
    with errlog.open("w+") as err:
        try:
            async with stdio_client(params, errlog=err) as (read, write, *_):  # noqa: SIM117
                async with ClientSession(read, write, read_timeout_seconds=seconds(10)) as session:
                    await session.initialize()
        except BaseException as exc:
            return exc
    raise AssertionError("initialize succeeded")


async def test_real_stdio_command_missing(tmp_path: Path) -> None:
    exc = await stdio_failure(StdioServerParameters(command=str(tmp_path / "missing")), tmp_path / "err")
    assert classify(exc, touchpoint="connect", transport="stdio").code == "MCP_STDIO_SPAWN_FAILED"


async def test_real_stdio_process_exits_with_its_reason_on_stderr(tmp_path: Path) -> None:
    key = secrets.token_hex(12)
    script = f"import sys; print('fatal: missing API_KEY (got api_key={key})', file=sys.stderr); sys.exit(3)"
    errlog = tmp_path / "err"
    exc = await stdio_failure(StdioServerParameters(command=sys.executable, args=["-c", script]), errlog)
    result = classify(exc, touchpoint="connect", transport="stdio", stderr_tail=errlog.read_text())
    assert result.code == "MCP_PROCESS_EXITED"
    assert "fatal: missing API_KEY" in result.detail and key not in result.detail


def test_base_install_classifier_imports_no_sdk_or_server_package() -> None:
    probe = (
        "import sys, mcpdiag.emitters.classifier, mcpdiag.emitters.errors;"
        "banned = {'mcp', 'httpx', 'httpx2', 'httpcore', 'anyio', 'fastapi', 'pymongo'};"
        "print(sorted(banned & set(sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True
    )
    assert run.stdout.strip() == "[]"
