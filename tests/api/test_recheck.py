"""Re-check: the doctor run against the endpoint a server's connection events name, stored as that server's
inspection, moves its card's state; `MCPDIAG_DOCTOR_ALLOW` lets it reach an internal (here: loopback) server
and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.store.base import utc_now
from tests.api.conftest import ACL, Api
from tests.api.support import Tokens, build_app, seed
from tests.collector.support import asgi_client, new_key
from tests.e2e.oauth_server import OAuthZoo
from tests.e2e.servers import serve, zoo_server
from tests.factories import make_event
from tests.waiting import eventually


@pytest.fixture(scope="module")
def zoo() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


@pytest.fixture(scope="module")
def oauth() -> Iterator[int]:
    with serve(OAuthZoo()) as port:
        yield port


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """Loopback allowed by address, as an admin lists an internal network: 127.0.0.1 only."""
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, ACL, key, doctor_allow="127.0.0.1/32")
    async with asgi_client(app) as client:
        yield Api(client, app.state.store, tokens, key)


async def _card(api: Api, server: str = "github") -> dict[str, Any]:
    response = await api.client.get("/api/mcp/connection/status", headers=api.as_user())
    assert response.status_code == 200, response.text
    card: dict[str, Any] = response.json()["connectionStatus"][server]
    return card


async def _recheck(api: Api, card: dict[str, Any], server: str = "github") -> dict[str, Any]:
    """What the card's Re-check button does: the doctor against the card's endpoint, named for the server;
    then the card once the run's inspection event is stored."""
    endpoint = card["endpoint"]
    body = {"url": endpoint["address"], "transport": endpoint["transport"], "server": server}
    answer = await api.client.post("/api/mcp/doctor", json=body, headers=api.as_user())
    assert answer.status_code == 200, answer.text
    debug_id = answer.json()["debugId"]

    async def lookup() -> httpx.Response | None:
        found = await api.client.get(f"/api/diagnostics/{debug_id}", headers=api.support)
        return found if found.status_code == 200 else None

    found = await eventually(lookup, "the re-check's inspection is stored")
    [event] = found.json()["items"]
    return {"report": answer.json(), "event": event, "card": await _card(api, server)}


async def test_a_passing_recheck_resolves_a_fixed_server(api: Api, zoo: int) -> None:
    """A DNS failure named the endpoint (then wrong); the admin fixed it; the re-check passes, the card says
    connected and the failure is history. The inspection names the endpoint as sessions do."""
    url = f"http://127.0.0.1:{zoo}/mcp"
    await seed(
        api.store,
        [
            make_event(
                server="github",
                code="MCP_DNS_FAILURE",
                user_id="ursula",
                ts=utc_now() - timedelta(minutes=3),
                transport="streamable-http",
                attrs={"endpoint": url},
            ),
        ],
    )
    before = await _card(api)
    assert before["state"] == "misconfigured" and before["endpoint"] == {
        "address": url,
        "transport": "streamable-http",
    }
    after = await _recheck(api, before)
    assert after["report"]["ok"] is True
    event = after["event"]
    assert (event["server"], event["touchpoint"], event["code"], event["userId"]) == (
        "github", "inspection", "MCP_CONNECTED", "ursula",
    )  # fmt: skip
    assert event["attrs"]["endpoint"] == url and event["attrs"]["doctor"] is True
    card = after["card"]
    assert card["state"] == "connected" and card["lastError"]["code"] == "MCP_DNS_FAILURE"
    assert card["lastError"]["resolved"] is True and card["recent"]["failureCount"] == 1


async def test_a_failing_recheck_is_the_state(api: Api, zoo: int) -> None:
    url = f"http://127.0.0.1:{zoo}/no-such-endpoint"
    await seed(
        api.store,
        [
            make_event(
                server="github",
                code="MCP_CONNECTED",
                user_id="ursula",
                ts=utc_now() - timedelta(minutes=3),
                attrs={"endpoint": url},
                transport="streamable-http",
            ),
        ],
    )
    after = await _recheck(api, await _card(api))
    assert after["report"]["code"] == "MCP_ENDPOINT_NOT_FOUND"
    assert after["card"]["state"] == "misconfigured" and after["card"]["recent"]["failureCount"] == 1


