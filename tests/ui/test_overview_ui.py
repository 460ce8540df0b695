"""The Overview page in Chromium: support and admins see every server's failures (a heatmap agreeing with
GET /api/overview and with the cards), the top problems and the incidents, each linking to the server's
drawer; it refreshes itself; users have no such page (and the API answers them 403)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from mcpdiag.emitters import new_event_id, new_trace_id
from tests.ui.conftest import ingest, running_app, screenshot
from tests.waiting import HTTP_PATIENCE, until

Servers = dict[str, Any]


def event(
    server: str, code: str, minutes_ago: float, user: str | None = "alice", **extra: Any
) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server": server,
        "userId": user,
        "touchpoint": extra.pop("touchpoint", "connect"),
        "code": code,
        "traceId": new_trace_id(),
        **extra,
    }


class Fleet:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def overview(self, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}/api/overview", headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_PATIENCE
        )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_app(tmp_path_factory.mktemp("ui-overview")) as (url, _secret, key):
        storm = [
            event("weather", "MCP_TIMEOUT", m / 2, user=("alice", "bob", None)[m % 3]) for m in range(40)
        ]
        trickle = [event("jira", "MCP_DNS_FAILURE", 60 * h + 5) for h in range(10)]
        tools = [
            event("github", "MCP_TOOL_ERROR", m, touchpoint="tool_call", tool="search", user="bob")
            for m in range(6)
        ]
        fine = [event("docs-search", "MCP_CONNECTED", 15, touchpoint="lifecycle")]
        ingest(url, key, [*storm, *trickle, *tools, *fine])
        yield Fleet(url, key)


def _token(page: Page) -> str:
    return str(page.evaluate("sessionStorage.getItem('mcpdiag.token')"))


def test_support_sees_the_fleet_as_the_api_and_the_cards_count_it(page: Page, fleet: Fleet) -> None:
    sign_in_at(page, fleet, "Sam — support")
    with page.expect_response(lambda r: "/api/overview" in r.url) as answer:
        page.get_by_role("link", name="Overview").click()
    heat = page.locator(".heatmap")
    expect(heat).to_be_visible()
    data = answer.value.json()
    rows = {r["server"]: r for r in data["servers"]}
    shown = heat.locator(".hm-row[data-server]").evaluate_all(
        "rows => rows.map(r => [r.dataset.server, Number(r.querySelector('.hm-total').textContent),"
        " [...r.querySelectorAll('.hm-cell')].map(c => Number(c.dataset.count))])"
    )
    assert shown == [[s, rows[s]["failures"], rows[s]["trend"]] for s in ("weather", "jira")]
    assert rows["weather"]["failures"] == 40 and rows["jira"]["failures"] == 10
    quiet = page.locator(".quiet")
    expect(quiet).to_contain_text("github (6 tool errors)")  # tool errors are not failures, as on its card
    expect(quiet).to_contain_text("docs-search")
    expect(page.locator('.tile[data-tile="users"] strong')).to_have_text("2")  # alice and bob, once each
    incident = page.locator('.incident[data-server="weather"]')
    expect(incident).to_contain_text("MCP_TIMEOUT")
    expect(incident.locator(".spikes")).to_be_visible()
    expect(page.locator('.incident[data-server="github"]')).to_have_count(0)
    expect(page.locator(".problems-table tbody tr")).to_have_count(len(data["topProblems"]))
    screenshot(page, "overview-light")

    page.get_by_role("button", name="Diagnostics for jira").first.click()
    drawer = page.locator("mcp-diagnostics-drawer")
    expect(drawer).to_have_attribute("open", "")
    expect(drawer.locator("#title")).to_have_text("Diagnostics · jira")
    expect(drawer.locator('li.problem[data-code="MCP_DNS_FAILURE"]')).to_be_visible()
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Servers").click()
    card = page.locator('article.card[data-server="github"]')
    expect(card.locator(".count")).to_have_attribute("data-failures", "0")
    expect(card.locator(".count")).to_have_attribute("data-tool-errors", "6")


def sign_in_at(page: Page, fleet: Fleet, label: str) -> None:
    page.goto(fleet.url + "/ui/")
    page.get_by_role("button", name=label).click()
    page.locator("#user-chip").wait_for(state="visible")


def test_the_overview_refreshes_itself(page: Page, fleet: Fleet) -> None:
    page.clock.install(time=datetime.now(UTC))  # fake timers from our "now", faked or not
    sign_in_at(page, fleet, "Ada — admin")
    page.goto(fleet.url + "/ui/#/overview")
    total = page.locator('.hm-row[data-server="jira"] .hm-total')
    expect(total).to_be_visible()
    before = int(total.inner_text())
    ingest(
        fleet.url, fleet.key, [event("jira", "MCP_DNS_FAILURE", 0.1), event("notion", "MCP_TLS_ERROR", 0.1)]
    )
    page.clock.fast_forward(11_000)
    expect(total).to_have_text(str(before + 1))
    expect(page.locator('.hm-row[data-server="notion"]')).to_be_visible()


def test_a_window_chosen_while_the_first_answer_loads_is_shown(page: Page, fleet: Fleet) -> None:
    """The 7-day window is picked while the 24-hour answer is still on its way: the 7-day answer is asked
    for and shown once that one lands (not the stale one, not a skeleton until the next refresh)."""
    page.clock.install(time=datetime.now(UTC))  # the 10 s refresh cannot rescue it within the waits below
    held: list[Any] = []
    page.route("**/api/overview?*", lambda route: held.append(route) if not held else route.continue_())
    sign_in_at(page, fleet, "Sam — support")
    page.goto(fleet.url + "/ui/#/overview")
    until(lambda: bool(held), "the first overview request", pause=lambda s: page.wait_for_timeout(s * 1000))
    with page.expect_request(lambda r: "/api/overview?" in r.url and "buckets=29" in r.url, timeout=8_000):
        page.locator('button[data-window="7d"]').click()
        held[0].continue_()
    expect(page.locator(".heatmap")).to_be_visible(timeout=8_000)
    expect(page.locator('button[data-window="7d"]')).to_have_attribute("aria-pressed", "true")


def test_users_have_no_overview(page: Page, fleet: Fleet) -> None:
    sign_in_at(page, fleet, "Alice — end user")
    expect(page.get_by_role("link", name="Overview")).to_have_count(0)
    page.goto(fleet.url + "/ui/#/overview")
    expect(page.locator("article.card").first).to_be_visible()  # the home page instead
    assert fleet.overview(_token(page)).status_code == 403


@pytest.mark.parametrize(("theme", "width"), [("light", 390), ("dark", 1280), ("dark", 390)])
def test_the_overview_in_each_theme_and_width(page: Page, fleet: Fleet, theme: str, width: int) -> None:
    """Written to artifacts/ui/ to look at; at 390 px nothing scrolls sideways."""
    page.set_viewport_size({"width": width, "height": 860})
    page.emulate_media(color_scheme=theme)
    sign_in_at(page, fleet, "Sam — support")
    page.goto(fleet.url + "/ui/#/overview")
    expect(page.locator(".heatmap")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    heat = page.locator(".heatmap")
    assert heat.evaluate("h => h.scrollWidth <= h.clientWidth + 1")
    # Every row's cells (and the labels above them) start and end at the same x: one column for all rows.
    edges = heat.evaluate(
        "h => [...h.querySelectorAll('.hm-row')].map(r => r.children[1].getBoundingClientRect())"
        ".map(b => [Math.round(b.left), Math.round(b.right)])"
    )
    assert len({tuple(e) for e in edges}) == 1, edges
    screenshot(page, f"overview-{theme}-{width}")
