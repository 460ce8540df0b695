"""`GET /api/mcp/{server}/diagnostics` and `/summary`: filters, paging, and refusing bad parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from mcpdiag.emitters import format_ts
from mcpdiag.store.base import utc_now
from tests.api.conftest import Api
from tests.api.support import seed
from tests.factories import make_event


async def walk(api: Api, url: str, headers: dict[str, str]) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        response = await api.client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return items


async def test_pages_are_newest_first_and_cover_every_visible_event_once(api: Api) -> None:
    now = utc_now()
    events = [
        make_event(user_id=["ursula", "victor", None][i % 3], ts=now - timedelta(seconds=i // 2))
        for i in range(60)
    ]
    await seed(api.store, events)
    items = await walk(api, "/api/mcp/github/diagnostics", api.as_user())
    expected = sorted((e for e in events if e.user_id != "victor"), key=lambda e: (e.ts, e.id), reverse=True)
    assert [i["id"] for i in items] == [e.id for e in expected]
    assert all("detail" not in i for i in items)
    staff = await walk(api, "/api/mcp/github/diagnostics", api.support)
    assert len(staff) == 60 and all(i["detail"] for i in staff)


async def test_filters_combine_severity_window_codes_and_touchpoints(api: Api) -> None:
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(code="MCP_CONNECTED", ts=now - timedelta(hours=3)),
            make_event(code="MCP_TOOL_ERROR", ts=now - timedelta(hours=2), touchpoint="tool_call"),
            make_event(code="MCP_TIMEOUT", ts=now - timedelta(hours=1)),
            make_event(code="MCP_TIMEOUT", ts=now - timedelta(minutes=30), severity="critical"),
        ],
    )

    async def codes(**params: object) -> list[str]:
        response = await api.client.get("/api/mcp/github/diagnostics", params=params, headers=api.admin)
        assert response.status_code == 200, response.text
        return [i["code"] for i in response.json()["items"]]

    assert await codes(severity="warning") == ["MCP_TIMEOUT", "MCP_TIMEOUT", "MCP_TOOL_ERROR"]
    assert await codes(severity="critical") == ["MCP_TIMEOUT"]
    window = {
        "from": format_ts(now - timedelta(hours=2, minutes=1)),
        "to": format_ts(now - timedelta(minutes=45)),
    }
    assert await codes(**window) == ["MCP_TIMEOUT", "MCP_TOOL_ERROR"]
    assert await codes(code=["MCP_CONNECTED", "MCP_TOOL_ERROR"]) == ["MCP_TOOL_ERROR", "MCP_CONNECTED"]
    assert await codes(touchpoint=["tool_call", "lifecycle"]) == ["MCP_TOOL_ERROR", "MCP_CONNECTED"]
    offset = (now - timedelta(hours=4)).astimezone().isoformat()
    assert len(await codes(**{"from": offset})) == 4


async def test_a_problems_occurrences_are_its_code_touchpoint_and_tool(api: Api) -> None:
    """The drawer's "Occurrences" of a problem: the listing narrowed by its fingerprint, tool included."""
    now = utc_now()
    calls = [
        make_event(code="MCP_TIMEOUT", touchpoint="tool_call", tool=tool, ts=now - timedelta(minutes=i))
        for i, tool in enumerate(["search", "fetch", "search", None])
    ]
    await seed(api.store, [*calls, make_event(code="MCP_TIMEOUT", ts=now - timedelta(minutes=9))])
    params = {"code": "MCP_TIMEOUT", "touchpoint": "tool_call", "tool": "search"}
    response = await api.client.get("/api/mcp/github/diagnostics", params=params, headers=api.admin)
    assert [i["id"] for i in response.json()["items"]] == [calls[0].id, calls[2].id]
    for bad in ("tool=", "tool=a&tool=b", "tool=" + "x" * 129):
        answer = await api.client.get(f"/api/mcp/github/diagnostics?{bad}", headers=api.admin)
        assert answer.status_code == 400 and answer.json()["error"]["message"].startswith("tool: ")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("severity=loud", "severity"),
        ("severity[$ne]=debug", "severity[$ne]"),
        ("severity=%7B%22%24ne%22%3A1%7D", "severity"),
        ("code[$regex]=.*", "code[$regex]"),
        ("code=%5B%22MCP_TIMEOUT%22%5D", "code"),
        ("code=mcp_timeout", "code"),
        ("code=X", "code"),
        ("touchpoint=kitchen", "touchpoint"),
        ("from=2026-11-21T10:00:00", "from"),
        ("from=yesterday", "from"),
        ("from=2026-11-21T10:00:00Z&to=2026-11-21T09:00:00Z", "from"),
        ("from=2026-11-21T10:00:00Z&to=2026-11-21T10:00:00Z", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&limit=6", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "A" * 600, "cursor"),
        ("user_id=victor", "user_id"),
        ("userId=victor", "userId"),
    ],
)
async def test_bad_parameters_answer_400_naming_the_parameter(api: Api, query: str, parameter: str) -> None:
    await seed(api.store, [make_event(user_id="ursula", ts=utc_now())])
    response = await api.client.get(f"/api/mcp/github/diagnostics?{query}", headers=api.as_user())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid_parameter", "invalid_cursor")
    assert error["message"].startswith(f"{parameter}: "), error


