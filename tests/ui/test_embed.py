"""The drawer embedded in a host page (embed-example.html): only drawer.js loaded, the element's attributes,
`open()`, its events, and a host switching `server` while it is open."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import Service, screenshot
from tests.ui.test_ui import ALICE, DRAWER, drawer_ids, loads, settled


def test_a_host_page_embeds_the_drawer(page: Page, service: Service) -> None:
    """The example host page opens the drawer on github with its token: the rows are the API's, the
    element is styled without the app's page, closing it tells the host, and setting `server` while
    it is open shows that server."""
    token = service.token("alice", **ALICE)
    page.goto(f"/ui/embed-example.html#token={token}")
    page.evaluate(
        "window.__closed = 0; document.addEventListener('mcpdiag:drawer-closed', () => window.__closed++)"
    )
    page.get_by_role("button", name="Diagnostics for github").click()
    drawer = page.locator("mcp-diagnostics-drawer")
    expect(drawer).to_have_attribute("open", "")
    settled(page)
    api = service.api("/api/mcp/github/diagnostics", "alice", {"limit": 50}, **ALICE)
    assert drawer_ids(page) == [item["id"] for item in api["items"]]
    width = page.evaluate(f"{DRAWER}.shadowRoot.querySelector('.panel').getBoundingClientRect().width")
    assert 300 < width <= 560
    screenshot(page, "embed-drawer")

    before = loads(page)
    page.evaluate(f"{DRAWER}.setAttribute('server', 'jira')")
    settled(page, before)
    expect(drawer.locator("#title")).to_have_text("Diagnostics · jira")
    assert len(drawer_ids(page)) == 3

    drawer.get_by_role("button", name="Close diagnostics").click()
    expect(drawer).not_to_have_attribute("open", "")
    assert page.evaluate("window.__closed") == 1
