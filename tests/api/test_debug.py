"""`GET /api/diagnostics/{debugId}`: trace id, event id or prefix; ambiguity; related events; audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mcpdiag.store.base import utc_now
from tests.api.conftest import Api
from tests.api.support import seed
from tests.factories import make_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SIBLING = "4bf92f35" + "1" * 24


async def test_full_trace_id_event_id_and_prefix_find_the_whole_trace_oldest_first(api: Api) -> None:
    now = utc_now()
    chain = [
        make_event(trace_id=TRACE, user_id="ursula", code=code, ts=now - timedelta(seconds=s))
        for s, code in ((30, "MCP_OAUTH_STARTED"), (10, "MCP_AUTH_REQUIRED"), (20, "MCP_TIMEOUT"))
    ]
    await seed(api.store, chain)
    for key in (TRACE, TRACE.upper(), chain[1].id, TRACE[:8], TRACE[:12]):
        response = await api.client.get(f"/api/diagnostics/{key}", headers=api.support)
        assert response.status_code == 200, (key, response.text)
        body = response.json()
        assert body["traceId"] == TRACE
        assert [i["code"] for i in body["items"]] == ["MCP_OAUTH_STARTED", "MCP_TIMEOUT", "MCP_AUTH_REQUIRED"]


async def test_an_ambiguous_prefix_is_409_listing_the_candidates(api: Api) -> None:
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(trace_id=TRACE, user_id="ursula", ts=now),
            make_event(trace_id=SIBLING, user_id="ursula", ts=now),
        ],
    )
    response = await api.client.get("/api/diagnostics/4bf92f35", headers=api.support)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "ambiguous_debug_id"
    assert TRACE[:12] in error["message"] and SIBLING[:12] in error["message"]
    assert (await api.client.get("/api/diagnostics/4bf92f357", headers=api.support)).status_code == 200


async def test_a_user_only_resolves_among_events_they_could_see(api: Api) -> None:
    """Another user's trace sharing the prefix neither shows nor makes the user's lookup ambiguous."""
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(trace_id=TRACE, user_id="ursula", ts=now),
            make_event(trace_id=SIBLING, user_id="victor", ts=now),
        ],
    )
    response = await api.client.get("/api/diagnostics/4bf92f35", headers=api.as_user())
    assert response.status_code == 200
    assert response.json()["traceId"] == TRACE and response.json()["related"] == []
    assert (await api.client.get(f"/api/diagnostics/{SIBLING}", headers=api.as_user())).status_code == 404
    victor = api.as_user("victor", mcp_servers=["github"])
    assert (await api.client.get(f"/api/diagnostics/{SIBLING}", headers=victor)).status_code == 200


async def test_related_is_the_users_events_on_that_server_within_ten_minutes(api: Api) -> None:
    now = utc_now()
    target = make_event(trace_id=TRACE, user_id="ursula", ts=now - timedelta(minutes=20))
    near = [
        make_event(user_id="ursula", ts=now - timedelta(minutes=29)),
        make_event(user_id=None, ts=now - timedelta(minutes=15)),
        make_event(user_id="ursula", ts=now - timedelta(minutes=11)),
    ]
    far = [
        make_event(user_id="ursula", ts=now - timedelta(minutes=31)),
        make_event(user_id="ursula", ts=now - timedelta(minutes=9)),
        make_event(user_id="victor", ts=now - timedelta(minutes=20)),
        make_event(user_id="ursula", server="docs", ts=now - timedelta(minutes=20)),
    ]
    await seed(api.store, [target, *near, *far])
    body = (await api.client.get(f"/api/diagnostics/{TRACE}", headers=api.admin)).json()
    assert [i["id"] for i in body["related"]] == [e.id for e in near]
    assert all(i["detail"] for i in body["items"] + body["related"])


@pytest.mark.parametrize("key", ["4bf92", "-dash", "has space", "x" * 65, "drop;table", "%24ne"])
async def test_malformed_debug_ids_are_400(api: Api, key: str) -> None:
    response = await api.client.get(f"/api/diagnostics/{key}", headers=api.support)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("debugId: ")


async def test_unknown_debug_id_is_404_and_lookups_are_audited(api: Api) -> None:
    assert (await api.client.get(f"/api/diagnostics/{TRACE}", headers=api.support)).status_code == 404
    await seed(api.store, [make_event(trace_id=TRACE, user_id="ursula", ts=utc_now())])
    response = await api.client.get(
        f"/api/diagnostics/{TRACE[:16]}", headers={**api.admin, "X-Request-ID": "req-audit-1"}
    )
    assert response.status_code == 200
    audit = (await api.client.get("/api/admin/audit", headers=api.admin)).json()
    [record] = audit["items"]
    assert record["actor"] == "ada" and record["role"] == "admin" and record["action"] == "debug_id_lookup"
    assert record["target"] == TRACE[:16] and record["scope"]["traceId"] == TRACE
    assert record["resultCount"] == 1 and record["requestId"] == "req-audit-1"
    assert audit["nextCursor"] is None
