"""Server cards in a real Chromium: every case of the card matrix renders without contradicting itself.

The events of `tests/api/card_matrix.py` go through the real ingest endpoint; each rendered card must say
what the status API says, and its parts (badge, last failure, counts) must agree with each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.card_matrix import CASES, Card, Case, case_events
from tests.factories import make_event
from tests.ui.conftest import ingest, running_app, screenshot
from tests.waiting import HTTP_PATIENCE

STATE_LABELS = {
    "connected": "Connected",
    "idle": "Idle",
    "needs_auth": "Sign-in needed",
    "auth_expired": "Sign-in expired",
    "unreachable": "Unreachable",
    "misconfigured": "Misconfigured",
    "degraded": "Degraded",
    "failing": "Failing",
    "unknown": "No data yet",
}
"""What the badge says for each state: a person reads the state, not its name."""
HOSTILE = '<img src=x onerror="window.__xss=1">" onmouseover="window.__xss=2'
HOSTILE_TOOL = "<script>window.__xss=3</script>"
HOSTILE_USER = "<b>eve</b>"
HOSTILE_TRACE = "0123abcd" * 4
SERVERS = [case.server for case in CASES] + [HOSTILE]
USER = "ursula"


class Cards:
    """The running app with the matrix stored, and tokens for its user and for support."""

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret

    def token(self, role: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": USER if role == "user" else "sam", "iat": now, "exp": now + 3600}
        claims.update({"mcp_servers": SERVERS} if role == "user" else {"roles": ["support"]})
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def status(self, role: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token(role)}"}
        answer = httpx.get(f"{self.url}/api/mcp/connection/status", headers=headers, timeout=HTTP_PATIENCE)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()["connectionStatus"]
        return result


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cards]:
    with running_app(tmp_path_factory.mktemp("ui-cards")) as (url, secret, key):
        now = datetime.now(UTC)
        events = [e for case in CASES for e in case_events(case, now, own=USER)]
        events += [
            make_event(server=HOSTILE, code="MCP_CONNECTED", ts=now - timedelta(minutes=9), user_id=USER),
            make_event(
                server=HOSTILE,
                code="MCP_PROCESS_EXITED",
                ts=now - timedelta(minutes=8),
                touchpoint="tool_call",
                tool=HOSTILE_TOOL,
            ),
            make_event(
                server=HOSTILE,
                code="MCP_TIMEOUT",
                ts=now - timedelta(minutes=7),
                user_id=HOSTILE_USER,
                trace_id=HOSTILE_TRACE,
            ),
        ]
        ingest(url, key, [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in events])
        yield Cards(url, secret)


@pytest.fixture(scope="module")
def card_pages(browser: Browser, cards: Cards) -> Iterator[dict[str, Page]]:
    """The servers page as the matrix's user and as support, each loaded once."""
    pages: dict[str, Page] = {}
    contexts = []
    for role in ("user", "support"):
        context = browser.new_context(base_url=cards.url, viewport={"width": 1280, "height": 900})
        context.clock.set_system_time(datetime.now(UTC))
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"/ui/#token={cards.token(role)}")
        page.locator(f'article.card[data-server="{CASES[-1].server}"]').wait_for()
        pages[role] = page
    screenshot(pages["user"], "cards-matrix")
    yield pages
    for context in contexts:
        context.close()


def _expected(case: Case, role: str) -> Card:
    return case.staff if role == "support" and case.staff else case.user


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.server)
@pytest.mark.parametrize("role", ["user", "support"])
def test_a_card_says_one_thing(card_pages: dict[str, Page], cards: Cards, case: Case, role: str) -> None:
    """Badge, last failure (current or resolved) and counts of the rendered card are the API's, and never
    "no failures" next to a failure."""
    expected = _expected(case, role)
    status = cards.status(role)[case.server]
    card = card_pages[role].locator(f'article.card[data-server="{case.server}"]')
    badge = card.locator(".badge")
    expect(badge).to_have_attribute("data-state", status["state"])
    expect(badge).to_have_attribute("data-connection", status["connectionState"])
    expect(badge).to_have_text(STATE_LABELS[expected.state])
    assert (status["state"], status["connectionState"]) == (expected.state, expected.legacy)
    current, history = card.locator(".card-error"), card.locator(".card-history")
    count = card.locator(".count")
    expect(count).to_have_attribute("data-failures", str(expected.failures))
    expect(count).to_have_attribute("data-tool-errors", str(expected.tool_errors))
    text = card.inner_text()
    if expected.last_error is None:
        expect(current).to_have_count(0)
        expect(history).to_have_count(0)
        assert "No connection failures" in text
    elif expected.resolved:
        expect(current).to_have_count(0)
        expect(history).to_have_attribute("data-last-error", expected.last_error)
        assert "No connection failures" not in text
    else:
        expect(history).to_have_count(0)
        expect(current).to_have_attribute("data-last-error", expected.last_error)
        expect(current.locator("p").first).to_have_text(status["lastError"]["message"])
        assert "No connection failures" not in text
    if expected.failures:
        noun = "failure" if expected.failures == 1 else "failures"
        assert f"{expected.failures} {noun} in the last 24 h" in " ".join(text.split())
        assert "No failures in the last 24 h" not in text
    if expected.tool_errors:
        noun = "tool error" if expected.tool_errors == 1 else "tool errors"
        assert f"{expected.tool_errors} {noun}" in " ".join(text.split())
    if not expected.failures and not expected.tool_errors:
        # An unresolved failure older than the window is still the state: the line says nothing is new.
        quiet = "No new failures" if expected.last_error and not expected.resolved else "No failures"
        assert f"{quiet} in the last 24 h" in text


def test_server_chosen_strings_are_shown_as_text_everywhere(card_pages: dict[str, Page]) -> None:
    """A server name, a tool and a user id that are HTML render as themselves on the card, in the drawer
    and on the support page: no element of theirs, no script run (templates escape by construction)."""
    page = card_pages["user"]
    card = page.locator("article.card").filter(has=page.get_by_role("heading", name=HOSTILE, exact=True))
    expect(card).to_have_count(1)
    expect(card.locator(".card-error")).to_contain_text(f"during a call to {HOSTILE_TOOL}")
    card.get_by_role("button", name=f"Diagnostics for {HOSTILE}").click()
    drawer = page.locator("mcp-diagnostics-drawer")
    expect(drawer.locator("li.row")).to_have_count(2)
    expect(drawer.locator("#title")).to_have_text(f"Diagnostics · {HOSTILE}")
    expect(drawer.locator("li.row .meta").first).to_contain_text(f"tool {HOSTILE_TOOL}")
    screenshot(page, "hostile-drawer")
    drawer.get_by_role("button", name="Close diagnostics").click()

    staff = card_pages["support"]
    staff.goto("/ui/#/support?id=" + HOSTILE_TRACE)
    timeline = staff.get_by_role("region", name="Trace timeline")
    expect(timeline.locator("li.row .server")).to_have_text(HOSTILE)
    expect(timeline.locator("li.row .meta")).to_contain_text(f"user {HOSTILE_USER}")
    expect(staff.get_by_role("region", name="Related events")).to_contain_text(f"tool {HOSTILE_TOOL}")
    for each in (page, staff):
        assert each.evaluate("window.__xss") is None
        assert each.evaluate("document.querySelectorAll('main img, main script, main b').length") == 0
        shadow = "document.querySelector('mcp-diagnostics-drawer').shadowRoot"
        assert each.evaluate(f"{shadow}.querySelectorAll('img, script, b').length") == 0
