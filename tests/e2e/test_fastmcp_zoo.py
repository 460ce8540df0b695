"""fastmcp's own `Client` (4.x), wrapped by `mcpdiag.emitters.fastmcp.diagnosed`, against the zoo's servers:
the same codes, retryability and touchpoints as `open_session` for HTTP, SSE, stdio, tool errors, timeouts
and sign-in. fastmcp needs the MCP SDK 2.x: the 1.x run (`make test-mcp1`) does not collect this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# `make test` installs fastmcp: missing or on the wrong SDK, the module fails to import (never a skip).
from fastmcp import Client
from fastmcp.client.transports import SSETransport, StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError

from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.fastmcp import diagnosed
from mcpdiag.emitters.mcp.sdk import is_error
from tests.e2e.conftest import Capture, Planted, Recording
from tests.e2e.oauth_server import Browser, OAuthZoo
from tests.e2e.servers import (
    PYTHON,
    STDIO_DRIFT_SCRIPT,
    STDIO_EXIT_SCRIPT,
    free_port,
)
from tests.e2e.zoo import assert_never_leaked, check_event, check_failure

TIMEOUT = 3.0


async def failure(capture: Capture, client: Client[Any]) -> MCPDiagnosticError:
    """Enter the host's client through `diagnosed`, list its tools; the MCPDiagnosticError it ends with."""
    with pytest.raises(MCPDiagnosticError) as info:
        async with diagnosed(client, "zoo", emitter=capture.emitter) as mcp:
            await mcp.list_tools()
    return info.value


def http_client(planted: Planted, url: str, **options: Any) -> Client[Any]:
    return Client(StreamableHttpTransport(url, headers=planted.headers), timeout=TIMEOUT, **options)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("401", "MCP_AUTH_REQUIRED"),
        ("403-html", "MCP_DOMAIN_NOT_ALLOWED"),
        ("404", "MCP_ENDPOINT_NOT_FOUND"),
        ("429", "MCP_RATE_LIMITED"),
        ("502", "MCP_PROXY_SSE_ISSUE"),
        ("503", "MCP_SERVER_ERROR"),
        ("200-html", "MCP_PROXY_SSE_ISSUE"),
        ("version", "MCP_INSPECTION_FAILED"),
    ],
)
async def test_a_broken_http_endpoint_is_classified_at_connect(
    capture: Capture, planted: Planted, bad_port: int, name: str, code: str
) -> None:
    """fastmcp's streamable HTTP transport, observed: the real status decides, as with `open_session`."""
    err = await failure(capture, http_client(planted, planted.url(bad_port, f"/s/{name}")))
    check_failure(capture, planted, err, code, "connect")


async def test_unreachable_servers_are_told_apart(capture: Capture, planted: Planted) -> None:
    """A name that does not resolve, then a closed port."""
    err = await failure(capture, http_client(planted, planted.url(80, "/mcp", host="fastmcp-zoo.invalid")))
    check_failure(capture, planted, err, "MCP_DNS_FAILURE", "connect")
    capture.sink.events.clear()
    err = await failure(capture, http_client(planted, planted.url(free_port(), "/mcp")))
    check_failure(capture, planted, err, "MCP_CONNECTION_REFUSED", "connect")


async def test_an_sse_stream_answered_with_html(capture: Capture, planted: Planted, bad_port: int) -> None:
    """fastmcp's SSE transport: an HTML page for the event stream is MCP_PROXY_SSE_ISSUE."""
    transport = SSETransport(planted.url(bad_port, "/s/200-html"), headers=planted.headers)
    err = await failure(capture, Client(transport, timeout=TIMEOUT))
    check_failure(capture, planted, err, "MCP_PROXY_SSE_ISSUE", "connect")


@pytest.mark.parametrize(
    ("script", "text"),
    [(STDIO_EXIT_SCRIPT, "fatal: missing API_KEY"), (STDIO_DRIFT_SCRIPT, "No module named 'mcp.server.")],
)
async def test_a_stdio_server_that_exits_keeps_its_stderr(
    capture: Capture, planted: Planted, script: str, text: str
) -> None:
    """fastmcp's stdio transport: MCP_PROCESS_EXITED, before initialize, with the stderr tail."""
    transport = StdioTransport(PYTHON, ["-c", script], env={"API_KEY": planted.env_value}, keep_alive=False)
    err = await failure(capture, Client(transport, timeout=TIMEOUT))
    event = check_failure(capture, planted, err, "MCP_PROCESS_EXITED", "connect")
    assert text in event["detail"] and "exited before initialize" in event["detail"]
    assert transport.log_file is None  # the host's setting is back


async def test_a_missing_stdio_command(capture: Capture, planted: Planted, tmp_path: Path) -> None:
    transport = StdioTransport(str(tmp_path / "missing-server"), [], keep_alive=False)
    err = await failure(capture, Client(transport, timeout=TIMEOUT))
    check_failure(capture, planted, err, "MCP_STDIO_SPAWN_FAILED", "connect")


