"""`GET /api/mcp/{server}/diagnostics/stream` over real HTTP (uvicorn on loopback): an event posted to
`/v1/events` reaches an open stream, with the diagnostics' visibility rules, `Last-Event-ID` resume,
heartbeats, bounded streams per user, and an end at shutdown."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.cli.serving import serving
from tests.api.conftest import ACL
from tests.api.support import Tokens, build_app
from tests.collector.support import new_key, wire_events
from tests.waiting import HTTP_PATIENCE, PATIENCE_S


@dataclass
class Live:
    url: str
    tokens: Tokens
    key: str

    def auth(self, sub: str, *roles: str) -> dict[str, str]:
        return self.tokens.header(self.tokens.mint(sub, roles=list(roles)))

    async def post(self, *events: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=HTTP_PATIENCE) as client:
            response = await client.post(
                "/v1/events", json={"events": list(events)}, headers={"x-api-key": self.key}
            )
            assert response.status_code == 202 and response.json()["accepted"] == len(events), response.text


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, ACL, key, stream_heartbeat_s=0.3, streams_per_user=2)
    async with serving(app) as url:
        yield Live(url, tokens, key)


def event(user: str | None, **over: Any) -> dict[str, Any]:
    (one,) = wire_events(1)
    one.update(server="github", userId=user, detail=f"support-only detail for {user}", **over)
    return one


class Reader:
    """An open stream, read line by line as SSE fields."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def message(self, *, timeout: float = 20) -> dict[str, str]:
        """The next `event`/`id`/`data` message (comments are skipped); bounded, it measures nothing."""
        # A deadline checked per line, not a cancellation: heartbeats keep lines coming on an idle stream.
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        async for line in self.lines:
            if time.monotonic() > deadline:
                raise AssertionError(f"no message within {timeout} s")
            if not line:
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                fields.setdefault("comments", "")
                fields["comments"] += line
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def diagnostic(self) -> dict[str, Any]:
        while True:
            fields = await self.message()
            if fields.get("event") == "diagnostic":
                return {**json.loads(fields["data"]), "sseId": fields["id"]}


@asynccontextmanager
async def opened(
    live: Live, sub: str, *roles: str, last_event_id: str | None = None
) -> AsyncIterator[Reader]:
    headers = live.auth(sub, *roles) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=HTTP_PATIENCE) as client,
        client.stream("GET", "/api/mcp/github/diagnostics/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Reader(response)


async def test_posted_events_reach_an_open_stream_as_the_caller_may_see_them(live: Live) -> None:
    await live.post(event("ursula"))  # the server exists before the stream opens
    async with opened(live, "ursula") as user, opened(live, "sam", "support") as staff:
        await asyncio.sleep(0.2)
        mine, theirs, everyone = event("ursula"), event("victor"), event(None)
        await live.post(mine, theirs, everyone)
        seen = [await user.diagnostic(), await user.diagnostic()]
        assert [e["traceId"] for e in seen] == [mine["traceId"], everyone["traceId"]]
        assert all("detail" not in e for e in seen)
        staff_seen = [await staff.diagnostic() for _ in range(3)]
        assert {e["traceId"] for e in staff_seen} == {mine["traceId"], theirs["traceId"], everyone["traceId"]}
        assert all(e["detail"].startswith("support-only") for e in staff_seen)


async def test_a_reconnect_with_last_event_id_resumes_after_it(live: Live) -> None:
    await live.post(event(None))
    async with opened(live, "sam", "support") as first:
        await asyncio.sleep(0.2)
        await live.post(event(None, code="MCP_TIMEOUT"))
        resume_from = (await first.diagnostic())["sseId"]
    missed = [event(None, code="MCP_DNS_FAILURE"), event(None, code="MCP_TLS_ERROR")]
    await live.post(*missed)
    async with opened(live, "sam", "support", last_event_id=resume_from) as again:
        got = [await again.diagnostic(), await again.diagnostic()]
    assert [e["code"] for e in got] == ["MCP_DNS_FAILURE", "MCP_TLS_ERROR"]


async def test_an_idle_stream_gets_heartbeats(live: Live) -> None:
    await live.post(event(None))
    async with opened(live, "sam", "support") as reader:
        fields = await reader.message(timeout=10)
        assert ": ping" in fields.get("comments", "") or fields.get("event") == "ping"


async def test_streams_are_refused_without_access_and_past_the_per_user_bound(live: Live) -> None:
    await live.post(event(None))
    async with httpx.AsyncClient(base_url=live.url, timeout=HTTP_PATIENCE) as client:
        denied = await client.get("/api/mcp/payroll/diagnostics/stream", headers=live.auth("ursula"))
        assert denied.status_code == 404
        missing = await client.get("/api/mcp/nowhere/diagnostics/stream", headers=live.auth("sam", "support"))
        assert missing.status_code == 404
    async with (
        opened(live, "ursula"),
        opened(live, "ursula"),
        httpx.AsyncClient(base_url=live.url, timeout=HTTP_PATIENCE) as client,
    ):
        third = await client.get("/api/mcp/github/diagnostics/stream", headers=live.auth("ursula"))
        assert third.status_code == 429 and third.json()["error"]["code"] == "too_many_streams"
    async with opened(live, "ursula"):  # the slots were given back when the streams closed
        pass


async def test_streams_end_when_the_service_shuts_down(tmp_path: Path) -> None:
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, ACL, key)
    lines: list[str] = []

    async def listen(url: str) -> None:
        headers = tokens.header(tokens.mint("sam", roles=["support"]))
        async with (
            httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client,
            client.stream("GET", "/api/mcp/docs/diagnostics/stream", headers=headers) as response,
        ):
            async for line in response.aiter_lines():
                lines.append(line)

    async with serving(app) as url:
        listener = asyncio.create_task(listen(url))
        await asyncio.sleep(0.5)
        assert not listener.done()
    # Leaving `serving` shut the server down: the stream ended instead of holding the shutdown.
    await asyncio.wait_for(listener, timeout=PATIENCE_S)
