"""The failures the 2026 SDKs and spec added, through `open_session` on whichever SDK line is installed.

Spec 2026-07-28's error codes (answered with HTTP 400 and the error in the body, as the 2.x server does),
a URL elicitation (-32042), a session a restarted server forgot (an HTTP 404 both lines turn into
-32600), a stdio server broken by an SDK upgrade, and 2.x OAuth's hard failures. Where 1.x does not check
what 2.x checks (RFC 9207 `iss`, the `offline_access` scope it never asks for), the test says what 1.x does
instead.
"""

from __future__ import annotations

import pytest

from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.mcp import open_session
from mcpdiag.emitters.mcp.sdk import SDK_LINE
from tests.e2e.conftest import Capture, Planted
from tests.e2e.oauth_server import Browser, OAuthZoo
from tests.e2e.servers import STDIO_DRIFT_SCRIPT
from tests.e2e.zoo import (
    FAST,
    assert_never_leaked,
    check_event,
    check_failure,
    http_failure,
    oauth_failure,
    stdio_failure,
)


@pytest.mark.parametrize(
    ("name", "code", "jsonrpc_code"),
    [("header-mismatch", "MCP_PROXY_SSE_ISSUE", -32020), ("version", "MCP_INSPECTION_FAILED", -32022)],
)
async def test_a_2026_error_answered_with_400_is_classified_by_its_code(
    capture: Capture, planted: Planted, bad_port: int, name: str, code: str, jsonrpc_code: int
) -> None:
    """-32020 (a gateway rewrote the Mcp-* headers) and -32022 (no protocol version in common) arrive as a
    400 with the error in the body: the body's code decides, on 1.x too (where only the hook reads it)."""
    err = await http_failure(capture, planted, planted.url(bad_port, f"/s/{name}"))
    event = check_failure(capture, planted, err, code, "connect")
    assert event["httpStatus"] == 400
    assert event["attrs"]["jsonrpc_code"] == jsonrpc_code


async def test_a_tool_needing_a_capability_the_host_lacks_is_an_inspection_failure(
    capture: Capture, planted: Planted, bad_port: int
) -> None:
    """-32021 on a tool call: the server needs a client capability this host does not declare."""
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=planted.url(bad_port, "/needs-capability"), **FAST
        ) as session:
            await session.call_tool("book", {})
    event = check_failure(capture, planted, info.value, "MCP_INSPECTION_FAILED", "tool_call")
    assert event["tool"] == "book"
    assert event["attrs"]["jsonrpc_code"] == -32021


async def test_a_url_elicitation_asks_the_user_to_sign_in(
    capture: Capture, planted: Planted, eliciting_port: int
) -> None:
    """A tool that needs the user to complete a URL elicitation first (-32042) is MCP_AUTH_REQUIRED."""
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=planted.url(eliciting_port, "/mcp"), **FAST
        ) as session:
            await session.call_tool("connect_account", {})
    event = check_failure(capture, planted, info.value, "MCP_AUTH_REQUIRED", "tool_call")
    assert event["attrs"]["jsonrpc_code"] == -32042


async def test_a_session_the_restarted_server_forgot_has_expired(
    capture: Capture, planted: Planted, bad_port: int
) -> None:
    """A server that no longer knows the session id answers 404 "Session not found" (2.x passes the body
    on as -32600, 1.x turns the 404 into +32600 "Session terminated"): MCP_SESSION_EXPIRED, retryable."""
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=planted.url(bad_port, "/forgets-session"), **FAST
        ) as session:
            await session.ping()
    event = check_failure(capture, planted, info.value, "MCP_SESSION_EXPIRED", "transport")
    assert event["httpStatus"] == 404


async def test_a_stdio_server_broken_by_an_sdk_upgrade_exited_before_initialize(
    capture: Capture, planted: Planted
) -> None:
    """A server written for the other SDK line dies on import: "Connection closed" becomes
    MCP_PROCESS_EXITED saying it exited before initialize, with the import error from its stderr."""
    err = await stdio_failure(capture, planted, "-c", STDIO_DRIFT_SCRIPT)
    event = check_failure(capture, planted, err, "MCP_PROCESS_EXITED", "connect")
    assert "the server process exited before initialize" in event["detail"]
    assert "No module named 'mcp.server." in event["detail"]
    assert event["attrs"]["stderr_error"] == "ModuleNotFoundError"


# -- OAuth's hard failures ---------------------------------------------------------------------------------


async def test_metadata_naming_another_issuer_is_an_oauth_failure(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """Authorization-server metadata whose `issuer` is not the one discovered: MCP_OAUTH_FAILED."""
    port, _ = oauth_zoo
    err = await oauth_failure(capture, port, "issuer-mismatch", Browser())
    event = check_failure(capture, planted, err, "MCP_OAUTH_FAILED", "oauth")
    assert "issuer mismatch" in event["detail"]


async def test_a_refused_consent_asks_the_user_to_sign_in_again(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """The user declines (`error=access_denied`, reported by the host's callback): MCP_AUTH_REQUIRED."""
    port, app = oauth_zoo
    err = await oauth_failure(capture, port, "denied", Browser())
    event = check_failure(capture, planted, err, "MCP_AUTH_REQUIRED", "oauth")
    assert event["attrs"]["signal"] == "oauth denied"
    check_event(capture, planted, "MCP_OAUTH_STARTED", "oauth")
    assert_never_leaked(capture, app.state.issued)


@pytest.mark.parametrize(
    ("mode", "text"),
    [("iss-mismatch", "iss mismatch"), ("offline-refused", "offline_access is not allowed")],
)
async def test_a_2x_only_oauth_check_fails_on_2x_and_connects_on_1x(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo], mode: str, text: str
) -> None:
    """2.x checks the RFC 9207 `iss` and asks for `offline_access` (then refused here): MCP_OAUTH_FAILED.
    1.x does neither, so the same server signs it in."""
    port, app = oauth_zoo
    if SDK_LINE == 2:
        err = await oauth_failure(capture, port, mode, Browser())
        event = check_failure(capture, planted, err, "MCP_OAUTH_FAILED", "oauth")
        assert text in event["detail"]
    else:
        url = f"http://127.0.0.1:{port}/m/{mode}/mcp"
        oauth = Browser().provider(url)
        async with open_session("zoo", emitter=capture.emitter, url=url, oauth=oauth, **FAST):
            pass
        assert "MCP_CONNECTED" in [e["code"] for e in capture.events()]
    assert_never_leaked(capture, app.state.issued)