async def test_a_recheck_reaching_a_sign_in_is_no_failure(api: Api, oauth: int) -> None:
    """The re-check has no credentials: a server that asks for sign-in answered as it should. Stored at
    info with the untested mark, not counted; for a user who had connected, the card is idle (not
    "expired"); the report still says what the server asked for."""
    url = f"http://127.0.0.1:{oauth}/m/ok/mcp"
    now = utc_now()
    await seed(
        api.store,
        [
            make_event(
                server="github",
                code="MCP_CONNECTED",
                user_id="ursula",
                ts=now - timedelta(minutes=9),
                attrs={"endpoint": url},
                transport="streamable-http",
            ),
            make_event(
                server="github", code="MCP_DISCONNECTED", user_id="ursula", ts=now - timedelta(minutes=8)
            ),
        ],
    )
    after = await _recheck(api, await _card(api))
    assert (after["report"]["code"], after["report"]["failedStep"]) == ("MCP_AUTH_REQUIRED", "oauth")
    event = after["event"]
    assert event["severity"] == "info" and event["attrs"]["doctor.signIn"] == "untested"
    card = after["card"]
    assert (card["state"], card["requiresOAuth"], card["lastError"]) == ("idle", True, None)
    assert card["recent"]["failureCount"] == 0


async def test_a_recheck_with_credentials_that_are_refused_is_a_failure(api: Api, oauth: int) -> None:
    url = f"http://127.0.0.1:{oauth}/m/ok/mcp"
    body = {"url": url, "server": "github", "headers": {"Authorization": "Bearer not-a-valid-token"}}
    answer = await api.client.post("/api/mcp/doctor", json=body, headers=api.as_user())
    assert answer.json()["code"] == "MCP_AUTH_REQUIRED"

    async def judged() -> dict[str, Any] | None:
        card = await _card(api)
        return card if card["state"] != "unknown" else None

    card = await eventually(judged, "the card takes the doctor's verdict")
    assert card["state"] == "needs_auth" and card["recent"]["failureCount"] == 1


async def test_the_allow_list_opens_only_what_it_names(api: Api, zoo: int) -> None:
    """127.0.0.1 is listed; ::1 and 127.0.0.2 (loopback too) are refused before any traffic."""
    for host in ("[::1]", "127.0.0.2"):
        body = {"url": f"http://{host}:{zoo}/mcp", "server": "github"}
        answer = await api.client.post("/api/mcp/doctor", json=body, headers=api.as_user())
        assert (answer.json()["failedStep"], answer.json()["code"]) == ("dns", "MCP_DOMAIN_NOT_ALLOWED")


@pytest.mark.parametrize("host", ["127.0.0.2", "[::1]"])
async def test_a_recheck_the_allow_list_refuses_leaves_the_card_as_it_was(
    api: Api, zoo: int, host: str
) -> None:
    """A connected server, re-checked at an address the service's doctor may not reach: the run tested
    nothing about the server, so its card keeps its state and counts (it turned red: MCP_DOMAIN_NOT_ALLOWED
    was stored as the server's failed inspection). The run is kept at severity debug, marked, and its Debug
    ID still finds it for support."""
    url = f"http://{host}:{zoo}/mcp"
    connected = make_event(
        server="github",
        code="MCP_CONNECTED",
        user_id="ursula",
        ts=utc_now() - timedelta(minutes=3),
        transport="streamable-http",
        attrs={"endpoint": url},
    )
    await seed(api.store, [connected])
    before = await _card(api)
    assert before["state"] == "connected" and before["recent"]["failureCount"] == 0
    after = await _recheck(api, before)
    report = after["report"]
    assert (report["failedStep"], report["code"]) == ("dns", "MCP_DOMAIN_NOT_ALLOWED")
    event = after["event"]
    assert (event["server"], event["severity"], event["code"]) == (
        "github",
        "debug",
        "MCP_DOMAIN_NOT_ALLOWED",
    )
    assert event["attrs"]["doctor.refused"] is True
    card = after["card"]
    assert (card["state"], card["lastError"], card["recent"]["failureCount"]) == ("connected", None, 0)
    assert card["updatedAt"] == before["updatedAt"]
