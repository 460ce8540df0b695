"""The "Test connection" panel (`<mcp-doctor>`) in a real Chromium against a real app and loopback servers."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.collector import CollectorSettings
from tests.e2e.servers import misbehaving_app, serve
from tests.ui.conftest import screenshot

DOCTOR = "mcp-doctor"


@pytest.fixture(scope="module")
def doctor_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app in development mode with the doctor allowed to reach loopback (the test servers)."""
    tmp: Path = tmp_path_factory.mktemp("doctor-ui")
    app = create_app(
        ApiSettings(
            _env_file=None, jwt_secret=secrets.token_urlsafe(48), dev_mode=True, doctor_allow_private=True
        ),
        CollectorSettings(
            _env_file=None,
            store_url=f"sqlite:///{tmp / 'events.db'}",
            spool_dir=tmp / "spool",
            ingest_keys=frozenset({secrets.token_urlsafe(24)}),
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
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def bad_port() -> Iterator[int]:
    with serve(misbehaving_app) as port:
        yield port


@pytest.fixture
def doctor_page(browser: Browser, doctor_app: str) -> Iterator[Page]:
    yield from _signed_in(browser, doctor_app, "Alice — end user")


def _signed_in(browser: Browser, doctor_app: str, who: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=doctor_app,
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/ui/")
    page.get_by_role("button", name=who).click()
    page.locator("#user-chip").wait_for(state="visible")
    yield page
    context.close()


def test_a_failing_url_shows_the_failing_step_with_its_summary_and_action(
    doctor_page: Page, bad_port: int
) -> None:
    page = doctor_page
    page.locator("#doctor-panel summary").click()
    doctor = page.locator(DOCTOR)
    doctor.get_by_label("Server URL").fill(f"http://127.0.0.1:{bad_port}/s/502")
    doctor.get_by_label("Headers").fill("Authorization: Bearer ui-secret-value-123")
    doctor.get_by_role("button", name="Test connection").click()
    ladder = doctor.locator("ol.ladder")
    expect(ladder).to_have_attribute("data-done", "true")
    expect(ladder.locator("li")).to_have_count(7)
    for name in ("dns", "tcp"):
        expect(ladder.locator(f'li[data-step="{name}"]')).to_have_attribute("data-status", "ok")
    failing = ladder.locator('li[data-step="http"]')
    expect(failing).to_have_attribute("data-status", "fail")
    expect(failing.locator(".summary")).to_contain_text("HTTP 502")
    expect(ladder.locator('li[data-step="mcp"]')).to_have_attribute("data-status", "skipped")
    verdict = doctor.locator(".verdict")
    expect(verdict).to_contain_text("Failed at http")
    expect(verdict.locator("code.code")).to_have_text("MCP_PROXY_SSE_ISSUE")
    expect(verdict.get_by_role("button", name="Learn more")).to_be_visible()
    debug_id = verdict.locator("code.debug-id").inner_text()
    assert re.fullmatch(r"[0-9a-f]{32}", debug_id)
    # An end user never gets the technical detail, and the header never comes back.
    expect(ladder.locator("details")).to_have_count(0)
    assert "ui-secret-value-123" not in doctor.locator("ol.ladder").inner_html()
    verdict.get_by_role("button", name="Copy Debug ID").click()
    expect(verdict.get_by_role("button", name="Copy Debug ID")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == debug_id
    screenshot(page, "doctor-failing")
    # A new input the form refuses: the last test's ladder and verdict go (they sat under the new error).
    doctor.get_by_label("Server URL").fill("not a url")
    doctor.get_by_role("button", name="Test connection").click()
    expect(doctor.locator(".error")).to_contain_text("https://")
    expect(ladder).to_be_hidden()
    expect(verdict).to_be_hidden()


def test_a_bad_url_is_refused_in_the_form(doctor_page: Page) -> None:
    page = doctor_page
    page.locator("#doctor-panel summary").click()
    doctor = page.locator(DOCTOR)
    doctor.get_by_label("Server URL").fill("ftp://example.com/")
    doctor.get_by_role("button", name="Test connection").click()
    expect(doctor.locator(".error")).to_contain_text("https://")
    expect(doctor.locator("ol.ladder")).to_be_hidden()


def test_a_test_run_adds_no_server_card(browser: Browser, doctor_app: str, bad_port: int) -> None:
    """Support sees every stored server name; a run that named no server is still not one of them."""
    for page in _signed_in(browser, doctor_app, "Sam — support"):
        page.locator("#doctor-panel summary").click()
        doctor = page.locator(DOCTOR)
        doctor.get_by_label("Server URL").fill(f"http://127.0.0.1:{bad_port}/s/502")
        doctor.get_by_role("button", name="Test connection").click()
        expect(doctor.locator("ol.ladder")).to_have_attribute("data-done", "true")
        page.reload()
        page.locator("#doctor-panel").wait_for()
        cards = page.locator("article.card").evaluate_all("cards => cards.map(c => c.dataset.server)")
        assert not [name for name in cards if name.startswith("doctor:")], cards
