"""`GET /api/mcp/connection/status`: which servers are listed, and the state rule of `mcpdiag.api.status`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mcpdiag.store.base import utc_now
from tests.api.conftest import ACL, Api
from tests.api.support import seed
from tests.factories import make_event


async def status_of(api: Api, headers: dict[str, str]) -> dict[str, dict[str, object]]:
    response = await api.client.get("/api/mcp/connection/status", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, dict[str, object]] = response.json()["connectionStatus"]
    return result


@pytest.mark.parametrize(
    ("codes", "state", "requires_oauth"),
    [
        (["MCP_TIMEOUT", "MCP_CONNECTED"], "connected", False),
        (["MCP_OAUTH_STARTED"], "connecting", True),
        (["MCP_OAUTH_STARTED", "MCP_OAUTH_COMPLETED"], "connected", False),
        (["MCP_CONNECTED", "MCP_DISCONNECTED"], "disconnected", False),
        (["MCP_CONNECTED", "MCP_AUTH_REQUIRED"], "error", True),
        (["MCP_OAUTH_STARTED", "MCP_OAUTH_TIMEOUT"], "error", True),
        (["MCP_CONNECTED", "MCP_DNS_FAILURE"], "error", False),
        (["MCP_CONNECTED", "MCP_NEW_UNKNOWN_CODE"], "error", False),
        (["MCP_CONNECTED", "MCP_TOOL_ERROR"], "connected", False),
    ],
)
async def test_state_follows_the_latest_connection_event(
    api: Api, codes: list[str], state: str, requires_oauth: bool
) -> None:
    now = utc_now()
    events = [
        make_event(
            server="docs",
            code=code,
            ts=now - timedelta(minutes=len(codes) - i),
            touchpoint="tool_call" if code == "MCP_TOOL_ERROR" else "oauth" if "OAUTH" in code else "connect",
            **({"severity": "error"} if code == "MCP_NEW_UNKNOWN_CODE" else {}),
        )
        for i, code in enumerate(codes)
    ]
    await seed(api.store, events)
    docs = (await status_of(api, api.as_user()))["docs"]
    assert docs["connectionState"] == state
    assert docs["requiresOAuth"] is requires_oauth
    state_event = [e for e in events if e.code != "MCP_TOOL_ERROR"][-1]
    assert docs["updatedAt"] == state_event.to_wire()["ts"]
    failures = [e for e in events if e.severity.rank >= 2 and e.code != "MCP_TOOL_ERROR"]
    if failures:
        last = failures[-1]
        assert docs["lastError"] == {
            "code": last.code,
            "message": last.message_safe,
            "retryable": last.retryable,
            "traceId": last.trace_id,
            "at": last.to_wire()["ts"],
            "touchpoint": last.touchpoint.value,
            "tool": None,
            "resolved": state in ("connected", "disconnected"),
        }
    else:
        assert docs["lastError"] is None


async def test_a_user_sees_state_from_their_own_and_server_wide_events_only(api: Api) -> None:
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(
                server="github", code="MCP_CONNECTED", user_id="ursula", ts=now - timedelta(minutes=5)
            ),
            make_event(
                server="github", code="MCP_AUTH_REQUIRED", user_id="victor", ts=now - timedelta(minutes=1)
            ),
        ],
    )
    mine = (await status_of(api, api.as_user()))["github"]
    assert (mine["connectionState"], mine["lastError"]) == ("connected", None)
    everyone = (await status_of(api, api.admin))["github"]
    assert everyone["connectionState"] == "error" and everyone["requiresOAuth"] is True


async def test_listed_servers_are_exactly_those_the_caller_can_access(api: Api) -> None:
    await seed(api.store, [make_event(server=s, ts=utc_now()) for s in ("github", "stored-only", "payroll")])
    assert set(await status_of(api, api.as_user())) == {"github", "docs"}
    assert set(await status_of(api, api.as_user(groups=["eng"], mcp_servers=["claimed"]))) == {
        "github",
        "jira",
        "docs",
        "claimed",
    }
    assert set(await status_of(api, api.as_user("zed", mcp_servers="*"))) == {
        "github",
        "jira",
        "docs",
        "payroll",
        "stored-only",
    }
    staff = await status_of(api, api.support)
    assert set(staff) == {"github", "jira", "docs", "payroll", "stored-only"}
    assert staff["jira"] == {
        "state": "unknown",
        "connectionState": "unknown",
        "endpoint": None,
        "requiresOAuth": False,
        "lastError": None,
        "updatedAt": None,
        "recent": {
            "window": "24h",
            "since": staff["jira"]["recent"]["since"],
            "failureCount": 0,
            "toolErrorCount": 0,
        },
    }


async def test_status_refuses_any_query_parameter(api: Api) -> None:
    response = await api.client.get("/api/mcp/connection/status?server[$ne]=x", headers=api.as_user())
    assert response.status_code == 400


async def test_the_status_listing_pages_every_server_once_in_name_order(api: Api) -> None:
    """Staff walk every stored server plus the ACL's names in pages; a user's pages hold only their grants;
    a cursor that is not one is a 400 naming it."""
    names = [f"srv-{i:02d}" for i in range(23)]
    await seed(api.store, [make_event(server=name, code="MCP_CONNECTED") for name in names])
    expected = sorted({*names, *ACL["servers"]})
    walked: list[str] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        response = await api.client.get("/api/mcp/connection/status", params=params, headers=api.support)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["connectionStatus"]) <= 5
        walked += list(body["connectionStatus"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert walked == expected
    mine = await api.client.get("/api/mcp/connection/status", params={"limit": 1}, headers=api.as_user())
    assert set(mine.json()["connectionStatus"]) <= {"github", "docs"}
    bad = await api.client.get("/api/mcp/connection/status", params={"cursor": "!!"}, headers=api.support)
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("cursor")


async def test_the_card_names_the_endpoint_its_latest_connection_events_report(api: Api) -> None:
    """The newest connection event naming an endpoint (a connect, a failure, or a re-check) gives it, with
    its transport; a tool call naming one does not, nor an attr merely called so (a bare path), and a user
    sees only what their own events say."""
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(
                server="github",
                code="MCP_CONNECTED",
                user_id="ursula",
                ts=now - timedelta(minutes=9),
                transport="streamable-http",
                attrs={"endpoint": "https://old.example.test/mcp"},
            ),
            make_event(
                server="github",
                code="MCP_DNS_FAILURE",
                user_id="ursula",
                ts=now - timedelta(minutes=5),
                transport="streamable-http",
                attrs={"endpoint": "https://mcp.example.test/mcp"},
            ),
            make_event(
                server="github",
                code="MCP_TOOL_ERROR",
                user_id="ursula",
                ts=now - timedelta(minutes=1),
                touchpoint="tool_call",
                tool="search",
                attrs={"endpoint": "https://tool.example.test/"},
            ),
            make_event(
                server="github",
                code="MCP_CONNECTED",
                user_id="victor",
                ts=now,
                transport="stdio",
                attrs={"endpoint": "victors-server"},
            ),
            make_event(
                server="docs", code="MCP_CONNECTED", user_id="ursula", ts=now, attrs={"endpoint": "/mcp"}
            ),
        ],
    )
    mine = await status_of(api, api.as_user())
    assert mine["github"]["endpoint"] == {
        "address": "https://mcp.example.test/mcp",
        "transport": "streamable-http",
    }
    assert mine["github"]["state"] == "misconfigured"
    assert mine["docs"]["endpoint"] is None
    staff = await status_of(api, api.support)
    assert staff["github"]["endpoint"] == {"address": "victors-server", "transport": "stdio"}


async def test_the_docs_show_both_state_enums(api: Api) -> None:
    """`/openapi.json` (what `/docs` renders) lists the honest states and the coarse ones hosts read."""
    schema = (await api.client.get("/openapi.json")).json()["components"]["schemas"]["ServerStatus"]
    assert schema["properties"]["state"]["enum"] == [
        "connected",
        "idle",
        "needs_auth",
        "auth_expired",
        "unreachable",
        "misconfigured",
        "degraded",
        "failing",
        "unknown",
    ]
    assert schema["properties"]["connectionState"]["enum"] == [
        "connected",
        "connecting",
        "disconnected",
        "error",
        "unknown",
    ]
    assert "on-demand" in schema["properties"]["state"]["description"]


@pytest.mark.parametrize("severity", ["debug", "info", "error"])
async def test_a_name_holding_only_connection_tests_is_no_card_at_any_severity(
    api: Api, severity: str
) -> None:
    """A test the doctor's address policy stopped is stored at severity debug: the name it was stored under
    (`doctor:<host>` in earlier releases) still makes no card, for staff or a user who sees every name, and
    no server of the Overview."""
    run = make_event(
        server="doctor:legacy-host",
        user_id="mallory",
        touchpoint="inspection",
        code="MCP_DOMAIN_NOT_ALLOWED" if severity == "debug" else "MCP_CONNECTED",
        severity=severity,
        attrs={"doctor": True, "doctor.unnamed": True},
    )
    await seed(api.store, [run, make_event(server="github", user_id="ursula")])
    for caller in (api.support, api.as_user("walt", mcp_servers=["*"])):
        cards = (await api.client.get("/api/mcp/connection/status", headers=caller)).json()[
            "connectionStatus"
        ]
        assert "doctor:legacy-host" not in cards and "github" in cards, cards
    overview = await api.client.get("/api/overview", headers=api.support)
    assert overview.status_code == 200 and "doctor:legacy-host" not in overview.text


async def test_an_ingested_event_marked_as_a_test_does_not_hide_a_real_server(api: Api) -> None:
    """Found by a review: the mark was trusted on any name, so one event an ingest key sent with it hid a
    real server from every card and the Overview. Only names the doctor stores tests under count."""
    marked = make_event(
        server="github",
        touchpoint="inspection",
        code="MCP_CONNECTED",
        severity="debug",
        attrs={"doctor": True, "doctor.unnamed": True},
        ts=utc_now(),
    )
    await seed(
        api.store,
        [make_event(server="github", user_id="ursula", ts=utc_now() - timedelta(minutes=1)), marked],
    )
    cards = (await api.client.get("/api/mcp/connection/status", headers=api.support)).json()[
        "connectionStatus"
    ]
    assert "github" in cards, cards
    overview = await api.client.get("/api/overview", headers=api.support)
    assert '"github"' in overview.text
