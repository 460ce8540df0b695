"""A server's name in a path: any name an event may have reaches every per-server endpoint (a slash, a URL,
what redaction left of one), and a name no event may have (a control character) is a 400 naming `server`,
never a query: SQLite's JSON functions end a string at a NUL, so `github\\u0000x` was read as `github` (a 500
from the summary, github's problems under another name)."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from mcpdiag.store import SQLiteEventStore, utc_now
from tests.api.conftest import ACL, Api
from tests.api.support import build_app
from tests.collector.support import new_key, serve
from tests.factories import make_event
from tests.waiting import HTTP_PATIENCE

ROUTES = ("diagnostics", "summary", "problems", "timeline", "diagnostics/stream")
READS = ROUTES[:-1]  # the stream answers until it is closed: its check is enough here
CONTROLLED = ["github\x00zz", "github\x00", "git\x1fhub", "github\x7f", "\x00"]


async def _ingest(api: Api, server: str, count: int = 2) -> list[str]:
    events = [
        make_event(server=server, ts=utc_now() - timedelta(minutes=i + 1), user_id=None).to_wire()
        for i in range(count)
    ]
    response = await api.client.post(
        "/v1/events", json={"events": events}, headers={"x-api-key": api.ingest_key}
    )
    assert response.status_code == 202 and response.json()["accepted"] == count, response.text
    return [event["id"] for event in events]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", CONTROLLED)
async def test_a_name_with_a_control_character_is_a_400_naming_server(
    api: Api, route: str, name: str
) -> None:
    await _ingest(api, "github")
    for headers in (api.admin, api.support):
        response = await api.client.get(f"/api/mcp/{quote(name, safe='')}/{route}", headers=headers)
        assert response.status_code == 400, (route, response.text)
        error = response.json()["error"]
        assert "server" in error["message"] and "control" in error["message"], error
        assert "github" not in response.text.replace(quote(name, safe=""), "")


async def test_the_store_reads_a_name_with_a_nul_as_no_server(api: Api) -> None:
    """Below the API too: a NUL name matches nothing stored (nothing stored holds one), never its prefix."""
    await _ingest(api, "github")
    store = api.store
    assert isinstance(store, SQLiteEventStore)
    summaries = await store.summaries(["github\x00zz", "github"], utc_now() - timedelta(days=1))
    assert summaries["github\x00zz"].total == 0 and summaries["github"].total == 2
    assert set(await store.last_events(["github\x00zz"])) == set()


@pytest.mark.parametrize(
    "name",
    [
        "team/github",
        "a/b/c",
        "https://mcp.example.invalid/v1",
        "/leading",
        "trailing/",
        "x/diagnostics",
        "é/ü",
    ],
)
async def test_a_name_with_slashes_reaches_every_endpoint(api: Api, name: str) -> None:
    ids = await _ingest(api, name)
    await _ingest(api, "github")
    for route in READS:
        response = await api.client.get(f"/api/mcp/{quote(name, safe='')}/{route}", headers=api.admin)
        assert response.status_code == 200, (route, response.text)
        body = response.json()
        if route == "diagnostics":
            assert sorted(item["id"] for item in body["items"]) == sorted(ids)
        if route == "summary":
            assert body["server"] == name and body["total"] == 2, body


async def test_a_name_redaction_rewrote_is_reachable_over_a_real_socket(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A server sent as a URL with a password is stored with the password redacted (slashes and all): the
    name the status lists is the name its drawer opens, through uvicorn's own path decoding."""
    from tests.api.support import Tokens

    tmp = tmp_path_factory.mktemp("names")
    tokens, key = Tokens(), new_key()
    app = build_app(tmp, tokens, ACL, key)
    admin = tokens.header(tokens.mint("ada", roles=["admin"]))
    sent = f"https://svc:{secrets.token_urlsafe(12)}@mcp.example.invalid/mcp"
    event = make_event(server=sent, ts=utc_now() - timedelta(minutes=1), user_id=None).to_wire()
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
        stored = await client.post("/v1/events", json={"events": [event]}, headers={"x-api-key": key})
        assert stored.status_code == 202 and stored.json()["accepted"] == 1, stored.text
        status = await client.get("/api/mcp/connection/status", headers=admin)
        [name] = [s for s in status.json()["connectionStatus"] if "mcp.example.invalid" in s]
        assert "[REDACTED" in name and sent not in status.text
        for route in READS:
            response = await client.get(f"/api/mcp/{quote(name, safe='')}/{route}", headers=admin)
            assert response.status_code == 200, (route, response.text)
        listed = await client.get(f"/api/mcp/{quote(name, safe='')}/diagnostics", headers=admin)
        assert [item["id"] for item in listed.json()["items"]] == [event["id"]]


ODD = [".", "..", "...", ".a", "a.", "./a", "../a", "a/..", "%2E", "%2e%2e", "?", "#", "%", " ", "a?b#c"]


@pytest.mark.parametrize("name", ODD)
async def test_a_name_ingest_accepts_is_served_and_one_no_url_can_carry_is_refused_naming_server(
    api: Api, name: str
) -> None:
    """Found by an adversarial pass: `.` and `..` were accepted, and no client can ask for them (every one
    removes such path segments, `%2E` too): stored events nothing could read. Whatever ingest accepts, every
    per-server read serves; what it refuses, it refuses by index naming `server`."""
    event = make_event(ts=utc_now() - timedelta(minutes=1), user_id=None).to_wire()
    event["server"] = name  # as a host sends it, not through the model that refuses it
    response = await api.client.post(
        "/v1/events", json={"events": [event]}, headers={"x-api-key": api.ingest_key}
    )
    assert response.status_code in (202, 422), response.text
    body = response.json()
    if body.get("accepted") == 1:
        for route in READS:
            read = await api.client.get(f"/api/mcp/{quote(name, safe='')}/{route}", headers=api.admin)
            assert read.status_code == 200, (route, read.text)
            if route == "diagnostics":
                assert [item["id"] for item in read.json()["items"]] == [event["id"]]
    else:
        assert name in (".", ".."), body
        assert "server" in json.dumps(body), body
