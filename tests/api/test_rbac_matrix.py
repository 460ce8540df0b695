"""The RBAC matrix: each endpoint, each kind of caller and whose events, with the exact status and, on
success, proof that nothing outside the caller's view came back. The app is served on loopback (uvicorn),
so the live stream is read as a browser reads it."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from mcpdiag.cli.serving import serving
from mcpdiag.store.base import utc_now
from tests.api.support import Tokens, build_app, seed
from tests.factories import make_event
from tests.waiting import HTTP_PATIENCE

pytestmark = pytest.mark.asyncio(loop_scope="module")

URSULA, VICTOR = "ursula", "victor"
ACL = {
    "servers": {
        "acl-user": {"users": [URSULA]},
        "acl-group": {"groups": ["eng"]},
        "public": {"public": True},
        "private": {"users": ["someone-else"], "groups": ["finance"]},
    }
}
SERVERS = ["claimed", "acl-user", "acl-group", "public", "private"]
# Whose event each ownership names, and the code it carries (so summaries show which ones were counted).
OWNERS: dict[str, tuple[str | None, str]] = {
    "own": (URSULA, "MCP_TIMEOUT"),
    "other": (VICTOR, "MCP_DNS_FAILURE"),
    "wide": (None, "MCP_SERVER_ERROR"),
}


@dataclass(frozen=True)
class Caller:
    """One kind of caller: how its token is made, the server it targets, and what it may see there."""

    name: str
    server: str = "private"
    status: int = 200
    """The status for the server-scoped endpoints (the status list always answers 200 to a valid token)."""
    staff: bool = False


CALLERS = [
    Caller("no token", status=401),
    Caller("expired", server="public", status=401),
    Caller("bad signature", server="public", status=401),
    Caller("wrong audience", server="public", status=401),
    Caller("alg none", server="public", status=401),
    Caller("user via claim", server="claimed"),
    Caller("user via ACL user", server="acl-user"),
    Caller("user via ACL group", server="acl-group"),
    Caller("user via public", server="public"),
    Caller("user without access", server="private", status=404),
    Caller("support", staff=True),
    Caller("admin", staff=True),
]
ENDPOINTS = ["diagnostics", "summary", "status", "debug", "problems", "timeline", "stream", "overview"]
STREAM_FROM_THE_START = "0.0"  # a Last-Event-ID before every event: the stream replays the server's events
STREAM_GUARD_S = 30  # a hang guard only: the replay is read from the store at once


def token_for(tokens: Tokens, caller: Caller) -> str | None:
    match caller.name:
        case "no token":
            return None
        case "expired":
            return tokens.mint(URSULA, ttl=-120, groups=["eng"])
        case "bad signature":
            return tokens.mint(URSULA, key="x" * 48, roles=["admin"])
        case "wrong audience":
            return tokens.mint(URSULA, aud="another-service", roles=["admin"])
        case "alg none":
            return tokens.unsigned(URSULA, roles=["admin"], mcp_servers="*")
        case "user via claim":
            return tokens.mint(URSULA, mcp_servers=["claimed"])
        case "user via ACL group":
            return tokens.mint(URSULA, groups=["eng"])
        case "support":
            return tokens.mint("sam", roles=["support"])
        case "admin":
            return tokens.mint("ada", roles=["admin"])
        case _:
            return tokens.mint(URSULA, groups=["staff-lunch"])


@dataclass
class World:
    client: httpx.AsyncClient
    tokens: Tokens
    traces: dict[tuple[str, str], str]
    """(server, ownership) → trace id of that event."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("rbac")
    tokens = Tokens()
    app = build_app(tmp, tokens, ACL)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
        now = utc_now()
        events, traces = [], {}
        for i, (server, (ownership, (user, code))) in enumerate(itertools.product(SERVERS, OWNERS.items())):
            event = make_event(
                server=server,
                user_id=user,
                code=code,
                ts=now - timedelta(minutes=30 - i),
                detail=f"secret-{i}",
            )
            events.append(event)
            traces[server, ownership] = event.trace_id
        await seed(app.state.store, events)
        yield World(client, tokens, traces)


