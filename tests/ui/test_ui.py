"""The web UI in a real headless Chromium against the real app: what each role sees and can do."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.ui.conftest import SHARED_PREFIX, Service, screenshot, sign_in

DRAWER = "document.querySelector('mcp-diagnostics-drawer')"
ROWS = f"{DRAWER}.shadowRoot.querySelectorAll('li.row')"
ACTIVE = f"() => {DRAWER}.shadowRoot.activeElement?.className || ''"
ALICE = {"mcp_servers": ["github", "jira", "notion", "docs-search", "local-files", "weather"]}
BOB = {"mcp_servers": ["github", "weather"]}


def drawer_ids(page: Page) -> list[str]:
    return page.locator("mcp-diagnostics-drawer li.row").evaluate_all("rows => rows.map(r => r.dataset.id)")


def walk(
    service: Service, server: str, sub: str, params: dict[str, Any], **claims: Any
) -> list[dict[str, Any]]:
    """Every item of a diagnostics listing through the API, following cursors."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = service.api(f"/api/mcp/{server}/diagnostics", sub, {**params, "cursor": cursor}, **claims)
        items += page["items"]
        cursor = page["nextCursor"]
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


def loads(page: Page) -> int:
    """How many listings the drawer has finished (the counter a test waits on after a change)."""
    return int(page.evaluate(f"{DRAWER}.loaded"))


def settled(page: Page, after: int | None = None) -> None:
    """Wait until the drawer finished loading (a listing newer than `after`, when given)."""
    floor = -1 if after is None else after
    page.wait_for_function(f"() => {DRAWER}.loading === false && {DRAWER}.loaded > {floor}")


def open_drawer(page: Page, server: str) -> None:
    page.get_by_role("button", name=f"Diagnostics for {server}").click()
    expect(page.locator("mcp-diagnostics-drawer")).to_have_attribute("open", "")
    page.locator("mcp-diagnostics-drawer li.row").first.wait_for()
    settled(page)


def test_an_end_user_sees_exactly_the_servers_they_can_access(page: Page, service: Service) -> None:
    sign_in(page, "Bob — end user")
    page.locator("article.card").first.wait_for()
    cards = page.locator("article.card").evaluate_all("cards => cards.map(c => c.dataset.server)")
    status = service.api("/api/mcp/connection/status", "bob", **BOB)["connectionStatus"]
    assert sorted(cards) == sorted(status) == ["github", "weather"]
    # The card's last error is the API's, in the same words.
    for server in cards:
        last = status[server]["lastError"]
        card = page.locator(f'article.card[data-server="{server}"]')
        expect(card.locator(".card-error")).to_have_attribute("data-last-error", last["code"])
        expect(card.locator(".card-error p")).to_have_text(last["message"])
    expect(page.locator('article.card[data-server="payroll"]')).to_have_count(0)
    screenshot(page, "servers-light")


def test_drawer_rows_match_the_api_and_filters_narrow_them(page: Page, service: Service) -> None:
    sign_in(page, "Alice — end user")
    open_drawer(page, "github")
    api_first = service.api("/api/mcp/github/diagnostics", "alice", {"limit": 50}, **ALICE)
    assert drawer_ids(page) == [item["id"] for item in api_first["items"]]
    # A plain user never gets the technical detail.
    expect(page.locator("mcp-diagnostics-drawer details")).to_have_count(0)
    screenshot(page, "drawer-light")

    drawer = page.locator("mcp-diagnostics-drawer")
    before = loads(page)
    drawer.get_by_label("Minimum severity").select_option("error")
    settled(page, before)
    assert page.evaluate(
        f"() => [...{ROWS}].every(r => ['sev-error', 'sev-critical'].some(c => r.classList.contains(c)))"
    )
    errors = walk(service, "github", "alice", {"severity": "error", "from": "1970-01-02T00:00:00Z"}, **ALICE)
    assert 0 < len(drawer_ids(page)) <= len(errors)

    before = loads(page)
    drawer.get_by_label("Minimum severity").select_option("")
    settled(page, before)
    before = loads(page)
    drawer.get_by_label("Time range").select_option("1h")
    settled(page, before)
    hour = service.api("/api/mcp/github/diagnostics", "alice", {"limit": 50, "from": _hour_ago()}, **ALICE)
    assert drawer_ids(page) == [item["id"] for item in hour["items"]] and 0 < len(hour["items"]) < 10
    times = drawer.locator("li.row time").evaluate_all("ts => ts.map(t => Date.parse(t.dateTime))")
    assert times and all(t >= max(times) - 3_600_000 for t in times)


