"""Real MCP sessions through `open_session` against loopback servers that fail in every known way.

The same scenarios run on whichever SDK line is installed (`make test` runs them on 2.x and on the latest
1.x): every one must give the same code, retryability and touchpoint on both.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
from mcp import StdioServerParameters
from opentelemetry.sdk.trace import TracerProvider

from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.mcp import open_session
from mcpdiag.emitters.mcp.sdk import is_error
from tests.e2e.conftest import Capture, Planted, Recording
from tests.e2e.oauth_server import Browser, OAuthZoo
from tests.e2e.servers import (
    PYTHON,
    SERVER_FILE,
    STDIO_BANNER_SCRIPT,
    STDIO_EXIT_SCRIPT,
    free_port,
    serve,
    zoo_server,
)
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
    ("name", "code"),
    [
        ("401", "MCP_AUTH_REQUIRED"),
        ("403-scope", "MCP_AUTH_REQUIRED"),
        ("403-html", "MCP_DOMAIN_NOT_ALLOWED"),
        ("407", "MCP_PROXY_SSE_ISSUE"),
        ("421", "MCP_DOMAIN_NOT_ALLOWED"),
        ("429", "MCP_RATE_LIMITED"),
        ("500", "MCP_SERVER_ERROR"),
        ("502", "MCP_PROXY_SSE_ISSUE"),
        ("503", "MCP_SERVER_ERROR"),
        ("404", "MCP_ENDPOINT_NOT_FOUND"),
        ("200-html", "MCP_PROXY_SSE_ISSUE"),
        ("sse-cut", "MCP_PROXY_SSE_ISSUE"),
        ("redirect", "MCP_PROXY_SSE_ISSUE"),
    ],
)
async def test_misbehaving_endpoint_is_classified_at_connect(
    capture: Capture, planted: Planted, bad_port: int, name: str, code: str
) -> None:
    """Each broken answer to `initialize` leaves as the matching code, seen at connect."""
    err = await http_failure(capture, planted, planted.url(bad_port, f"/s/{name}"))
    check_failure(capture, planted, err, code, "connect")


async def test_server_that_never_answers_times_out(capture: Capture, planted: Planted, bad_port: int) -> None:
    """No answer within the read timeout is MCP_TIMEOUT."""
    err = await http_failure(capture, planted, planted.url(bad_port, "/s/silent"), read_timeout=1.0)
    check_failure(capture, planted, err, "MCP_TIMEOUT", "connect")


async def test_untrusted_certificate_is_a_tls_error(
    capture: Capture, planted: Planted, tls_port: int
) -> None:
    """A self-signed certificate the client does not trust is MCP_TLS_ERROR."""
    err = await http_failure(capture, planted, planted.url(tls_port, "/s/401", scheme="https"))
    check_failure(capture, planted, err, "MCP_TLS_ERROR", "connect")


async def test_unresolvable_host_is_a_dns_failure(capture: Capture, planted: Planted) -> None:
    """A host name that does not resolve is MCP_DNS_FAILURE."""
    err = await http_failure(capture, planted, planted.url(80, "/mcp", host="zoo-server.invalid"))
    check_failure(capture, planted, err, "MCP_DNS_FAILURE", "connect")


async def test_closed_port_is_connection_refused(capture: Capture, planted: Planted) -> None:
    """Nothing listening is MCP_CONNECTION_REFUSED."""
    err = await http_failure(capture, planted, planted.url(free_port(), "/mcp"))
    check_failure(capture, planted, err, "MCP_CONNECTION_REFUSED", "connect")


async def test_domain_outside_the_allow_list_is_refused_before_traffic(
    capture: Capture, planted: Planted, bad_port: int
) -> None:
    """A host outside `allowed_domains` is MCP_DOMAIN_NOT_ALLOWED and no request is sent."""
    url = planted.url(bad_port, "/s/silent")
    err = await http_failure(capture, planted, url, allowed_domains=["*.example.com", "mcp.internal"])
    event = check_failure(capture, planted, err, "MCP_DOMAIN_NOT_ALLOWED", "connect", caused=False)
    assert event["httpStatus"] is None


async def test_legacy_sse_stream_answered_with_html(
    capture: Capture, planted: Planted, bad_port: int
) -> None:
    """An SSE GET answered with an HTML page is MCP_PROXY_SSE_ISSUE."""
    err = await http_failure(capture, planted, planted.url(bad_port, "/s/200-html"), transport="sse")
    check_failure(capture, planted, err, "MCP_PROXY_SSE_ISSUE", "connect")


async def test_healthy_session_reports_lifecycle_and_tool_errors(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    """A working session emits its lifecycle; an `is_error` result is returned and reported."""
    async with open_session(
        "zoo", emitter=capture.emitter, url=planted.url(mcp_port, "/mcp"), headers=planted.headers, **FAST
    ) as session:
        tools = await session.list_tools()
        assert {t.name for t in tools.tools} >= {"echo", "fail", "slow"}
        ok = await session.call_tool("echo", {"text": "hi"})
        assert not is_error(ok)
        assert session.last_debug_id is None
        result = await session.call_tool("fail", {"reason": f"bad input {planted.token}"})
        assert is_error(result)
    event = check_event(capture, planted, "MCP_TOOL_ERROR", "tool_call")
    assert event["tool"] == "fail"
    assert session.last_debug_id == event["traceId"]
    codes = [e["code"] for e in capture.events()]
    assert codes == ["MCP_CONNECTED", "MCP_TOOL_ERROR", "MCP_DISCONNECTED"]
    assert ended_by(capture) is None  # a tool's own error is the server working
    for lifecycle in ("MCP_CONNECTED", "MCP_DISCONNECTED"):
        check_event(capture, planted, lifecycle, "lifecycle")


async def test_unknown_tool_is_a_tool_error(capture: Capture, planted: Planted, mcp_port: int) -> None:
    """Calling a tool the server does not have is reported as MCP_TOOL_ERROR."""
    async with open_session(
        "zoo", emitter=capture.emitter, url=planted.url(mcp_port, "/mcp"), **FAST
    ) as session:
        result = await session.call_tool("no_such_tool", {})
    assert is_error(result)
    event = check_event(capture, planted, "MCP_TOOL_ERROR", "tool_call")
    assert event["tool"] == "no_such_tool"


async def test_tool_call_past_its_timeout_is_a_timeout(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    """A tool call that outlives its timeout leaves as MCP_TIMEOUT at tool_call."""
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=planted.url(mcp_port, "/mcp"), **FAST
        ) as session:
            await session.call_tool("slow", {"seconds": 5}, timeout=0.5)
    event = check_failure(capture, planted, info.value, "MCP_TIMEOUT", "tool_call")
    assert event["tool"] == "slow"
    assert session.last_debug_id == info.value.debug_id
    assert ended_by(capture) == "MCP_TIMEOUT"  # the session ended in it: the card is not a clean idle


def ended_by(capture: Capture) -> object:
    """The `ended_by` attr of the session's (last) MCP_DISCONNECTED, None when it has none."""
    (last,) = [e for e in capture.events() if e["code"] == "MCP_DISCONNECTED"][-1:]
    attrs = last.get("attrs")
    return attrs.get("ended_by") if isinstance(attrs, dict) else None