def url_for(endpoint: str, server: str, trace: str) -> str:
    return {
        "diagnostics": f"/api/mcp/{server}/diagnostics",
        "summary": f"/api/mcp/{server}/summary",
        "status": "/api/mcp/connection/status",
        "debug": f"/api/diagnostics/{trace}",
        "problems": f"/api/mcp/{server}/problems",
        "timeline": f"/api/mcp/{server}/timeline",
        "stream": f"/api/mcp/{server}/diagnostics/stream",
        "overview": "/api/overview",
    }[endpoint]


def expected_status(endpoint: str, caller: Caller, ownership: str) -> int:
    if caller.status == 401:
        return 401
    if endpoint == "status":
        return 200
    if endpoint == "overview":
        return 200 if caller.staff else 403
    if caller.status == 404:
        return 404
    if endpoint == "debug" and ownership == "other" and not caller.staff:
        return 404
    return 200


CASES = [
    pytest.param(e, c, o, expected_status(e, c, o), id=f"{e}-{c.name.replace(' ', '_')}-{o}")
    for e, c, o in itertools.product(ENDPOINTS, CALLERS, OWNERS)
]
assert len(CASES) >= 60


def assert_items_in_view(items: list[dict[str, Any]], caller: Caller) -> None:
    """Users get only their own and server-wide events, never `detail`; staff get `detail`."""
    for item in items:
        if caller.staff:
            assert item["detail"].startswith("secret-")
        else:
            assert "detail" not in item
            assert item["userId"] in (URSULA, None)
            assert item["server"] == caller.server