def test_load_more_reaches_the_last_page(page: Page, service: Service) -> None:
    sign_in(page, "Alice — end user")
    open_drawer(page, "github")
    drawer = page.locator("mcp-diagnostics-drawer")
    more = drawer.get_by_role("button", name="Load more")
    for _ in range(10):
        if not more.is_visible():
            break
        before = len(drawer_ids(page))
        more.click()
        page.wait_for_function(f"() => {ROWS}.length > {before}")
        settled(page)
    expect(more).to_be_hidden()
    from_api = walk(service, "github", "alice", {"from": "1970-01-02T00:00:00Z"}, **ALICE)
    within_day = [item["id"] for item in from_api][: len(drawer_ids(page))]
    assert drawer_ids(page) == within_day and len(within_day) > 50


def test_support_sees_detail_and_copies_the_exact_debug_id(page: Page, service: Service) -> None:
    sign_in(page, "Sam — support")
    open_drawer(page, "github")
    drawer = page.locator("mcp-diagnostics-drawer")
    expect(drawer.locator("details").first).to_be_attached()
    first = drawer.locator("li.row").first
    trace_id = first.locator("code.debug-id").inner_text()
    first.get_by_role("button", name=f"Copy Debug ID {trace_id}").click()
    expect(first.locator("button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == trace_id


def test_action_buttons_dispatch_mcpdiag_action_for_the_host(page: Page, service: Service) -> None:
    sign_in(page, "Bob — end user")
    page.evaluate(
        "window.__actions = [];"
        "document.addEventListener('mcpdiag:action', e => window.__actions.push(e.detail))"
    )
    card = page.locator('article.card[data-server="github"]')
    card.get_by_role("button", name="Authenticate").click()
    assert page.evaluate("window.__actions") == [
        {"server": "github", "action": "authenticate", "debugId": service.seeded["bob_auth"]}
    ]


def test_support_finds_an_event_by_an_eight_character_prefix(page: Page, service: Service) -> None:
    sign_in(page, "Sam — support")
    page.get_by_role("link", name="Support").click()
    search = page.get_by_label("Debug ID")
    search.fill(service.seeded["support_trace"][:8])
    page.get_by_role("button", name="Search").click()
    timeline = page.get_by_role("region", name="Trace timeline")
    expect(timeline).to_contain_text(service.seeded["support_trace"])
    screenshot(page, "support-light")
    search.fill("ffffeeee")
    page.get_by_role("button", name="Search").click()
    expect(page.locator('[data-result="not-found"]')).to_be_visible()
    search.fill(SHARED_PREFIX)
    page.get_by_role("button", name="Search").click()
    expect(page.locator('[data-result="ambiguous"]')).to_contain_text(SHARED_PREFIX)


def test_dark_mode_switches_and_follows_the_toggle(page: Page, service: Service) -> None:
    sign_in(page, "Alice — end user")
    page.locator("article.card").first.wait_for()
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name="Switch to dark theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light
    screenshot(page, "servers-dark")
    open_drawer(page, "github")
    screenshot(page, "drawer-dark")


def test_the_drawer_works_with_the_keyboard_alone(page: Page, service: Service) -> None:
    sign_in(page, "Alice — end user")
    opener = page.get_by_role("button", name="Diagnostics for github")
    opener.focus()
    page.keyboard.press("Enter")
    drawer = page.locator("mcp-diagnostics-drawer")
    expect(drawer).to_have_attribute("open", "")
    drawer.locator("li.row").first.wait_for()
    active = (
        "() => document.querySelector('mcp-diagnostics-drawer').shadowRoot.activeElement?.className || ''"
    )
    page.wait_for_function(f"({active})() === 'close'")
    reached_copy = False
    for _ in range(12):
        page.keyboard.press("Tab")
        inside = page.evaluate("document.activeElement === document.querySelector('mcp-diagnostics-drawer')")
        assert inside, "focus left the drawer"
        if page.evaluate(f"({ACTIVE})()").startswith("copy"):
            reached_copy = True
            break
    assert reached_copy
    page.keyboard.press("Escape")
    expect(drawer).not_to_have_attribute("open", "")
    assert page.evaluate("document.activeElement.dataset.diagnostics") == "github"


def test_pages_are_readable_at_360_px(page: Page, service: Service) -> None:
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, "Alice — end user")
    page.locator("article.card").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "servers-mobile")


