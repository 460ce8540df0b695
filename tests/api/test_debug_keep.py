"""Debug IDs that still resolve: a support lookup or the owner's report keeps the trace past retention
(`keptUntil`), who may report what, and the audit of both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mcpdiag.api import create_app
from mcpdiag.emitters import DiagnosticEvent
from tests.api.conftest import ACL, Api
from tests.api.support import Tokens, api_settings, collector_settings, seed
from tests.collector.support import asgi_client, new_key
from tests.factories import FakeClock, make_event

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def kept(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Api]:
    """The app on a clock the test moves (retention is the subject), with the conftest's ACL."""
    tokens, key = Tokens(), new_key()
    app = create_app(
        api_settings(tokens, ACL, tmp_path, reported_retention_days=90),
        collector_settings(tmp_path, key),
        clock=clock,
    )
    async with asgi_client(app) as client:
        yield Api(client, app.state.store, tokens, key)


def _trace(now: datetime, user: str | None = "ursula", server: str = "github") -> list[DiagnosticEvent]:
    """An error and the info before it, in one trace: 14 and 7 days of normal retention."""
    return [
        make_event(trace_id=TRACE, server=server, user_id=user, code=code, ts=now - timedelta(minutes=ago))
        for code, ago in (("MCP_CONNECTED", 2), ("MCP_TIMEOUT", 1))
    ]


async def _audit(api: Api) -> list[dict[str, object]]:
    response = await api.client.get("/api/admin/audit", headers=api.admin)
    assert response.status_code == 200
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def test_a_support_lookup_keeps_the_trace_and_says_until_when(kept: Api, clock: FakeClock) -> None:
    """After support looked, the trace resolves for 90 days, past the 7 and 14 days of retention; the
    answer and the audit record say until when."""
    events = _trace(clock.now)
    await seed(kept.store, events)
    body = (await kept.client.get(f"/api/diagnostics/{TRACE[:12]}", headers=kept.support)).json()
    until = clock.now + timedelta(days=90)
    assert datetime.fromisoformat(body["keptUntil"]) == until
    [record] = await _audit(kept)
    assert record["action"] == "debug_id_lookup"
    assert record["scope"] == {"traceId": TRACE, "servers": ["github"], "keptUntil": body["keptUntil"]}
    clock.advance(days=60)
    await kept.store.purge_expired()
    again = await kept.client.get(f"/api/diagnostics/{TRACE}", headers=kept.support)
    assert again.status_code == 200 and [i["id"] for i in again.json()["items"]] == [e.id for e in events]
    # A second look 60 days on keeps it 90 days from then.
    assert datetime.fromisoformat(again.json()["keptUntil"]) == clock.now + timedelta(days=90)


async def test_a_users_lookup_says_until_when_without_keeping_or_auditing(
    kept: Api, clock: FakeClock
) -> None:
    await seed(kept.store, _trace(clock.now))
    body = (await kept.client.get(f"/api/diagnostics/{TRACE}", headers=kept.as_user())).json()
    assert datetime.fromisoformat(body["keptUntil"]) == clock.now - timedelta(minutes=2) + timedelta(days=7)
    assert await _audit(kept) == []
    clock.advance(days=8)
    response = await kept.client.get(f"/api/diagnostics/{TRACE}", headers=kept.as_user())
    assert [i["code"] for i in response.json()["items"]] == ["MCP_TIMEOUT"]  # the info event expired


async def test_the_owner_reports_a_debug_id_and_it_is_kept_and_audited(kept: Api, clock: FakeClock) -> None:
    events = _trace(clock.now)
    await seed(kept.store, events)
    response = await kept.client.post(f"/api/diagnostics/{TRACE}/report", headers=kept.as_user())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "debugId": TRACE,
        "traceId": TRACE,
        "kept": 2,
        "keptUntil": body["keptUntil"],
    }
    assert datetime.fromisoformat(body["keptUntil"]) == clock.now + timedelta(days=90)
    [record] = await _audit(kept)
    assert (record["actor"], record["role"], record["action"], record["target"]) == (
        "ursula",
        "user",
        "debug_id_report",
        TRACE,
    )
    assert record["resultCount"] == 2 and record["scope"]["keptUntil"] == body["keptUntil"]
    clock.advance(days=30)
    await kept.store.purge_expired()
    found = await kept.client.get(f"/api/diagnostics/{TRACE}", headers=kept.support)
    assert [i["id"] for i in found.json()["items"]] == [e.id for e in events]


