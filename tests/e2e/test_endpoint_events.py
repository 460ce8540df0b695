"""Real MCP sessions name their endpoint in their connection events (what "Re-check" tests): the URL without
its userinfo or query, or the stdio command's name, and never in tool-call events."""

from __future__ import annotations

from pathlib import PurePath

import pytest
from mcp import StdioServerParameters

from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.mcp import open_session
from tests.e2e.conftest import Capture, Planted
from tests.e2e.servers import PYTHON, SERVER_FILE, free_port
from tests.e2e.zoo import FAST, check_event, http_failure, stdio_failure


async def test_a_healthy_session_names_its_endpoint_in_connect_and_disconnect_only(
    capture: Capture, planted: Planted, mcp_port: int
) -> None:
    """The planted password (userinfo) and token (query) are in the URL the host passes, never in events."""
    async with open_session(
        "zoo", emitter=capture.emitter, url=planted.url(mcp_port, "/mcp"), headers=planted.headers, **FAST
    ) as session:
        await session.call_tool("fail", {"reason": "no"})
    expected = f"http://127.0.0.1:{mcp_port}/mcp"
    for code in ("MCP_CONNECTED", "MCP_DISCONNECTED"):
        assert check_event(capture, planted, code, "lifecycle")["attrs"]["endpoint"] == expected
    assert "endpoint" not in check_event(capture, planted, "MCP_TOOL_ERROR", "tool_call")["attrs"]


@pytest.mark.parametrize(
    ("host", "code"),
    [("zoo-server.invalid", "MCP_DNS_FAILURE"), ("127.0.0.1", "MCP_CONNECTION_REFUSED")],
)
async def test_a_failed_connect_names_the_endpoint_it_tried(
    capture: Capture, planted: Planted, host: str, code: str
) -> None:
    port = free_port()
    err = await http_failure(capture, planted, planted.url(port, "/v1/mcp", host=host))
    assert err.code == code
    event = check_event(capture, planted, code, "connect")
    assert event["attrs"]["endpoint"] == f"http://{host}:{port}/v1/mcp"


async def test_a_refused_domain_names_the_endpoint_too(capture: Capture, planted: Planted) -> None:
    with pytest.raises(MCPDiagnosticError):
        async with open_session(
            "zoo",
            emitter=capture.emitter,
            url=planted.url(9, "/mcp"),
            allowed_domains=["mcp.internal"],
            **FAST,
        ):
            pass
    event = check_event(capture, planted, "MCP_DOMAIN_NOT_ALLOWED", "connect")
    assert event["attrs"]["endpoint"] == "http://127.0.0.1:9/mcp"


async def test_a_stdio_session_names_its_command_not_its_arguments_or_folders(
    capture: Capture, planted: Planted
) -> None:
    params = StdioServerParameters(
        command=PYTHON,
        args=[SERVER_FILE, "stdio", f"--key={planted.token}"],
        env={"API_KEY": planted.env_value},
    )
    async with open_session("zoo", emitter=capture.emitter, stdio=params, transport="stdio", **FAST):
        pass
    event = check_event(capture, planted, "MCP_CONNECTED", "lifecycle")
    assert event["attrs"]["endpoint"] == PurePath(PYTHON).name and "/" not in event["attrs"]["endpoint"]
    assert event["transport"] == "stdio"


async def test_a_missing_stdio_command_is_named_by_its_file_name(capture: Capture, planted: Planted) -> None:
    err = await stdio_failure(capture, planted, command="/nonexistent/zoo-mcp-server")
    assert err.event is not None and err.event["attrs"]["endpoint"] == "zoo-mcp-server"