async def test_a_call_that_works_after_a_failure_ends_the_session_cleanly(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    """A failed call the host caught, then one that worked: the session's close is a clean one."""
    async with open_session(
        "zoo", emitter=capture.emitter, url=planted.url(mcp_port, "/mcp"), **FAST
    ) as session:
        with pytest.raises(MCPDiagnosticError):
            await session.call_tool("slow", {"seconds": 5}, timeout=0.3)
        await session.call_tool("echo", {"text": "back"})
    assert ended_by(capture) is None


async def test_server_killed_during_a_tool_call_is_connection_refused(
    capture: Capture, planted: Planted, server_process: tuple[int, subprocess.Popen[bytes]]
) -> None:
    """A server process that dies mid-call is told from a proxy cut by a reachability probe."""
    port, process = server_process

    async def kill_soon() -> None:
        await asyncio.sleep(0.5)
        process.kill()

    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=planted.url(port, "/mcp"), **FAST
        ) as session:
            killer = asyncio.create_task(kill_soon())
            await session.call_tool("slow", {"seconds": 10})
    await killer
    event = check_failure(capture, planted, info.value, "MCP_CONNECTION_REFUSED", "tool_call")
    assert event["tool"] == "slow"
    assert ended_by(capture) == "MCP_CONNECTION_REFUSED"


async def test_missing_stdio_command_is_a_spawn_failure(capture: Capture, planted: Planted) -> None:
    """A stdio command that does not exist is MCP_STDIO_SPAWN_FAILED."""
    err = await stdio_failure(capture, planted, command="/nonexistent/zoo-mcp-server")
    check_failure(capture, planted, err, "MCP_STDIO_SPAWN_FAILED", "connect")


async def test_stdio_server_exiting_at_once_keeps_its_stderr(capture: Capture, planted: Planted) -> None:
    """A stdio server that exits with an error is MCP_PROCESS_EXITED, its stderr tail in the detail."""
    err = await stdio_failure(capture, planted, "-c", STDIO_EXIT_SCRIPT)
    event = check_failure(capture, planted, err, "MCP_PROCESS_EXITED", "connect")
    assert "fatal: missing API_KEY" in event["detail"]


