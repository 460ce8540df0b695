"""Re-check in Chromium: the card's and the drawer's button run the doctor (POST /api/mcp/doctor) against the
endpoint the server's connection events name — here a real MCP server on loopback, reachable because the
app's `doctor_allow` lists 127.0.0.1 — and the stored inspection moves the state shown; a stdio server is
not re-checked from the browser, and says why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mcpdiag.emitters import new_event_id, new_trace_id
from tests.e2e.servers import serve, zoo_server
from tests.ui.conftest import ingest, running_app, screenshot


@dataclass(frozen=True)
class Fleet:
    url: str
    key: str
    mcp: str  # the loopback MCP server's endpoint


def event(server: str, code: str, minutes_ago: float, **extra: Any) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server": server,
        "userId": "alice",
        "touchpoint": "connect",
        "code": code,
        "traceId": new_trace_id(),
        **extra,
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with (
        serve(zoo_server().streamable_http_app()) as port,
        running_app(tmp_path_factory.mktemp("ui-recheck"), doctor_allow="127.0.0.1/32") as (url, _s, key),
    ):
        mcp = f"http://127.0.0.1:{port}/mcp"
        http = {"transport": "streamable-http"}
        ingest(
            url,
            key,
            [
                # weather's URL was mistyped once (DNS), then fixed: a re-check passes
                event("weather", "MCP_DNS_FAILURE", 5, attrs={"endpoint": mcp}, **http),
                # jira connected, and now points at a path where no MCP server answers
                event("jira", "MCP_CONNECTED", 5, attrs={"endpoint": mcp.replace("/mcp", "/gone")}, **http),
                # docs-search connected at an address the service's doctor may not reach (not listed)
                event(
                    "docs-search",
                    "MCP_CONNECTED",
                    5,
                    attrs={"endpoint": mcp.replace("127.0.0.1", "127.0.0.2")},
                    **http,
                ),
                # local-files is a stdio command: the browser never runs commands
                event(
                    "local-files",
                    "MCP_SPAWN_FAILED",
                    5,
                    attrs={"endpoint": "files-server"},
                    transport="stdio",
                ),
            ],
        )
        yield Fleet(url, key, mcp)


def sign_in_at(page: Page, fleet: Fleet, label: str) -> None:
    page.goto(fleet.url + "/ui/")
    page.get_by_role("button", name=label).click()
    page.locator("#user-chip").wait_for(state="visible")


def test_the_cards_recheck_passes_and_the_card_says_connected(page: Page, fleet: Fleet) -> None:
    sign_in_at(page, fleet, "Alice — end user")
    card = page.locator('article.card[data-server="weather"]')
    expect(card.locator(".badge")).to_have_attribute("data-state", "misconfigured")
    button = card.get_by_role("button", name="Re-check weather")
    expect(button).to_have_attribute("title", f"Test {fleet.mcp} now")
    with page.expect_response(lambda r: r.url.endswith("/api/mcp/doctor")) as answer:
        button.click()
    assert answer.value.json()["ok"] is True
    expect(card.locator('[data-recheck="ok"]')).to_contain_text("Re-check passed")
    expect(card.locator(".recheck code")).to_have_text(answer.value.json()["debugId"])
    expect(card.locator(".badge")).to_have_attribute("data-state", "connected")
    expect(button).to_be_enabled()
    screenshot(page, "recheck-card")


def test_the_drawers_recheck_fails_where_the_endpoint_is_gone(page: Page, fleet: Fleet) -> None:
    """The verdict names the failing step and code; the run's inspection arrives in the drawer's list."""
    sign_in_at(page, fleet, "Alice — end user")
    page.get_by_role("button", name="Diagnostics for jira").click()
    drawer = page.locator("mcp-diagnostics-drawer")
    expect(drawer).to_have_attribute("open", "")
    expect(drawer.locator("#subtitle .badge")).to_have_attribute("data-state", "connected")
    with page.expect_response(lambda r: r.url.endswith("/api/mcp/doctor")) as answer:
        drawer.get_by_role("button", name="Re-check", exact=True).click()
    report = answer.value.json()
    assert (report["ok"], report["code"]) == (False, "MCP_ENDPOINT_NOT_FOUND")
    verdict = drawer.locator('[data-recheck="failed"]')
    expect(verdict).to_contain_text(f"failed at {report['failedStep']}")
    expect(verdict).to_contain_text("MCP_ENDPOINT_NOT_FOUND")
    inspection = drawer.locator("li.row").filter(
        has=page.locator(f'code.debug-id:text-is("{report["debugId"]}")')
    )
    expect(inspection).to_have_count(1)
    expect(inspection.locator(".code")).to_have_text("MCP_ENDPOINT_NOT_FOUND")
    expect(drawer.locator("#subtitle .badge")).to_have_attribute("data-state", "misconfigured")


def test_a_recheck_the_service_may_not_make_says_so_and_leaves_the_card_green(
    page: Page, fleet: Fleet
) -> None:
    """The allow list refuses 127.0.0.2: the verdict says the re-check did not run and where an admin allows
    it, and the card stays connected (the refusal was stored as the failed inspection, and turned it red)."""
    sign_in_at(page, fleet, "Alice — end user")
    card = page.locator('article.card[data-server="docs-search"]')
    expect(card.locator(".badge")).to_have_attribute("data-state", "connected")
    with page.expect_response(lambda r: r.url.endswith("/api/mcp/doctor")) as answer:
        card.get_by_role("button", name="Re-check docs-search").click()
    report = answer.value.json()
    assert (report["code"], report["refused"]) == ("MCP_DOMAIN_NOT_ALLOWED", True)
    verdict = card.locator('[data-recheck="refused"]')
    expect(verdict).to_contain_text("Re-check not run: Refused: 127.0.0.2")
    expect(verdict).to_contain_text("MCPDIAG_DOCTOR_ALLOW")
    screenshot(page, "recheck-refused")
    page.reload()  # what the store now says, not what the page kept
    expect(page.locator('article.card[data-server="docs-search"] .badge')).to_have_attribute(
        "data-state", "connected"
    )


def test_a_stdio_server_is_not_rechecked_from_the_browser(page: Page, fleet: Fleet) -> None:
    sign_in_at(page, fleet, "Alice — end user")
    button = page.get_by_role("button", name="Re-check local-files")
    expect(button).to_be_disabled()
    expect(button).to_have_attribute(
        "title", "stdio server (files-server): run mcpdiag doctor --stdio where it runs."
    )
