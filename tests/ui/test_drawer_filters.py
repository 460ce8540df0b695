"""The drawer's filters belong to one server, and an empty list says when filters hide events."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import Service, screenshot, sign_in
from tests.ui.test_ui import ALICE, DRAWER, drawer_ids, loads, settled

DEFAULTS = {"severity": "", "range": "24h", "code": "", "touchpoint": ""}
# One non-default value per filter, each one that still shows some of github's events.
FILTERS = {
    "severity": ("Minimum severity", "error"),
    "code": ("Code", "MCP_TOOL_ERROR"),
    "touchpoint": ("Touchpoint", "tool_call"),
    "range": ("Time range", "1h"),
}


def controls(page: Page) -> dict[str, str]:
    """The value of every filter control of the drawer."""
    values: dict[str, str] = page.evaluate(
        f"() => Object.fromEntries([...{DRAWER}.shadowRoot.querySelectorAll('form.filters select')]"
        ".map(s => [s.name, s.value]))"
    )
    return values


def drawer(page: Page) -> Locator:
    return page.locator("mcp-diagnostics-drawer")


def open_on(page: Page, server: str) -> None:
    """Open the drawer from the server's card and wait for its listing."""
    before = loads(page)
    page.get_by_role("button", name=f"Diagnostics for {server}").click()
    expect(drawer(page)).to_have_attribute("open", "")
    settled(page, before)


def close(page: Page) -> None:
    drawer(page).get_by_role("button", name="Close diagnostics").click()
    expect(drawer(page)).not_to_have_attribute("open", "")


def choose(page: Page, label: str, value: str) -> None:
    before = loads(page)
    drawer(page).get_by_label(label, exact=True).select_option(value)
    settled(page, before)


def api_ids(service: Service, server: str, params: dict[str, Any]) -> list[str]:
    page = service.api(f"/api/mcp/{server}/diagnostics", "alice", {"limit": 50, **params}, **ALICE)
    return [item["id"] for item in page["items"]]


@pytest.mark.parametrize("name", list(FILTERS))
def test_a_filter_set_on_one_server_stays_with_that_server(page: Page, service: Service, name: str) -> None:
    """Set on github, the filter is not applied to jira (whose controls show the defaults and whose rows
    are its full listing), and github still has it when the drawer comes back to it."""
    label, value = FILTERS[name]
    sign_in(page, "Alice — end user")
    open_on(page, "github")
    choose(page, label, value)
    filtered = drawer_ids(page)
    assert filtered and controls(page)[name] == value
    close(page)

    open_on(page, "jira")
    assert controls(page) == DEFAULTS
    jira = api_ids(service, "jira", {"from": page.evaluate(f"{DRAWER}.since")})
    assert drawer_ids(page) == jira and len(jira) == 3
    assert "Everything looks fine" not in drawer(page).inner_text()
    close(page)

    open_on(page, "github")
    assert controls(page) == {**DEFAULTS, name: value}
    assert drawer_ids(page) == filtered


def test_the_code_list_holds_only_this_servers_codes(page: Page, service: Service) -> None:
    """The Code filter offers the codes of the server on screen, not those of servers seen before."""
    sign_in(page, "Alice — end user")
    open_on(page, "github")
    close(page)
    open_on(page, "jira")
    options = drawer(page).get_by_label("Code", exact=True).locator("option")
    values = set(options.evaluate_all("os => os.map(o => o.value)"))
    assert values == {"", "MCP_DNS_FAILURE", "MCP_TIMEOUT"}


def test_an_empty_list_says_how_many_events_the_filters_hide(page: Page, service: Service) -> None:
    """With every event filtered out the drawer does not say "Everything looks fine": it says how many
    events the filters hide, and Clear filters brings them back with the controls at their defaults."""
    sign_in(page, "Alice — end user")
    open_on(page, "jira")
    choose(page, "Touchpoint", "tool_call")
    assert drawer_ids(page) == []
    status = drawer(page).locator(".state")
    expect(status).to_contain_text("No events match these filters")
    expect(status).to_contain_text("3 hidden")
    assert "Everything looks fine" not in status.inner_text()
    screenshot(page, "drawer-filtered-empty")
    before = loads(page)
    drawer(page).locator(".state").get_by_role("button", name="Clear filters").click()
    settled(page, before)
    assert controls(page) == DEFAULTS
    assert len(drawer_ids(page)) == 3


def test_a_coalesced_event_says_how_often_it_happened_on_the_card_and_in_the_drawer(
    page: Page, service: Service
) -> None:
    """weather's rate limiting was stored as one event standing for 40 occurrences: the card counts 40
    failures, and the drawer's row says it happened 40 times, with its first and last time."""
    sign_in(page, "Bob — end user")
    card = page.locator('article.card[data-server="weather"]')
    expect(card.locator(".count")).to_have_attribute("data-failures", "40")
    expect(card.locator(".count")).to_contain_text("40 failures")
    open_on(page, "weather")
    row = drawer(page).locator("li.row", has_text="MCP_RATE_LIMITED")
    expect(row.locator(".repeats")).to_have_text(
        "Happened 40 times, first 19 minutes ago, last 10 minutes ago"
    )
    plain = drawer(page).locator("li.row", has_text="MCP_CONNECTED")
    expect(plain.locator(".repeats")).to_have_count(0)
    screenshot(page, "drawer-coalesced")
