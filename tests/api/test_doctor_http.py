"""`POST /api/mcp/doctor`: roles, SSRF defaults, headers as secrets, the stored event, rate limit, input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpdiag.api.routes.doctor import RateLimiter
from tests.api.conftest import ACL, Api
from tests.api.support import Tokens, build_app
from tests.collector.support import asgi_client, new_key
from tests.doctor.doctor_support import Counting
from tests.e2e.servers import serve, zoo_server

SECRET = "hdr-secret-7d3e1f0b9c2a4e6f"


@pytest.fixture(scope="module")
def zoo() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    with serve(Counting()) as port:
        yield port


async def _api(tmp_path: Path, **over: Any) -> AsyncIterator[Api]:
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, ACL, key, **over)
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
    assert set(result) == {"ok", "code", "failedStep", "steps", "debugId", "action", "guide"}
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
    for _ in range(100):
        found = await dev_api.client.get(f"/api/diagnostics/{debug_id}", headers=dev_api.support)
        if found.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert found.status_code == 200, found.text
    [event] = found.json()["items"]
    assert event["touchpoint"] == "inspection" and event["userId"] == "sam"
    assert event["code"] == "MCP_PROXY_SSE_ISSUE" and event["server"] == "doctor:127.0.0.1"
    assert SECRET not in found.text


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


def test_the_rate_limiter_forgets_idle_users() -> None:
    limiter = RateLimiter()
    limiter.check("a", 1)
    limiter._runs["a"][0] -= 120  # a minute later
    limiter.check("b", 1)
    assert set(limiter._runs) == {"b"}
