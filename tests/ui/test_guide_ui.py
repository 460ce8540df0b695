"""The troubleshooting guides inside the product, in a real headless Chromium against the real app: "Learn
more", a card's Guide button, the drawer's and the doctor's open the code's guide from the Markdown shipped in
the package, with no request leaving the page's origin; every code's guide is at most three clicks from a
card showing it; hostile HTML from the guide endpoint is rebuilt inert."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.collector import CollectorSettings
from mcpdiag.emitters import CATALOG, new_event_id, new_trace_id
from tests.e2e.servers import free_port
from tests.ui.conftest import screenshot, sign_in
from tests.waiting import HTTP_PATIENCE

GUIDE = "mcp-guide"
ALICE_SERVERS = ["github", "jira", "notion", "docs-search", "local-files", "weather"]


def touchpoint(code: str) -> str:
    if code == "MCP_TOOL_ERROR":
        return "tool_call"
    if code in ("MCP_CONNECTED", "MCP_DISCONNECTED"):
        return "lifecycle"
    return "oauth" if code.startswith("MCP_OAUTH") else "connect"


def event(server: str, code: str, user: str | None = None) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(minutes=3)
    return {
        "id": new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server": server,
        "userId": user,
        "touchpoint": touchpoint(code),
        "code": code,
        "traceId": new_trace_id(),
        **({"tool": "search"} if code == "MCP_TOOL_ERROR" else {}),
    }


def server_of(code: str) -> str:
    return "s-" + code.removeprefix("MCP_").lower().replace("_", "-")


@dataclass
class Site:
    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A dev-mode app with one server per catalog code (its only event), and docs-search failing for Alice."""
    tmp = tmp_path_factory.mktemp("guide-ui")
    key = "ik_" + secrets.token_hex(16)
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=secrets.token_urlsafe(48), dev_mode=True),
        CollectorSettings(
            _env_file=None,
            store_url=f"sqlite:///{tmp / 'events.db'}",
            spool_dir=tmp / "spool",
            ingest_keys=frozenset({key}),
            batch_interval_ms=5,
        ),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    events = [event(server_of(code), code) for code in CATALOG]
    events.append(event("docs-search", "MCP_PROXY_SSE_ISSUE", "alice"))
    answer = httpx.post(
        f"{url}/v1/events", json={"events": events}, headers={"X-API-Key": key}, timeout=HTTP_PATIENCE
    )
    assert answer.status_code == 202 and answer.json()["accepted"] == len(events), answer.text
    try:
        yield Site(url)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.clock.set_system_time(datetime.now(UTC))
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, site: Site) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    site.requests.clear()

    def record(request: Request) -> None:
        site.requests.append(request.url)

    page.on("request", record)
    return page


def guide_dialog(page: Page) -> Locator:
    return page.locator(f"{GUIDE} dialog")


def expect_guide(page: Page, code: str) -> None:
    """The dialog is open on `code`'s guide, rendered (its title heading and its sections)."""
    expect(page.locator(f'{GUIDE}[data-loaded="{code}"]')).to_have_count(1)
    dialog = guide_dialog(page)
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=1)).to_have_text(f"{code}: {CATALOG[code].title}")
    expect(dialog.get_by_role("heading", name="How to fix", level=2)).to_be_visible()


def assert_no_external_request(site: Site) -> None:
    outside = [url for url in site.requests if not url.startswith((site.url + "/", "data:"))]
    assert not outside, outside


def test_learn_more_opens_the_guide_in_the_product_with_no_external_request(page: Page, site: Site) -> None:
    """An end user's "Learn more" on MCP_PROXY_SSE_ISSUE opens its guide in a dialog; Escape closes it and
    gives the focus back; every request of the page went to mcpdiag itself."""
    sign_in(page, "Alice — end user")
    card = page.locator('article.card[data-server="docs-search"]')
    learn = card.get_by_role("button", name="Learn more")
    learn.click()
    expect_guide(page, "MCP_PROXY_SSE_ISSUE")
    dialog = guide_dialog(page)
    expect(dialog.get_by_role("heading", name="nginx", exact=True)).to_be_visible()
    expect(dialog.locator("pre code.language-nginx")).to_contain_text("proxy_buffering off;")
    assert dialog.locator("img, script, iframe").count() == 0
    external = dialog.locator('a[href^="http"]')
    for i in range(external.count()):
        assert external.nth(i).get_attribute("target") == "_blank"
        assert "noopener" in (external.nth(i).get_attribute("rel") or "")
    screenshot(page, "guide-proxy-sse-issue")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(learn).to_be_focused()
    assert any("/api/guides/MCP_PROXY_SSE_ISSUE" in url for url in site.requests)
    assert_no_external_request(site)


