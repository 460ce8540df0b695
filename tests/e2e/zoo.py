"""What every failure-zoo scenario checks: one event per failure, valid, at its touchpoint, secret-free,
agreeing with the raised `MCPDiagnosticError`; and how a scenario connects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import StdioServerParameters

from mcpdiag.emitters.codes import code_info
from mcpdiag.emitters.errors import MCPDiagnosticError
from mcpdiag.emitters.event import DiagnosticEvent
from mcpdiag.emitters.mcp import open_session
from tests.e2e.conftest import Capture, Planted
from tests.e2e.oauth_server import Browser
from tests.e2e.servers import PYTHON

FAST = {"timeout": 5.0, "read_timeout": 3.0}


def check_event(capture: Capture, planted: Planted, code: str, touchpoint: str) -> dict[str, Any]:
    """The one event with `code`: valid on the wire, at `touchpoint`, free of every planted secret."""
    events = [e for e in capture.events() if e["code"] == code]
    assert len(events) == 1, [e["code"] for e in capture.events()]
    event = events[0]
    DiagnosticEvent.model_validate(event)
    assert event["touchpoint"] == touchpoint
    text = json.dumps([event["messageSafe"], event["detail"], event["attrs"]])
    for secret in planted.values:
        assert secret not in text
    return event


def check_failure(
    capture: Capture,
    planted: Planted,
    err: MCPDiagnosticError,
    code: str,
    touchpoint: str,
    retryable: bool | None = None,
    caused: bool = True,
) -> dict[str, Any]:
    """The error and its event agree on the code, retryability and Debug ID."""
    assert err.code == code, (err.code, err.event and err.event.get("detail"))
    event = check_event(capture, planted, code, touchpoint)
    expected = code_info(code).retryable if retryable is None else retryable
    assert err.retryable is expected
    assert event["retryable"] is expected
    assert err.debug_id == event["traceId"]
    assert (err.__cause__ is not None) is caused
    return event


async def http_failure(
    capture: Capture, planted: Planted, url: str, transport: str = "streamable-http", **options: Any
) -> MCPDiagnosticError:
    """Connect to `url` with the planted secrets; the MCPDiagnosticError it must end with."""
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo",
            emitter=capture.emitter,
            url=url,
            transport=transport,  # type: ignore[arg-type]
            headers=planted.headers,
            **{**FAST, **options},
        ) as session:
            await session.list_tools()
    return info.value


async def stdio_failure(
    capture: Capture, planted: Planted, *args: str, command: str = PYTHON
) -> MCPDiagnosticError:
    """Start a stdio server with the planted env value; the MCPDiagnosticError it must end with."""
    params = StdioServerParameters(command=command, args=list(args), env={"API_KEY": planted.env_value})
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session("zoo", emitter=capture.emitter, stdio=params, transport="stdio", **FAST):
            pass
    return info.value


def assert_never_leaked(capture: Capture, values: list[str]) -> None:
    """None of `values` (what the authorization server issued) appears in any event."""
    assert values
    text = json.dumps([[e["messageSafe"], e["detail"], e["attrs"]] for e in capture.events()])
    for value in values:
        assert value not in text


async def oauth_failure(
    capture: Capture, port: int, mode: str, browser: Browser, **options: Any
) -> MCPDiagnosticError:
    """Connect to the OAuth-protected server in `mode`; the MCPDiagnosticError it must end with."""
    url = f"http://127.0.0.1:{port}/m/{mode}/mcp"
    with pytest.raises(MCPDiagnosticError) as info:
        async with open_session(
            "zoo", emitter=capture.emitter, url=url, oauth=browser.provider(url), **{**FAST, **options}
        ) as session:
            await session.list_tools()
    return info.value
