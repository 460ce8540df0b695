"""`/problems`, `/timeline` and `/api/overview` over HTTP: grouped failures, trends and live incidents, with
the diagnostics' RBAC (a user's counts cover only what they may see; the Overview is staff only)."""

from __future__ import annotations

from datetime import timedelta

from mcpdiag.emitters import format_ts
from mcpdiag.store import utc_now
from tests.api.conftest import Api
from tests.api.support import seed
from tests.factories import make_event


async def test_problems_group_and_count_what_the_caller_may_see(api: Api) -> None:
    now = utc_now()
    await seed(
        api.store,
        [
            *[
                make_event(code="MCP_TIMEOUT", user_id="ursula", ts=now - timedelta(minutes=i))
                for i in range(3)
            ],
            make_event(code="MCP_TIMEOUT", user_id="victor", ts=now - timedelta(minutes=5)),
            make_event(
                code="MCP_TIMEOUT",
                user_id=None,
                ts=now - timedelta(minutes=9),
                count=20,
                first_ts=now - timedelta(minutes=10),
                last_ts=now - timedelta(minutes=9),
            ),
            make_event(
                code="MCP_TOOL_ERROR", touchpoint="tool_call", tool="search", user_id="victor", ts=now
            ),
            make_event(code="MCP_CONNECTED", user_id="ursula", ts=now),
        ],
    )
    staff = (await api.client.get("/api/mcp/github/problems", headers=api.support)).json()
    by_code = {p["code"]: p for p in staff["items"]}
    assert set(by_code) == {"MCP_TIMEOUT", "MCP_TOOL_ERROR"}  # warning and above only
    timeout = by_code["MCP_TIMEOUT"]
    assert (timeout["count"], timeout["usersAffected"], timeout["serverWide"]) == (24, 2, True)
    assert sum(timeout["trend"]) == 24 and len(timeout["trend"]) == len(staff["bucketStarts"]) <= 12
    assert staff["bucketStarts"][-1] < staff["to"]  # no bucket of hours still to come
    assert by_code["MCP_TOOL_ERROR"]["tool"] == "search" and staff["items"][0]["code"] == "MCP_TIMEOUT"
    mine = (await api.client.get("/api/mcp/github/problems", headers=api.as_user())).json()
    assert [(p["code"], p["count"], p["usersAffected"]) for p in mine["items"]] == [("MCP_TIMEOUT", 23, 1)]
    assert (await api.client.get("/api/mcp/payroll/problems", headers=api.as_user())).status_code == 404
    assert (await api.client.get("/api/mcp/nowhere/problems", headers=api.support)).status_code == 404


async def test_the_timeline_stacks_occurrences_by_severity_in_buckets(api: Api) -> None:
    now = utc_now().replace(minute=30, second=0, microsecond=0)
    await seed(
        api.store,
        [
            make_event(code="MCP_TIMEOUT", ts=now - timedelta(hours=1)),
            make_event(code="MCP_TIMEOUT", ts=now - timedelta(hours=1), severity="critical"),
            make_event(code="MCP_CONNECTED", ts=now),
        ],
    )
    params = {
        "from": format_ts(now - timedelta(hours=3, minutes=30)),
        "to": format_ts(now + timedelta(minutes=30)),
        "buckets": 4,
    }
    body = (await api.client.get("/api/mcp/github/timeline", params=params, headers=api.admin)).json()
    assert body["bySeverity"] == {"error": [0, 0, 1, 0], "critical": [0, 0, 1, 0], "info": [0, 0, 0, 1]}
    assert body["bucketSeconds"] == 3600


