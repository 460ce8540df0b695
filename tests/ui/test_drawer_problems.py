"""Problems first: the drawer's chart and problems are the API's, a problem's occurrences are one click away,
its action and guide work, and copying a Debug ID reports it ("kept until …", here and on the support page).
Its custom elements never shadow the DOM's own methods (a `matches` of theirs broke selector engines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Page, expect

from tests.ui.conftest import Service, screenshot, sign_in
from tests.ui.test_ui import ALICE, DRAWER, drawer_ids, loads, open_drawer, settled

DRAWER_TAG = "mcp-diagnostics-drawer"
CLASHES = """async () => {
  await import('/ui/guide.js');
  const callbacks = ['constructor', 'connectedCallback', 'disconnectedCallback', 'attributeChangedCallback'];
  const own = (proto) => Object.getOwnPropertyNames(proto).filter((n) => !callbacks.includes(n));
  const dom = new Set();
  for (let p = HTMLElement.prototype; p; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) dom.add(name);
  }
  const check = (cls) => own(cls.prototype).filter((n) => dom.has(n));
  class Probe extends HTMLElement { matches() { return false; } load() {} }
  const result = { probe: check(Probe) };
  for (const tag of ['mcp-diagnostics-drawer', 'mcp-doctor', 'mcp-guide']) {
    result[tag] = check(customElements.get(tag));
  }
  return result;
}"""
"""Each custom element's own methods that HTMLElement's prototypes also have (a probe shows it finds one)."""


def _since(page: Page) -> str:
    return str(page.evaluate(f"{DRAWER}.since"))


def _problems(page: Page) -> list[dict[str, Any]]:
    return page.locator(f"{DRAWER_TAG} li.problem").evaluate_all(
        """items => items.map(li => ({
          fingerprint: li.dataset.fingerprint,
          count: Number(li.querySelector('.count').dataset.count),
          users: Number(li.querySelector('.users').dataset.users),
          debugId: li.querySelector('.debug-id').textContent,
          trend: Number(li.querySelector('svg.spark').dataset.total),
        }))"""
    )


def test_the_drawer_shows_the_apis_problems_above_its_events(page: Page, service: Service) -> None:
    sign_in(page, "Alice — end user")
    open_drawer(page, "github")
    drawer = page.locator(DRAWER_TAG)
    expect(drawer.locator("li.problem").first).to_be_visible()
    since = _since(page)
    api = service.api("/api/mcp/github/problems", "alice", {"from": since, "buckets": 13}, **ALICE)
    assert _problems(page) == [
        {
            "fingerprint": p["fingerprint"],
            "count": p["count"],
            "users": p["usersAffected"],
            "debugId": p["latestDebugId"],
            "trend": sum(p["trend"]),
        }
        for p in api["items"]
    ]
    assert {p["code"] for p in api["items"]} == {"MCP_TIMEOUT", "MCP_TOOL_ERROR", "MCP_PROXY_SSE_ISSUE"}
    timeline = service.api("/api/mcp/github/timeline", "alice", {"from": since, "buckets": 25}, **ALICE)
    total = sum(sum(counts) for counts in timeline["bySeverity"].values())
    expect(drawer.locator("figure.chart")).to_have_attribute("data-total", str(total))
    assert drawer.locator("figure.chart rect.bar").count() >= 1
    problems_top = drawer.locator("li.problem").first.bounding_box()
    events_top = drawer.locator("#events-title").bounding_box()
    assert problems_top and events_top and problems_top["y"] < events_top["y"]
    # Bob's sign-in failure is not Alice's problem; the server-wide proxy failure is.
    assert "MCP_AUTH_REQUIRED" not in drawer.locator("ol.problems").inner_text()
    screenshot(page, "drawer-problems-light")


def test_a_problems_occurrences_are_one_click_away(page: Page, service: Service) -> None:
    sign_in(page, "Alice — end user")
    open_drawer(page, "github")
    drawer = page.locator(DRAWER_TAG)
    problem = drawer.locator('li.problem[data-code="MCP_TOOL_ERROR"]')
    before = loads(page)
    problem.get_by_role("button", name="Occurrences of MCP_TOOL_ERROR in search").click()
    settled(page, before)
    params = {"code": "MCP_TOOL_ERROR", "touchpoint": "tool_call", "tool": "search", "from": _since(page)}
    api = service.api("/api/mcp/github/diagnostics", "alice", {"limit": 50, **params}, **ALICE)
    assert drawer_ids(page) == [item["id"] for item in api["items"]] and len(api["items"]) > 5
    expect(drawer.locator("#events-title")).to_contain_text("Occurrences")
    expect(drawer.get_by_role("button", name="Stop narrowing to tool search")).to_be_visible()
    expect(drawer.locator("li.problem")).to_have_count(1)  # the list narrows to the problem too
    expect(drawer.locator("li.problem button.occurrences")).to_have_attribute("aria-pressed", "true")
    screenshot(page, "drawer-occurrences")
    before = loads(page)
    drawer.locator("li.problem button.occurrences").click()  # again: every event
    settled(page, before)
    everything = service.api(
        "/api/mcp/github/diagnostics", "alice", {"limit": 50, "from": _since(page)}, **ALICE
    )
    assert drawer_ids(page) == [item["id"] for item in everything["items"]]
    assert drawer.locator("li.problem").count() == 3


def test_copying_a_debug_id_reports_it_and_says_until_when(page: Page, service: Service) -> None:
    """Copy puts the exact Debug ID on the clipboard and reports it: the row says until when support can
    look it up (90 days from now, the API's `keptUntil`), and the support page says so too."""
    sign_in(page, "Alice — end user")
    open_drawer(page, "github")
    problem = page.locator(f'{DRAWER_TAG} li.problem[data-code="MCP_PROXY_SSE_ISSUE"]')
    debug_id = problem.locator(".debug-id").inner_text()
    problem.get_by_role("button", name=f"Copy Debug ID {debug_id}").click()
    kept = problem.locator(".kept")
    expect(kept).to_contain_text("Kept until")
    assert page.evaluate("navigator.clipboard.readText()") == debug_id
    until = datetime.fromisoformat(str(kept.get_attribute("data-kept-until")))
    assert abs(until - (datetime.now(UTC) + timedelta(days=90))) < timedelta(hours=1)
    lookup = service.api(f"/api/diagnostics/{debug_id}", "alice", **ALICE)
    assert lookup["keptUntil"] == kept.get_attribute("data-kept-until")

    page.evaluate("sessionStorage.clear()")  # sign out
    sign_in(page, "Sam — support")
    page.goto(f"/ui/#/support?id={debug_id}")
    line = page.locator(".kept-line")
    expect(line).to_contain_text("Kept until")
    assert datetime.fromisoformat(str(line.get_attribute("data-kept-until"))) >= until


def test_a_problems_action_goes_to_the_host_and_learn_more_opens_its_guide(
    page: Page, service: Service
) -> None:
    sign_in(page, "Alice — end user")
    page.evaluate(
        "window.__actions = [];"
        "document.addEventListener('mcpdiag:action', e => window.__actions.push(e.detail))"
    )
    open_drawer(page, "github")
    drawer = page.locator(DRAWER_TAG)
    timeout = drawer.locator('li.problem[data-code="MCP_TIMEOUT"]')
    timeout.get_by_role("button", name="Retry").click()
    assert page.evaluate("window.__actions") == [
        {"server": "github", "action": "retry", "debugId": timeout.locator(".debug-id").inner_text()}
    ]
    drawer.locator('li.problem[data-code="MCP_PROXY_SSE_ISSUE"]').get_by_role(
        "button", name="Learn more"
    ).click()
    expect(page.locator("mcp-guide").locator("article h1")).to_contain_text("MCP_PROXY_SSE_ISSUE")


def test_the_custom_elements_shadow_no_dom_api(page: Page, service: Service) -> None:
    """A method of a custom element named like one of HTMLElement's (`matches`, `append`, `remove`, …)
    breaks whoever calls the DOM's (selector engines, frameworks of the host page). None of ours does."""
    sign_in(page, "Sam — support")
    clashes = page.evaluate(CLASHES)
    assert clashes == {"mcp-diagnostics-drawer": [], "mcp-doctor": [], "mcp-guide": [], "probe": ["matches"]}