async def test_stdio_banner_on_stdout_is_an_inspection_failure(capture: Capture, planted: Planted) -> None:
    """Text that is not JSON-RPC on a stdio server's stdout is MCP_INSPECTION_FAILED."""
    err = await stdio_failure(capture, planted, "-c", STDIO_BANNER_SCRIPT)
    check_failure(capture, planted, err, "MCP_INSPECTION_FAILED", "inspection")


async def test_stdio_tool_error_is_returned_and_reported(capture: Capture, planted: Planted) -> None:
    """A stdio tool that fails returns its `is_error` result and emits MCP_TOOL_ERROR."""
    params = StdioServerParameters(
        command=PYTHON, args=[SERVER_FILE, "stdio"], env={"API_KEY": planted.env_value}
    )
    async with open_session(
        "zoo", emitter=capture.emitter, stdio=params, transport="stdio", **FAST
    ) as session:
        result = await session.call_tool("fail", {"reason": f"key {planted.env_value} rejected"})
    assert is_error(result)
    event = check_event(capture, planted, "MCP_TOOL_ERROR", "tool_call")
    assert event["transport"] == "stdio"
    assert session.last_debug_id == event["traceId"]


async def test_host_exception_inside_the_block_leaves_unchanged(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    """The host's own exception is not reclassified: it leaves as is, after MCP_DISCONNECTED."""
    with pytest.raises(KeyError):
        async with open_session("zoo", emitter=capture.emitter, url=planted.url(mcp_port, "/mcp"), **FAST):
            raise KeyError("host bug")
    assert [e["code"] for e in capture.events()] == ["MCP_CONNECTED", "MCP_DISCONNECTED"]


async def test_invalid_tool_list_is_an_inspection_failure(
    capture: Capture, planted: Planted, bad_port: int
) -> None:
    """A server that initializes but lists malformed tools is MCP_INSPECTION_FAILED at inspection."""
    err = await http_failure(capture, planted, planted.url(bad_port, "/bad-tools"))
    check_failure(capture, planted, err, "MCP_INSPECTION_FAILED", "inspection")
    assert [e["code"] for e in capture.events() if e["touchpoint"] == "lifecycle"] == [
        "MCP_CONNECTED",
        "MCP_DISCONNECTED",
    ]


async def test_server_gone_between_calls_is_a_transport_failure(
    capture: Capture, planted: Planted, server_process: tuple[int, subprocess.Popen[bytes]]
) -> None:
    """A server that died while the session was idle fails the next ping at touchpoint transport."""
    port, process = server_process
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=planted.url(port, "/mcp"), **FAST
        ) as session:
            await session.list_tools()
            process.kill()
            process.wait(5)
            await session.ping()
    event = check_failure(capture, planted, info.value, "MCP_CONNECTION_REFUSED", "transport")
    assert event["tool"] is None


# -- OAuth: a real authorization server on loopback, the host's provider and a scripted browser ----------