def _hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def test_admin_downloads_a_bundle_and_sees_the_cli_equivalent(page: Page, service: Service) -> None:
    sign_in(page, "Ada — admin")
    page.get_by_role("link", name="Admin").click()
    form = page.get_by_role("form", name="Bundle scope")
    form.get_by_label("Servers").select_option(["github"])
    form.get_by_label("Minimum severity").select_option("error")
    expect(page.locator("#cli-command")).to_have_text(
        "mcpdiag bundle --server github --since 24h --severity error"
    )
    screenshot(page, "admin-light")
    with page.expect_download() as download_info:
        form.get_by_role("button", name="Download bundle").click()
    download = download_info.value
    assert download.suggested_filename.startswith(
        "mcpdiag-support-"
    ) and download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as bundle:
        manifest = json.loads(bundle.read("MANIFEST.json"))
        assert "events/github.jsonl" in bundle.namelist()
    assert manifest["scope"]["server"] == ["github"]
    page.get_by_role("button", name="Switch to dark theme").click()
    screenshot(page, "admin-dark")


def test_the_drawer_closes_when_the_page_changes(page: Page, service: Service) -> None:
    """Back (or any route change) left a server's drawer open over the next page (found by a pass in a real
    browser)."""
    sign_in(page, "Sam — support")
    page.goto("/ui/#/overview")
    page.goto("/ui/#/servers")
    open_drawer(page, "github")
    page.go_back()
    expect(page.locator("mcp-diagnostics-drawer")).not_to_have_attribute("open", "")


def test_a_token_that_stops_working_signs_the_user_out_saying_why(page: Page, service: Service) -> None:
    """A token that stopped working (expired, a restarted demo's new key) left the drawer "updating" on 401s
    and pages showing a raw error, forever: the service now answers 401 (as a restarted one would) and the
    UI goes back to the sign-in, saying why."""
    sign_in(page, "Alice — end user")
    open_drawer(page, "github")
    refusal = {"error": {"code": "unauthorized", "message": "token signature does not verify."}}
    page.route(
        "**/api/**",
        lambda route: route.fulfill(status=401, content_type="application/json", body=json.dumps(refusal)),
    )
    page.evaluate(f"{DRAWER}.load()")  # the drawer's next refresh
    expect(page.get_by_role("heading", name="Sign in required")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("You were signed out: token signature does not verify.")
    expect(page.locator("mcp-diagnostics-drawer")).not_to_have_attribute("open", "")
    assert page.evaluate("sessionStorage.getItem('mcpdiag.token')") is None
    page.wait_for_function(f"{DRAWER}.panel.hidden")  # slid out
    screenshot(page, "signed-out")