async def test_the_overview_is_staff_only_and_finds_the_incident(api: Api) -> None:
    now = utc_now().replace(minute=10, second=0, microsecond=0)
    quiet = [make_event(server="docs", code="MCP_TIMEOUT", ts=now - timedelta(hours=h)) for h in range(1, 12)]
    storm = [
        make_event(server="github", code="MCP_PROXY_SSE_ISSUE", ts=now - timedelta(minutes=m))
        for m in range(30)
    ]
    await seed(api.store, [*quiet, *storm, make_event(server="jira", code="MCP_CONNECTED", ts=now)])
    assert (await api.client.get("/api/overview", headers=api.as_user())).status_code == 403
    body = (await api.client.get("/api/overview", headers=api.support)).json()
    rows = {row["server"]: row for row in body["servers"]}
    assert (
        rows["github"]["failures"] == 30 and rows["docs"]["failures"] == 11 and rows["jira"]["failures"] == 0
    )
    assert body["servers"][0]["server"] == "github"
    assert body["topProblems"][0]["code"] == "MCP_PROXY_SSE_ISSUE"
    incident = next(i for i in body["incidents"] if i["server"] == "github")
    assert (incident["code"], incident["share"], incident["count"]) == ("MCP_PROXY_SSE_ISSUE", 1.0, 30)
    assert incident["spikes"] and incident["action"] == "docs"
    docs = next(i for i in body["incidents"] if i["server"] == "docs")
    assert docs["spikes"] == []  # one an hour is a steady trickle, not a spike


async def test_windows_are_bounded_and_named(api: Api) -> None:
    now = utc_now()
    wide = {"from": format_ts(now - timedelta(days=40)), "to": format_ts(now)}
    response = await api.client.get("/api/overview", params=wide, headers=api.support)
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("from")
    flipped = {"from": format_ts(now), "to": format_ts(now - timedelta(hours=1))}
    response = await api.client.get("/api/mcp/github/problems", params=flipped, headers=api.support)
    assert response.status_code == 400


async def test_the_overview_counts_like_the_cards(api: Api) -> None:
    """A server whose tools report errors but which never failed has no failures on the Overview either (its
    card says "no connection failures"): its tool errors are counted apart, and it finds no incident. Users
    affected are distinct people, not one per problem they ran into."""
    now = utc_now().replace(minute=10, second=0, microsecond=0)
    events = [
        *[
            make_event(
                server="github",
                code="MCP_TOOL_ERROR",
                touchpoint="tool_call",
                tool=tool,
                user_id="ursula",
                ts=now - timedelta(minutes=m),
            )
            for m, tool in enumerate(["a", "b", "a", "b", "a"])
        ],
        *[
            make_event(server="jira", code=code, user_id=user, ts=now - timedelta(minutes=m))
            for m, (code, user) in enumerate(
                [
                    ("MCP_TIMEOUT", "ursula"),
                    ("MCP_DNS_FAILURE", "ursula"),
                    ("MCP_TIMEOUT", "victor"),
                    ("MCP_DNS_FAILURE", None),
                ]
            )
        ],
    ]
    await seed(api.store, events)
    body = (await api.client.get("/api/overview", headers=api.support)).json()
    rows = {row["server"]: row for row in body["servers"]}
    assert (rows["github"]["failures"], rows["github"]["toolErrors"], sum(rows["github"]["trend"])) == (
        0,
        5,
        0,
    )
    assert (rows["jira"]["failures"], rows["jira"]["toolErrors"], sum(rows["jira"]["trend"])) == (4, 0, 4)
    assert rows["jira"]["usersAffected"] == 2 and body["usersAffected"] == 2  # ursula and victor, once each
    assert [i["server"] for i in body["incidents"]] == ["jira"]
    assert {p["code"] for p in body["topProblems"]} == {"MCP_TOOL_ERROR", "MCP_TIMEOUT", "MCP_DNS_FAILURE"}
    cards = (await api.client.get("/api/mcp/connection/status", headers=api.support)).json()[
        "connectionStatus"
    ]
    assert cards["github"]["recent"]["failureCount"] == rows["github"]["failures"]
    assert cards["jira"]["recent"]["failureCount"] == rows["jira"]["failures"]
