"""Every page in light, dark and at 390 px, written to artifacts/ui/ for people to look at; at 390 px
nothing may scroll sideways (the page, the drawer, the support results)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import Service, screenshot, sign_in
from tests.ui.test_ui import open_drawer

NARROW = 390


def _theme(page: Page, theme: str) -> None:
    if page.evaluate("document.documentElement.dataset.theme") != theme:
        page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", theme)


def _fits(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    panel = "document.querySelector('mcp-diagnostics-drawer').shadowRoot.querySelector('.panel')"
    if page.evaluate(f"!{panel}.hidden"):
        assert page.evaluate(f"{panel}.scrollWidth <= {panel}.clientWidth")


@pytest.mark.parametrize(
    ("theme", "width"), [("light", 1280), ("dark", 1280), ("light", NARROW), ("dark", NARROW)]
)
def test_every_page_in_each_theme_and_width(page: Page, service: Service, theme: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 860})
    name = f"{theme}-{width}"
    sign_in(page, "Sam — support")
    _theme(page, theme)
    page.locator("article.card").first.wait_for()
    _fits(page, width)
    screenshot(page, f"screen-servers-{name}")
    page.locator("#doctor-panel summary").click()
    screenshot(page, f"screen-doctor-{name}")
    open_drawer(page, "github")
    _fits(page, width)
    screenshot(page, f"screen-drawer-{name}")
    page.keyboard.press("Escape")
    # Closed once it has slid out (its rows, such as "Occurrences of … in search", then leave the page).
    expect(page.locator("mcp-diagnostics-drawer .panel")).to_be_hidden()
    page.get_by_role("link", name="Support").click()
    page.get_by_role("textbox", name="Debug ID").fill(service.seeded["support_trace"])
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("region", name="Trace timeline")).to_contain_text(service.seeded["support_trace"])
    _fits(page, width)
    screenshot(page, f"screen-support-{name}")
    page.get_by_role("link", name="Servers").click()
    page.locator("article.card").first.wait_for()
