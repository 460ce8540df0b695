"""A server card's facts agree with each other and with the timeline: state, last failure, counts.

Every case of `tests/api/card_matrix.py` through the real API, as its user and as support: the status
endpoint and the summary endpoint give the same counts and last failure, the counts are what the
diagnostics listing of the window holds, and the state never contradicts the last failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mcpdiag.api.states import CATEGORIES
from mcpdiag.store.base import utc_now
from tests.api.card_matrix import CASES, Card, Case, case_events, is_failure
from tests.api.conftest import Api
from tests.api.support import seed

SERVERS = [case.server for case in CASES]
BROKEN = frozenset({"auth_expired", "unreachable", "misconfigured", "degraded", "failing"})
"""States that are a current failure: the card's last failure is shown, unresolved."""


async def _get(api: Api, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = await api.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _window_items(api: Api, server: str, headers: dict[str, str], since: str) -> list[dict[str, Any]]:
    """Every event of the window the caller sees, through the drawer's endpoint."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"from": since, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = await _get(api, f"/api/mcp/{server}/diagnostics", headers, **params)
        items += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


def _check_consistent(status: dict[str, Any], items: list[dict[str, Any]], since: str) -> None:
    """The invariants every card holds, whatever the events."""
    state, last, recent = status["state"], status["lastError"], status["recent"]
    assert recent["window"] == "24h" and recent["since"] == since
    failures = [i for i in items if is_failure(i)]
    assert recent["failureCount"] == len(failures)
    assert recent["toolErrorCount"] == sum(1 for i in items if i["code"] == "MCP_TOOL_ERROR")
    if status["connectionState"] == "error" or state in BROKEN:
        assert last is not None and last["resolved"] is False
    if state in BROKEN - {"degraded", "auth_expired"}:
        assert CATEGORIES.get(last["code"], "failing") == state  # the badge names what the failure says
    if state == "degraded":
        assert last["touchpoint"] == "tool_call" and status["connectionState"] == "connected"
    if state == "auth_expired":
        assert last["code"] == "MCP_AUTH_REQUIRED"
    if last is not None:
        assert last["resolved"] is (state in ("connected", "idle"))
    if failures:
        # A failure in the window means the last failure is that one (or newer): never "no errors".
        assert last is not None and last["at"] == max(i["ts"] for i in failures)
        assert last["code"] == max(failures, key=lambda i: (i["ts"], i["id"]))["code"]


def _check_card(status: dict[str, Any], card: Card) -> None:
    last = status["lastError"]
    assert (status["state"], status["connectionState"]) == (card.state, card.legacy)
    assert status["requiresOAuth"] is card.requires_oauth
    assert (last["code"] if last else None) == card.last_error
    if last is not None:
        assert last["resolved"] is card.resolved
    assert status["recent"]["failureCount"] == card.failures
    assert status["recent"]["toolErrorCount"] == card.tool_errors


@pytest.fixture
async def seeded(api: Api) -> datetime:
    now = utc_now()
    for case in CASES:
        await seed(api.store, case_events(case, now))
    return now


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.server)
@pytest.mark.parametrize("role", ["user", "support"])
async def test_the_card_facts_agree_with_each_other_and_the_timeline(
    api: Api, seeded: datetime, case: Case, role: str
) -> None:
    """State, last failure and 24 h counts of the status endpoint: as the case says, consistent with
    each other, equal to the summary endpoint's, and equal to what the timeline of the window holds."""
    headers = api.support if role == "support" else api.as_user("ursula", mcp_servers=SERVERS)
    statuses = (await _get(api, "/api/mcp/connection/status", headers))["connectionStatus"]
    status = statuses[case.server]
    since = status["recent"]["since"]
    assert abs(datetime.fromisoformat(since) - (seeded - timedelta(hours=24))) < timedelta(minutes=1)
    items = await _window_items(api, case.server, headers, since)
    _check_consistent(status, items, since)
    _check_card(status, case.staff if role == "support" and case.staff else case.user)

    summary = await _get(api, f"/api/mcp/{case.server}/summary", headers, window="24h")
    assert (summary["state"], summary["endpoint"]) == (status["state"], status["endpoint"])  # the drawer's
    assert summary["failureCount"] == status["recent"]["failureCount"]
    assert summary["toolErrorCount"] == status["recent"]["toolErrorCount"]
    last = status["lastError"]
    if last is not None and last["at"] >= summary["since"]:
        assert summary["lastError"]["traceId"] == last["traceId"]
    else:
        assert summary["lastError"] is None


async def test_a_server_without_events_is_unknown_with_zero_counts(api: Api) -> None:
    """A server named in the caller's claim but never seen: unknown, no failure, nothing counted."""
    headers = api.as_user("ursula", mcp_servers=["brand-new"])
    status = (await _get(api, "/api/mcp/connection/status", headers))["connectionStatus"]["brand-new"]
    assert (status["state"], status["connectionState"]) == ("unknown", "unknown") and status[
        "lastError"
    ] is None
    assert status["recent"]["failureCount"] == 0 and status["recent"]["toolErrorCount"] == 0