@pytest.mark.parametrize(
    ("owner", "server", "headers", "status"),
    [
        ("ursula", "github", "ursula", 200),  # their own event, on a server granted to them
        (None, "github", "ursula", 200),  # a server-wide event on that server
        (None, "docs", "ursula", 200),  # server-wide on a public server
        ("victor", "github", "ursula", 404),  # another user's event
        (None, "payroll", "ursula", 404),  # server-wide, on a server they cannot access
        ("paula", "payroll", "ursula", 404),
        ("victor", "payroll", "support", 200),  # staff report anything
        ("victor", "payroll", "admin", 200),
    ],
)
async def test_who_may_report_which_debug_id(
    kept: Api, clock: FakeClock, owner: str | None, server: str, headers: str, status: int
) -> None:
    """A user reports their own and server-wide events on servers they can access; anything else answers
    404 as if it did not exist, and keeps nothing. Support and admins report any Debug ID."""
    await seed(kept.store, _trace(clock.now, owner, server))
    caller = {"support": kept.support, "admin": kept.admin}.get(headers) or kept.as_user(headers)
    response = await kept.client.post(f"/api/diagnostics/{TRACE}/report", headers=caller)
    assert response.status_code == status, response.text
    expiry = await kept.store.expiry([e["id"] for e in await kept.store.by_trace(TRACE)])
    if status == 200:
        assert expiry == clock.now + timedelta(days=90)
    else:
        assert set(response.json()) == {"error"} and response.json()["error"]["code"] == "not_found"
        assert expiry == clock.now - timedelta(minutes=2) + timedelta(days=7)


async def test_a_report_never_shortens_a_longer_keep(tmp_path: Path, clock: FakeClock) -> None:
    """With one day of reported retention, an error event keeps its 14 days: `keptUntil` says so."""
    tokens = Tokens()
    app = create_app(
        api_settings(tokens, ACL, tmp_path, reported_retention_days=1),
        collector_settings(tmp_path),
        clock=clock,
    )
    async with asgi_client(app) as client:
        error = make_event(trace_id=TRACE, user_id="ursula", code="MCP_TIMEOUT", ts=clock.now)
        await seed(app.state.store, [error])
        response = await client.post(
            f"/api/diagnostics/{TRACE}/report", headers=tokens.header(tokens.mint("ursula"))
        )
        assert datetime.fromisoformat(response.json()["keptUntil"]) == clock.now + timedelta(days=14)


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        ("4bf92", 400, "invalid_parameter"),
        ("drop;table", 400, "invalid_parameter"),
        ("deadbeefdeadbeef", 404, "not_found"),
        ("4bf92f35", 409, "ambiguous_debug_id"),
    ],
)
async def test_bad_reports_are_4xx_naming_the_problem(
    kept: Api, clock: FakeClock, key: str, status: int, code: str
) -> None:
    await seed(
        kept.store,
        [
            make_event(trace_id=TRACE, user_id="ursula", ts=clock.now),
            make_event(trace_id="4bf92f35" + "1" * 24, user_id="ursula", ts=clock.now),
        ],
    )
    response = await kept.client.post(f"/api/diagnostics/{key}/report", headers=kept.as_user())
    assert response.status_code == status and response.json()["error"]["code"] == code
    unknown = await kept.client.post(f"/api/diagnostics/{TRACE}/report?x=1", headers=kept.as_user())
    assert unknown.status_code == 400
    assert (await kept.client.post(f"/api/diagnostics/{TRACE}/report")).status_code == 401