async def test_tool_errors_are_reported_raised_or_returned(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    """fastmcp raises `ToolError` for an error result: it leaves as MCPDiagnosticError(MCP_TOOL_ERROR) from
    it; with `raise_on_error=False` the result is returned and reported."""
    client = http_client(planted, planted.url(mcp_port, "/mcp"))
    with pytest.raises(MCPDiagnosticError) as info:
        async with diagnosed(client, "zoo", emitter=capture.emitter) as mcp:
            assert {t.name for t in await mcp.list_tools()} >= {"echo", "fail"}
            result = await mcp.call_tool("fail", {"reason": f"nope {planted.token}"}, raise_on_error=False)
            assert is_error(result)
            await mcp.call_tool("fail", {"reason": "again"})
    assert isinstance(info.value.__cause__, ToolError)
    events = [e for e in capture.events() if e["code"] == "MCP_TOOL_ERROR"]
    assert [e["tool"] for e in events] == ["fail", "fail"]
    assert info.value.debug_id == events[-1]["traceId"] and info.value.code == "MCP_TOOL_ERROR"
    codes = sorted(e["code"] for e in capture.events())  # delivery order is the emitter's, not the test's
    assert codes == ["MCP_CONNECTED", "MCP_DISCONNECTED", "MCP_TOOL_ERROR", "MCP_TOOL_ERROR"]


async def test_a_tool_call_past_its_timeout(capture: Capture, planted: Planted, mcp_port: int) -> None:
    client = http_client(planted, planted.url(mcp_port, "/mcp"))
    with pytest.raises(MCPDiagnosticError) as info:
        async with diagnosed(client, "zoo", emitter=capture.emitter) as mcp:
            await mcp.call_tool("slow", {"seconds": 5}, timeout=0.5)
    event = check_failure(capture, planted, info.value, "MCP_TIMEOUT", "tool_call")
    assert event["tool"] == "slow"


async def test_the_hosts_own_exception_leaves_unchanged(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    client = http_client(planted, planted.url(mcp_port, "/mcp"))
    with pytest.raises(KeyError):
        async with diagnosed(client, "zoo", emitter=capture.emitter):
            raise KeyError("host bug")
    assert [e["code"] for e in capture.events()] == ["MCP_CONNECTED", "MCP_DISCONNECTED"]
    assert isinstance(client.transport, StreamableHttpTransport)  # the host's transport is back


async def test_the_debug_id_is_the_trace_the_server_received(
    capture: Capture, planted: Planted, recording_server: Recording
) -> None:
    """Without any OpenTelemetry set up, the request carries a traceparent and the event its trace id."""
    client = http_client(planted, planted.url(recording_server.port, "/mcp"))
    async with diagnosed(client, "zoo", emitter=capture.emitter) as mcp:
        await mcp.call_tool("traced_fail", {"reason": "no such order"}, raise_on_error=False)
    event = check_event(capture, planted, "MCP_TOOL_ERROR", "tool_call")
    traceparent = recording_server.received[-1]
    assert traceparent is not None and event["traceId"] == traceparent.split("-")[1]
    assert mcp.last_debug_id == event["traceId"]


async def test_a_sign_in_nobody_finishes_and_one_that_works(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    """The host's OAuth provider as fastmcp's `auth`: bounded and reported, then a full sign-in."""
    port, app = oauth_zoo
    url = f"http://127.0.0.1:{port}/m/ok/mcp"
    client = Client(StreamableHttpTransport(url, auth=Browser(returns=False).provider(url)), timeout=TIMEOUT)
    with pytest.raises(MCPDiagnosticError) as info:
        async with diagnosed(client, "zoo", emitter=capture.emitter, oauth_timeout=1.0):
            pass
    check_failure(capture, planted, info.value, "MCP_OAUTH_TIMEOUT", "oauth")
    capture.sink.events.clear()
    client = Client(StreamableHttpTransport(url, auth=Browser().provider(url)), timeout=TIMEOUT)
    async with diagnosed(client, "zoo", emitter=capture.emitter) as mcp:
        assert {t.name for t in await mcp.list_tools()} >= {"echo"}
    codes = [e["code"] for e in capture.events()]
    assert codes == ["MCP_OAUTH_STARTED", "MCP_OAUTH_COMPLETED", "MCP_CONNECTED", "MCP_DISCONNECTED"]
    assert_never_leaked(capture, app.state.issued)


async def test_a_token_endpoint_rejecting_the_code(
    capture: Capture, planted: Planted, oauth_zoo: tuple[int, OAuthZoo]
) -> None:
    port, app = oauth_zoo
    url = f"http://127.0.0.1:{port}/m/bad-grant/mcp"
    client = Client(StreamableHttpTransport(url, auth=Browser().provider(url)), timeout=TIMEOUT)
    with pytest.raises(MCPDiagnosticError) as info:
        async with diagnosed(client, "zoo", emitter=capture.emitter):
            pass
    check_failure(capture, planted, info.value, "MCP_OAUTH_FAILED", "oauth")
    assert_never_leaked(capture, app.state.issued)