async def replayed(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The first `count` `diagnostic` messages of an open stream."""
    found: list[dict[str, Any]] = []
    event, data = "", ""
    async with asyncio.timeout(STREAM_GUARD_S):
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data = line.partition(":")[2].strip()
            elif not line and event == "diagnostic":
                found.append(json.loads(data))
                if len(found) == count:
                    break
    return found


async def stream_case(world: World, caller: Caller, headers: dict[str, str], status: int) -> None:
    """A stream opened from before the first event: its replay is exactly what the caller may see, in
    receipt order (own < other < wide: a user reading `wide` right after `own` was not shown `other`)."""
    path = url_for("stream", caller.server, "")
    headers = headers | {"Last-Event-ID": STREAM_FROM_THE_START}
    async with world.client.stream("GET", path, headers=headers) as response:
        if response.status_code != 200:
            assert response.status_code == status
            body = json.loads(await response.aread())
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
            assert "secret-" not in body["error"]["message"]
            return
        assert status == 200 and response.headers["content-type"].startswith("text/event-stream")
        seen = tuple(OWNERS) if caller.staff else ("own", "wide")
        items = await replayed(response, len(seen))
    assert [i["traceId"] for i in items] == [world.traces[caller.server, o] for o in seen]
    assert_items_in_view(items, caller)


@pytest.mark.parametrize(("endpoint", "caller", "ownership", "status"), CASES)
async def test_rbac_matrix(world: World, endpoint: str, caller: Caller, ownership: str, status: int) -> None:
    token = token_for(world.tokens, caller)
    trace = world.traces[caller.server, ownership]
    headers = world.tokens.header(token) if token else {}
    if endpoint == "stream":
        return await stream_case(world, caller, headers, status)
    response = await world.client.get(url_for(endpoint, caller.server, trace), headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    if status != 200:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert "secret-" not in response.text
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        return
    user, code = OWNERS[ownership]
    visible = caller.staff or user in (URSULA, None)
    if endpoint == "diagnostics":
        assert_items_in_view(body["items"], caller)
        assert (trace in {i["traceId"] for i in body["items"]}) is visible
        assert len(body["items"]) == (3 if caller.staff else 2)
    elif endpoint == "summary":
        assert (code in body["byCode"]) is visible
        assert body["total"] == (3 if caller.staff else 2)
        assert_items_in_view([body["lastError"]], caller)
    elif endpoint == "problems":
        codes = {p["code"]: p for p in body["items"]}
        assert (code in codes) is visible and len(codes) == (3 if caller.staff else 2)
        assert all(p["server"] == caller.server for p in body["items"])
        if visible:
            assert codes[code]["latestDebugId"] == trace
        assert "secret-" not in response.text
    elif endpoint == "timeline":
        assert sum(sum(counts) for counts in body["bySeverity"].values()) == (3 if caller.staff else 2)
    elif endpoint == "overview":
        rows = {r["server"]: r for r in body["servers"]}
        assert set(SERVERS) <= set(rows) and all(rows[s]["failures"] == 3 for s in SERVERS)
        assert body["usersAffected"] == 2  # ursula and victor, once each over every server
        assert "secret-" not in response.text
    elif endpoint == "status":
        servers = body["connectionStatus"]
        assert (caller.server in servers) is (caller.status == 200)
        assert "secret-" not in response.text
        if caller.server in servers:
            # Events were stored in server order, own < other < wide: the latest failure in view is `wide`.
            last = servers[caller.server]["lastError"]
            assert last["traceId"] == world.traces[caller.server, "wide"]
            assert servers[caller.server]["connectionState"] == "error"
        if not caller.staff:
            assert "private" not in servers
        else:
            assert set(SERVERS) <= set(servers)
    else:
        assert body["traceId"] == trace
        assert_items_in_view(body["items"] + body["related"], caller)
        assert [i["traceId"] for i in body["items"]] == [trace]
        if caller.staff:
            # The same user's events on that server within ±10 minutes (and server-wide ones) come along.
            related_users = {i["userId"] for i in body["related"]}
            assert related_users <= {user, None}
        else:
            assert body["related"] == []


async def test_staff_lookups_are_audited_and_user_lookups_are_not(world: World) -> None:
    admin = world.tokens.header(world.tokens.mint("ada", roles=["admin"]))
    trace = world.traces["public", "own"]
    before = (await world.client.get("/api/admin/audit", headers=admin)).json()["items"]
    user = world.tokens.header(world.tokens.mint(URSULA))
    assert (await world.client.get(f"/api/diagnostics/{trace}", headers=user)).status_code == 200
    support = world.tokens.header(world.tokens.mint("sam", roles=["support"]))
    assert (await world.client.get(f"/api/diagnostics/{trace[:10]}", headers=support)).status_code == 200
    after = (await world.client.get("/api/admin/audit", headers=admin)).json()["items"]
    assert len(after) == len(before) + 1
    record = after[0]
    assert (record["actor"], record["role"], record["action"], record["target"]) == (
        "sam",
        "support",
        "debug_id_lookup",
        trace[:10],
    )
    assert record["scope"] == {
        "traceId": trace,
        "servers": ["public"],
        "keptUntil": record["scope"]["keptUntil"],
    }
    assert record["requestId"] and record["scope"]["keptUntil"]


@pytest.mark.parametrize("who", ["support", "user"])
async def test_only_admins_read_the_audit_log(world: World, who: str) -> None:
    token = world.tokens.mint("sam", roles=["support"]) if who == "support" else world.tokens.mint(URSULA)
    response = await world.client.get("/api/admin/audit", headers=world.tokens.header(token))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_unknown_server_answers_like_an_inaccessible_one(world: World) -> None:
    user = world.tokens.header(world.tokens.mint(URSULA))
    admin = world.tokens.header(world.tokens.mint("ada", roles=["admin"]))
    private = await world.client.get("/api/mcp/private/diagnostics", headers=user)
    missing = await world.client.get("/api/mcp/no-such-server/diagnostics", headers=user)
    assert private.status_code == missing.status_code == 404
    assert private.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert (await world.client.get("/api/mcp/no-such-server/summary", headers=admin)).status_code == 404
    everything = world.tokens.header(world.tokens.mint(URSULA, mcp_servers="*"))
    page = (await world.client.get("/api/mcp/private/diagnostics", headers=everything)).json()
    assert {i["userId"] for i in page["items"]} == {URSULA, None}
    assert (
        await world.client.get("/api/mcp/no-such-server/diagnostics", headers=everything)
    ).status_code == 404
