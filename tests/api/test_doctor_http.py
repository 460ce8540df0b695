"""`POST /api/mcp/doctor`: roles, SSRF defaults, headers as secrets, the stored event, rate limit, input."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.api.errors import RateLimitedError
from mcpdiag.api.routes.doctor import DoctorNetwork, DoctorWorkers, RateLimiter, doctor_network
from mcpdiag.api.status import UNNAMED_DOCTOR_RUN
from mcpdiag.doctor.inspection import UNNAMED_RUN_ATTR
from tests.api.conftest import ACL, Api
from tests.api.support import Tokens, build_app
from tests.collector.support import asgi_client, new_key
from tests.doctor.doctor_stubs import Tools, huge_tools
from tests.doctor.doctor_support import Counting
from tests.e2e.servers import serve, zoo_server
from tests.waiting import eventually

SECRET = "hdr-secret-7d3e1f0b9c2a4e6f"


@pytest.fixture(scope="module")
def zoo() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    with serve(Counting()) as port:
        yield port


async def _api(tmp_path: Path, network: DoctorNetwork | None = None, **over: Any) -> AsyncIterator[Api]:
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, ACL, key, **over)
    if network is not None:  # the DNS boundary, faked for test names
        app.dependency_overrides[doctor_network] = lambda: network
    async with asgi_client(app) as client:
        yield Api(client, app.state.store, tokens, key)


@pytest.fixture
async def dev_api(tmp_path: Path) -> AsyncIterator[Api]:
    """Private addresses allowed (as in development), at most 3 runs a minute."""
    async for api in _api(tmp_path, doctor_allow_private=True, doctor_rate_per_minute=3):
        yield api


async def test_a_user_gets_the_ladder_without_detail_and_support_with_it(dev_api: Api, zoo: int) -> None:
    body = {"url": f"http://127.0.0.1:{zoo}/mcp"}
    answer = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user("ursula"))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert set(result) == {"ok", "code", "failedStep", "steps", "debugId", "action", "guide", "refused"}
    assert result["ok"] is True and result["code"] is None and result["failedStep"] is None
    assert result["guide"] is None
    assert [s["name"] for s in result["steps"]] == ["dns", "tcp", "tls", "http", "mcp", "oauth", "tools"]
    assert all(s["detail"] is None for s in result["steps"])
    staff = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.support)
    assert any(s["detail"] for s in staff.json()["steps"])


async def test_the_run_is_stored_under_its_debug_id_for_the_caller(dev_api: Api, echo: int) -> None:
    body = {"url": f"http://127.0.0.1:{echo}/echo-auth", "headers": {"Authorization": f"Bearer {SECRET}"}}
    answer = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.support)
    result = answer.json()
    assert (result["failedStep"], result["code"]) == ("http", "MCP_PROXY_SSE_ISSUE")
    assert SECRET not in answer.text  # the server echoed it into its page: redacted in the detail
    debug_id = result["debugId"]

    async def lookup() -> httpx.Response | None:
        found = await dev_api.client.get(f"/api/diagnostics/{debug_id}", headers=dev_api.support)
        return found if found.status_code == 200 else None

    found = await eventually(lookup, "the run's inspection event is stored")
    assert found.status_code == 200, found.text
    [event] = found.json()["items"]
    assert event["touchpoint"] == "inspection" and event["userId"] == "sam"
    assert event["code"] == "MCP_PROXY_SSE_ISSUE" and event["server"] == "doctor:runs"
    assert SECRET not in found.text


async def _stored(api: Api, debug_id: str) -> dict[str, Any]:
    """The one event stored under `debug_id` (the emitter hands it to the pipeline shortly after)."""

    async def lookup() -> httpx.Response | None:
        found = await api.client.get(f"/api/diagnostics/{debug_id}", headers=api.support)
        return found if found.status_code == 200 else None

    found = await eventually(lookup, f"an event stored under {debug_id}")
    [event] = found.json()["items"]
    return dict(event)


async def test_doctor_runs_add_no_server_cards(dev_api: Api, zoo: int, echo: int) -> None:
    """Passing and failing runs, by a user and by support: no `doctor:` card for anyone, not even for a
    user whose claim names every server (who sees every stored server name)."""
    runs = [
        ({"url": f"http://127.0.0.1:{zoo}/mcp"}, dev_api.as_user("ursula")),
        ({"url": f"http://127.0.0.1:{echo}/echo-auth"}, dev_api.support),
    ]
    for body, headers in runs:
        answer = await dev_api.client.post("/api/mcp/doctor", json=body, headers=headers)
        assert (await _stored(dev_api, answer.json()["debugId"]))["server"].startswith("doctor:")
    for caller in (dev_api.support, dev_api.as_user("ursula"), dev_api.as_user("walt", mcp_servers=["*"])):
        status = await dev_api.client.get("/api/mcp/connection/status", headers=caller)
        assert status.status_code == 200, status.text
        cards = status.json()["connectionStatus"]
        assert not [name for name in cards if name.startswith("doctor:")], cards


async def test_a_run_named_for_a_server_is_stored_as_that_servers_inspection(dev_api: Api, zoo: int) -> None:
    body = {"url": f"http://127.0.0.1:{zoo}/mcp", "server": "github"}  # ursula's server (ACL)
    answer = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user("ursula"))
    assert answer.status_code == 200 and answer.json()["ok"], answer.text
    event = await _stored(dev_api, answer.json()["debugId"])
    assert (event["server"], event["touchpoint"], event["userId"]) == ("github", "inspection", "ursula")
    status = await dev_api.client.get("/api/mcp/connection/status", headers=dev_api.as_user("ursula"))
    assert status.json()["connectionStatus"]["github"]["connectionState"] == "connected"


async def test_a_run_cannot_be_named_for_a_server_the_caller_cannot_see(dev_api: Api, echo: int) -> None:
    body = {"url": f"http://127.0.0.1:{echo}/mcp", "server": "payroll"}  # paula's, not ursula's
    answer = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user("ursula"))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


async def test_default_settings_refuse_loopback_without_sending_anything(tmp_path: Path) -> None:
    stub = Counting()
    with serve(stub) as port:
        async for api in _api(tmp_path):
            body = {"url": f"http://127.0.0.1:{port}/mcp"}
            answer = await api.client.post("/api/mcp/doctor", json=body, headers=api.as_user())
    result = answer.json()
    assert (result["failedStep"], result["code"], result["action"]) == (
        "dns", "MCP_DOMAIN_NOT_ALLOWED", "contact_admin",
    )  # fmt: skip
    assert stub.seen == []


async def test_allowed_domains_setting_lets_a_host_through(tmp_path: Path, zoo: int) -> None:
    async for api in _api(tmp_path, doctor_allowed_domains=" Example.test , 127.0.0.1"):
        body = {"url": f"http://127.0.0.1:{zoo}/mcp"}
        answer = await api.client.post("/api/mcp/doctor", json=body, headers=api.as_user())
    assert answer.json()["ok"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://x.test/mcp", "transport": "stdio"}, "transport"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "http://x.test/", "headers": {"Bad Name": "v"}}, "headers"),
        ({"url": "http://x.test/", "headers": {"Host": "internal"}}, "headers"),
        ({"url": "http://x.test/", "headers": {"X": "a\r\nInjected: 1"}}, "headers"),
        ({"url": "http://x.test/", "command": "rm -rf /"}, "command"),
        ({"url": "http://x.test/", "server": ""}, "server"),
        ({"url": "http://x.test/", "server": "a" * 129}, "server"),
        ({"url": "http://x.test/", "server": "git\nhub"}, "server"),
    ],
)
async def test_bad_input_answers_400_naming_the_field(dev_api: Api, body: dict[str, Any], field: str) -> None:
    answer = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user())
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_parameter" and error["message"].startswith(field)


async def test_an_anonymous_caller_gets_401(dev_api: Api) -> None:
    answer = await dev_api.client.post("/api/mcp/doctor", json={"url": "http://x.invalid/"})
    assert answer.status_code == 401


async def test_runs_are_rate_limited_per_user(dev_api: Api) -> None:
    body = {"url": "http://rate.doctor-test.invalid/mcp"}
    for _ in range(3):
        ok = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user("ursula"))
        assert ok.status_code == 200
    limited = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user("ursula"))
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    other = await dev_api.client.post("/api/mcp/doctor", json=body, headers=dev_api.as_user("paula"))
    assert other.status_code == 200


def test_runs_beyond_the_workers_and_the_waiting_room_are_refused_not_queued() -> None:
    workers = DoctorWorkers(workers=1, waiting=1)
    with workers.admission(), workers.admission(), pytest.raises(RateLimitedError), workers.admission():
        pass
    with workers.admission() as executor:  # places are given back
        assert executor.submit(lambda: 42).result(5) == 42
    workers.executor.shutdown()


def test_the_card_rule_knows_the_mark_the_doctor_sets() -> None:
    assert UNNAMED_RUN_ATTR == UNNAMED_DOCTOR_RUN


def test_the_rate_limiter_forgets_idle_users() -> None:
    limiter = RateLimiter()
    limiter.check("a", 1)
    limiter._runs["a"][0] -= 120  # a minute later
    limiter.check("b", 1)
    assert set(limiter._runs) == {"b"}


async def test_healthz_answers_while_a_doctor_run_is_busy(tmp_path: Path) -> None:
    """The doctor's work (parsing, redaction of a server's huge tool list) never runs on the app's event
    loop: while a run is held busy in its own thread (here by its DNS lookup, which blocks like CPU-bound
    work does), the same app answers /healthz, and the run then finishes with a bounded report."""
    entered, release = threading.Event(), threading.Event()
    lookups: list[str] = []

    async def busy_resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        if len(lookups) == 1:
            entered.set()
            if not release.wait(30):  # nobody released it: the app's loop was stuck behind this run
                raise socket.gaierror(socket.EAI_AGAIN, "held until the bound")
        return ["127.0.0.1"]

    with serve(Tools(huge_tools())) as port:
        network = DoctorNetwork(resolver=busy_resolver)
        async for api in _api(tmp_path, network, doctor_allow_private=True):
            body = {"url": f"http://huge-tools.doctor-test.invalid:{port}/mcp"}
            run = asyncio.create_task(api.client.post("/api/mcp/doctor", json=body, headers=api.support))
            assert await asyncio.to_thread(entered.wait, 30)
            health = await api.client.get("/healthz")
            assert health.status_code == 200 and not run.done()
            release.set()
            answer = await run
    result = answer.json()
    assert answer.status_code == 200 and result["failedStep"] is None, result
    tools = next(step for step in result["steps"] if step["name"] == "tools")
    assert tools["status"] == "warn" and "over 128 characters" in tools["summary"]
    assert len(answer.text) < 32 * 1024


async def test_runs_naming_no_server_add_one_name_and_no_card_whatever_they_tested(tmp_path: Path) -> None:
    """Found by an adversarial pass: each host a caller typed became a server name (`doctor:<host>`), past
    `MCPDIAG_MAX_SERVERS`, listed in the staff Overview; and a run the address policy refused (stored at
    severity debug, below what the hiding rule read) showed as a card to staff. Runs by a user who may see
    no server, against four hosts, all refused by the policy (nothing is sent to them)."""
    async for api in _api(tmp_path):
        before = set(await api.store.list_servers())
        debug_ids = []
        for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "localhost"):
            answer = await api.client.post(
                "/api/mcp/doctor", json={"url": f"http://{host}:9/mcp"}, headers=api.as_user("mallory")
            )
            assert answer.status_code == 200 and answer.json()["refused"] is True, answer.text
            debug_ids.append(answer.json()["debugId"])
        for debug_id in debug_ids:
            assert (await _stored(api, debug_id))["server"] == "doctor:runs"
        assert set(await api.store.list_servers()) - before == {"doctor:runs"}
        for caller in (api.support, api.admin, api.as_user("walt", mcp_servers=["*"])):
            status = await api.client.get("/api/mcp/connection/status", headers=caller)
            assert status.status_code == 200, status.text
            assert not [name for name in status.json()["connectionStatus"] if name.startswith("doctor:")]
        overview = await api.client.get("/api/overview", headers=api.support)
        assert overview.status_code == 200 and "doctor:" not in overview.text, overview.text[:500]