async def test_a_tampered_or_foreign_cursor_is_refused(api: Api) -> None:
    now = utc_now()
    await seed(api.store, [make_event(user_id="ursula", ts=now - timedelta(seconds=i)) for i in range(5)])
    first = await api.client.get("/api/mcp/github/diagnostics?limit=2", headers=api.as_user())
    cursor = first.json()["nextCursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in (tampered, cursor[:-3]):
        response = await api.client.get(
            f"/api/mcp/github/diagnostics?limit=2&cursor={bad}", headers=api.as_user()
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_cursor"
    # A user's cursor is bound to their own scope: an admin (other scope) cannot resume it, and vice versa.
    foreign = await api.client.get(f"/api/mcp/github/diagnostics?limit=2&cursor={cursor}", headers=api.admin)
    assert foreign.status_code == 400


async def test_a_cursor_forged_with_the_old_public_key_is_a_400(api: Api) -> None:
    """The first version signed every deployment's cursors with one constant; with it anyone could name any
    position (a time past SQLite's integers answered 500). Those cursors are now simply not ours."""
    await seed(api.store, [make_event(ts=utc_now() - timedelta(seconds=i)) for i in range(3)])
    first = await api.client.get("/api/mcp/github/diagnostics?limit=1", headers=api.admin)
    cursor = first.json()["nextCursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    fingerprint = json.loads(raw[:-12])[2]  # the payload, without its 12-byte MAC
    for position in ([10**30, "01ABC"], [-1, "x"], [1, "' OR 1=1"]):
        payload = json.dumps([*position, fingerprint], separators=(",", ":")).encode()
        mac = hmac.new(b"mcpdiag-cursor-v1", payload, hashlib.sha256).digest()
        for size in (9, 12):
            forged = base64.urlsafe_b64encode(payload + mac[:size]).rstrip(b"=").decode()
            response = await api.client.get(
                "/api/mcp/github/diagnostics", params={"limit": 1, "cursor": forged}, headers=api.admin
            )
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "invalid_cursor"


async def test_summary_counts_the_callers_view_over_the_window(api: Api) -> None:
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(code="MCP_TIMEOUT", user_id="ursula", ts=now - timedelta(hours=2)),
            make_event(code="MCP_TIMEOUT", user_id=None, ts=now - timedelta(hours=1)),
            make_event(code="MCP_DNS_FAILURE", user_id="victor", ts=now - timedelta(minutes=5)),
            make_event(code="MCP_CONNECTED", user_id=None, ts=now - timedelta(minutes=10)),
            make_event(code="MCP_TIMEOUT", user_id="ursula", ts=now - timedelta(days=2)),
        ],
    )
    user = (await api.client.get("/api/mcp/github/summary", headers=api.as_user())).json()
    assert user["total"] == 3 and user["errorCount"] == 2
    assert user["bySeverity"] == {"error": 2, "info": 1}
    assert set(user["byCode"]) == {"MCP_TIMEOUT", "MCP_CONNECTED"}
    assert user["byCode"]["MCP_TIMEOUT"]["count"] == 2
    assert user["byCode"]["MCP_TIMEOUT"]["firstSeen"] < user["byCode"]["MCP_TIMEOUT"]["lastSeen"]
    assert user["lastError"]["userId"] is None and "detail" not in user["lastError"]
    staff = (await api.client.get("/api/mcp/github/summary?window=7d", headers=api.support)).json()
    assert staff["total"] == 5 and staff["lastError"]["code"] == "MCP_DNS_FAILURE"
    assert staff["lastError"]["detail"]
    short = (await api.client.get("/api/mcp/github/summary?window=30m", headers=api.support)).json()
    assert short["total"] == 2 and short["window"] == "30m"


@pytest.mark.parametrize("window", ["24", "1w", "31d", "0h", "-1h", "1.5h", "%7B%7D", "99999d"])
async def test_summary_refuses_a_bad_window(api: Api, window: str) -> None:
    response = await api.client.get(f"/api/mcp/docs/summary?window={window}", headers=api.as_user())
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("window: ")


async def test_a_server_named_in_acl_or_claim_without_events_is_empty_not_missing(api: Api) -> None:
    for url in ("/api/mcp/docs/diagnostics", "/api/mcp/docs/summary"):
        assert (await api.client.get(url, headers=api.as_user())).status_code == 200
    claimed = api.as_user(mcp_servers=["fresh"])
    body = (await api.client.get("/api/mcp/fresh/diagnostics", headers=claimed)).json()
    assert body == {"server": "fresh", "items": [], "nextCursor": None}


async def test_a_coalesced_event_is_served_with_its_count_and_counted_as_every_occurrence(api: Api) -> None:
    """Its listing row, its Debug ID lookup, the summary and the server card all carry the occurrences."""
    now = utc_now()
    first, last = now - timedelta(minutes=20), now - timedelta(minutes=11)
    storm = make_event(code="MCP_TIMEOUT", user_id="ursula", ts=last, count=40, first_ts=first, last_ts=last)
    await seed(api.store, [storm, make_event(code="MCP_DNS_FAILURE", user_id="ursula", ts=now)])
    page = (await api.client.get("/api/mcp/github/diagnostics", headers=api.as_user())).json()
    row = next(item for item in page["items"] if item["id"] == storm.id)
    assert (row["count"], row["firstTs"], row["lastTs"]) == (40, format_ts(first), format_ts(last))
    single = next(item for item in page["items"] if item["id"] != storm.id)
    assert (single["count"], single["firstTs"], single["lastTs"]) == (1, None, None)
    found = (await api.client.get(f"/api/diagnostics/{storm.trace_id}", headers=api.support)).json()
    assert found["items"][0]["count"] == 40
    summary = (await api.client.get("/api/mcp/github/summary", headers=api.as_user())).json()
    assert (summary["total"], summary["failureCount"], summary["byCode"]["MCP_TIMEOUT"]["count"]) == (
        41,
        41,
        40,
    )
    status = (await api.client.get("/api/mcp/connection/status", headers=api.as_user())).json()
    assert status["connectionStatus"]["github"]["recent"]["failureCount"] == 41