async def test_user_who_never_finishes_sign_in_is_an_oauth_timeout(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """Sign-in started, the callback never came back within `oauth_timeout`: MCP_OAUTH_TIMEOUT."""
    port, app = oauth_zoo
    err = await oauth_failure(capture, port, "ok", Browser(returns=False), oauth_timeout=1.0)
    check_failure(capture, planted, err, "MCP_OAUTH_TIMEOUT", "oauth")
    check_event(capture, planted, "MCP_OAUTH_STARTED", "oauth")
    assert_never_leaked(capture, app.state.issued)


async def test_token_endpoint_rejecting_the_code_is_an_oauth_failure(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """A token endpoint answering 400 `invalid_grant` is MCP_OAUTH_FAILED; the secret it echoes is hidden."""
    port, app = oauth_zoo
    err = await oauth_failure(capture, port, "bad-grant", Browser())
    event = check_failure(capture, planted, err, "MCP_OAUTH_FAILED", "oauth")
    assert "invalid_grant" in event["detail"]
    assert_never_leaked(capture, app.state.issued)


async def test_failing_resource_metadata_is_an_oauth_failure(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """Protected-resource metadata answering 500 is MCP_OAUTH_FAILED, before any sign-in starts."""
    port, _ = oauth_zoo
    err = await oauth_failure(capture, port, "prm-500", Browser())
    event = check_failure(capture, planted, err, "MCP_OAUTH_FAILED", "oauth")
    assert "Protected resource metadata request failed" in event["detail"]
    assert [e["code"] for e in capture.events()] == ["MCP_OAUTH_FAILED"]


async def test_successful_sign_in_is_reported_before_the_session_connects(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """A full OAuth flow emits MCP_OAUTH_STARTED and MCP_OAUTH_COMPLETED, then the server takes the token."""
    port, app = oauth_zoo
    url = f"http://127.0.0.1:{port}/m/ok/mcp"
    async with open_session(
        "zoo", emitter=capture.emitter, url=url, oauth=Browser().provider(url), **FAST
    ) as session:
        tools = await session.list_tools()  # only a bearer token the authorization server issued gets here
    assert {t.name for t in tools.tools} >= {"echo", "fail"}
    codes = [e["code"] for e in capture.events()]
    assert codes == ["MCP_OAUTH_STARTED", "MCP_OAUTH_COMPLETED", "MCP_CONNECTED", "MCP_DISCONNECTED"]
    completed = check_event(capture, planted, "MCP_OAUTH_COMPLETED", "oauth")
    assert completed["durationMs"] is not None
    assert_never_leaked(capture, app.state.issued)


async def test_host_timeout_during_sign_in_leaves_as_the_hosts_own(
    capture: Capture, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """The host's own deadline cancelling the sign-in leaves as its TimeoutError; nothing is blamed."""
    port, _ = oauth_zoo
    url, browser = f"http://127.0.0.1:{port}/m/ok/mcp", Browser(returns=False)

    async def expire_while_waiting(deadline: asyncio.Timeout) -> None:
        await browser.waiting.wait()
        deadline.reschedule(asyncio.get_running_loop().time())

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(None) as deadline:
            expiry = asyncio.create_task(expire_while_waiting(deadline))
            async with open_session(
                "zoo", emitter=capture.emitter, url=url, oauth=browser.provider(url), **FAST
            ):
                pass
    await expiry
    assert [e["code"] for e in capture.events()] == ["MCP_OAUTH_STARTED"]


# -- OpenTelemetry: the Debug ID is the trace the server received ----------------------------------------


async def test_tool_error_event_carries_the_trace_id_the_server_received(
    capture: Capture, planted: Planted, recording_server: Recording, otel_sdk: TracerProvider
) -> None:
    """With an OTel SDK configured, MCP_TOOL_ERROR's trace id is the one in the call's `_meta.traceparent`."""
    async with open_session(
        "zoo",
        emitter=capture.emitter,
        url=planted.url(recording_server.port, "/mcp"),
        headers=planted.headers,
        **FAST,
    ) as session:
        result = await session.call_tool("traced_fail", {"reason": "no such order"})
    assert is_error(result)
    event = check_event(capture, planted, "MCP_TOOL_ERROR", "tool_call")
    traceparent = recording_server.received[-1]
    assert traceparent is not None
    assert event["traceId"] == traceparent.split("-")[1]
    assert session.last_debug_id == event["traceId"]


async def test_sign_in_events_join_the_trace_of_the_request_that_needed_them(
    capture: Capture, oauth_zoo: tuple[int, OAuthZoo], otel_sdk: TracerProvider
) -> None:
    """With an OTel SDK configured, the sign-in events and MCP_CONNECTED share `initialize`'s trace id."""
    port, _ = oauth_zoo
    url = f"http://127.0.0.1:{port}/m/ok/mcp"
    async with open_session("zoo", emitter=capture.emitter, url=url, oauth=Browser().provider(url), **FAST):
        pass
    trace_ids = {e["code"]: e["traceId"] for e in capture.events()}
    connected = trace_ids["MCP_CONNECTED"]
    assert trace_ids["MCP_OAUTH_STARTED"] == trace_ids["MCP_OAUTH_COMPLETED"] == connected
    assert trace_ids["MCP_DISCONNECTED"] != connected


def _plain_acknowledgements(app: Any) -> Any:
    """`app` with every 202 labelled `text/plain`, as Go's net/http labels any body it writes."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def labelled(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 202:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-type"]
                message = {**message, "headers": [*headers, (b"content-type", b"text/plain; charset=utf-8")]}
            await send(message)

        await app(scope, receive, labelled)

    return wrapped


async def test_a_legacy_sse_server_acknowledging_in_plain_text_works(capture: Capture) -> None:
    """On legacy SSE a message's POST is acknowledged (202) and answered on the stream: a 202 labelled
    text/plain (Go servers) is not a lost answer. On 1.x every connect failed with MCP_PROXY_SSE_ISSUE
    (found by a pass as an embedding developer)."""
    with serve(_plain_acknowledgements(zoo_server().sse_app())) as port:
        async with open_session(
            "go-sse", emitter=capture.emitter, url=f"http://127.0.0.1:{port}/sse", transport="sse", **FAST
        ) as session:
            tools = await session.list_tools()
            assert {t.name for t in tools.tools} >= {"echo", "fail"}
            assert not is_error(await session.call_tool("echo", {"text": "hi"}))
    assert [e["code"] for e in capture.events()] == ["MCP_CONNECTED", "MCP_DISCONNECTED"]