def test_a_link_to_another_guide_opens_it_in_place_and_back_returns(page: Page, site: Site) -> None:
    sign_in(page, "Ada — admin")
    page.locator(f'article.card[data-server="{server_of("MCP_OAUTH_STARTED")}"]').get_by_role(
        "button", name="Diagnostics"
    ).click()
    page.locator("mcp-diagnostics-drawer").get_by_role("button", name="Guide for MCP_OAUTH_STARTED").click()
    expect_guide(page, "MCP_OAUTH_STARTED")
    before = page.evaluate("location.hash")
    guide_dialog(page).get_by_role("link", name="MCP_OAUTH_TIMEOUT").first.click()
    expect_guide(page, "MCP_OAUTH_TIMEOUT")
    assert page.evaluate("location.hash") == before  # the page's own route did not move
    guide_dialog(page).get_by_role("button", name="Back").click()
    expect_guide(page, "MCP_OAUTH_STARTED")
    assert_no_external_request(site)


def clicks_to_guide(page: Page, code: str) -> int:
    """Open `code`'s guide from the card of the server whose only event it is; the number of clicks."""
    card = page.locator(f'article.card[data-server="{server_of(code)}"]')
    expect(card).to_be_visible()
    if card.locator(f'[data-last-error="{code}"]').count():  # the card shows the code: one click
        name = "Learn more" if CATALOG[code].action.value == "docs" else f"Guide for {code}"
        card.get_by_role("button", name=name).click()
        return 1
    card.get_by_role("button", name="Diagnostics").click()  # the drawer lists it: two
    # Problems first: a failure's own problem row (above its events) has the guide too.
    page.locator("mcp-diagnostics-drawer").get_by_role("button", name=f"Guide for {code}").first.click()
    return 2


def test_every_codes_guide_is_at_most_three_clicks_from_a_card_showing_it(page: Page, site: Site) -> None:
    sign_in(page, "Ada — admin")
    for code in sorted(CATALOG):
        clicks = clicks_to_guide(page, code)
        expect_guide(page, code)
        assert clicks <= 3, (code, clicks)
        page.keyboard.press("Escape")
        expect(guide_dialog(page)).to_be_hidden()
        if page.locator("mcp-diagnostics-drawer[open]").count():
            page.keyboard.press("Escape")
            expect(page.locator("mcp-diagnostics-drawer[open]")).to_have_count(0)
    assert_no_external_request(site)


HOSTILE = {
    "code": "MCP_TIMEOUT",
    "title": "MCP_TIMEOUT: Server took too long",
    "severity": "error",
    "action": "retry",
    "html": (
        '<h1 id="t">MCP_TIMEOUT: Server took too long</h1><h2>How to fix</h2>'
        '<img src="https://tracker.invalid/pixel.png" onerror="window.__pwned = 1">'
        "<script>window.__pwned = 2</script><style>body{display:none}</style>"
        '<iframe src="https://frame.invalid/"></iframe>'
        '<p onclick="window.__pwned = 3">text <a href="javascript:window.__pwned = 4">js link</a> '
        '<a href="https://ok.invalid/" target="_blank">ok</a> <a data-guide="../x" href="#">bad guide</a></p>'
    ),
}


def test_hostile_html_from_the_guide_endpoint_is_rebuilt_inert(page: Page, site: Site) -> None:
    """Defence in depth: even if the endpoint answered raw HTML, the page keeps text and safe links only —
    no script runs, no element loads anything, no handler or javascript: link survives."""
    page.route(
        "**/api/guides/MCP_TIMEOUT",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(HOSTILE)),
    )
    sign_in(page, "Ada — admin")
    page.locator(f'article.card[data-server="{server_of("MCP_TIMEOUT")}"]').get_by_role(
        "button", name="Guide for MCP_TIMEOUT"
    ).click()
    expect(page.locator(f'{GUIDE}[data-loaded="MCP_TIMEOUT"]')).to_have_count(1)
    dialog = guide_dialog(page)
    expect(dialog.get_by_text("js link")).to_be_visible()
    assert dialog.locator("img, script, style, iframe, [onclick], [onerror]").count() == 0
    assert dialog.get_by_text("js link").get_attribute("href") is None
    assert dialog.get_by_text("bad guide").get_attribute("data-guide") is None
    assert dialog.get_by_role("link", name="ok").get_attribute("rel") == "noopener noreferrer nofollow"
    dialog.get_by_text("text").first.click()
    assert page.evaluate("window.__pwned") is None
    assert not [url for url in site.requests if ".invalid" in url]


def test_the_doctor_verdict_links_its_guide(page: Page, site: Site) -> None:
    """The connection test's failed step offers the code's guide (the dev app's doctor refuses loopback
    addresses: MCP_DOMAIN_NOT_ALLOWED, a guide like any other)."""
    sign_in(page, "Ada — admin")
    page.locator("#doctor-panel summary").click()
    doctor = page.locator("mcp-doctor")
    doctor.get_by_label("Server URL").fill(f"http://127.0.0.1:{free_port()}/mcp")
    doctor.get_by_role("button", name="Test connection").click()
    verdict = doctor.locator(".verdict")
    expect(verdict).to_be_visible(timeout=30_000)
    code = verdict.locator("code.code").inner_text()
    verdict.get_by_role("button", name="Guide").click()
    expect_guide(page, code)
    assert_no_external_request(site)
