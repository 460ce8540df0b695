"""The admin page's "Open a support bundle" in headless Chromium: an encrypted bundle dropped on it asks for
its passphrase, uploads with a progress bar, shows its counts, servers, window and verify result, loads
(with progress), and opens a read-only view in a new tab: the banner names the bundle, its window and
host; the cards and the drawer show the bundle's events as of its capture, days ago."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import secrets
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyrage
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.bundle.crypt import Encryption
from mcpdiag.collector import CollectorSettings
from mcpdiag.store import SQLiteEventStore
from tests.factories import FakeClock, make_event
from tests.ui.conftest import Service, screenshot, sign_in

PASSPHRASE = "pp-" + secrets.token_urlsafe(12)
LOAD_MS = 30_000
"""How long an assertion waits for an upload or a load (the app shares the machine with the browser)."""


def customer_bundle(tmp_path: Path) -> Path:
    """A customer's passphrase-encrypted bundle whose window ended three days ago (3,000 events)."""
    end = datetime.now(UTC) - timedelta(days=3)

    async def build() -> Path:
        store = SQLiteEventStore(tmp_path / "customer.db", clock=FakeClock(end))
        await store.ensure_schema()
        events = [
            make_event(server="local-files", code="MCP_PROCESS_EXITED", user_id=f"u{i % 3}",
                       ts=end - timedelta(minutes=2 + i % 300, seconds=i))
            for i in range(2400)
        ]  # fmt: skip
        events += [
            make_event(server="github", code="MCP_CONNECTED", ts=end - timedelta(minutes=1 + i))
            for i in range(600)
        ]
        await store.append(events)
        out = tmp_path / "customer"
        out.mkdir()
        result = await export_bundle(
            store,
            BundleScope.parse(since="24h", now=end),
            out_dir=out,
            settings_snapshot={},
            app_version="9.9.9",
            environ={},
            now=end,
            encryption=Encryption.with_passphrase(PASSPHRASE),
        )
        await store.close()
        return result.path

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, build()).result()


@pytest.fixture(scope="module")
def bundle_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("ui-open-bundle")
    secret, key = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=secret, dev_mode=True),
        CollectorSettings(_env_file=None, store_url=f"sqlite:///{tmp / 'events.db'}", spool_dir=tmp / "spool",
                          ingest_keys=frozenset({key})),
    )  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    try:
        yield Service(f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", secret, key, {})
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def bundle_context(browser: Browser, bundle_service: Service) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=bundle_service.url, viewport={"width": 1280, "height": 900})
    context.clock.set_system_time(datetime.now(UTC))
    yield context
    context.close()


def drop(page: Page, data: bytes, name: str) -> None:
    """Drop a file on the drop zone the way a browser does: a `drop` event carrying a DataTransfer."""
    transfer = page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "application/octet-stream" }));
            return dt;
        }""",
        [base64.b64encode(data).decode(), name],
    )
    zone = page.locator("#bundle-drop")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})


def test_a_dropped_bundle_is_previewed_then_opened_read_only(
    bundle_context: BrowserContext, tmp_path: Path
) -> None:
    bundle = customer_bundle(tmp_path)
    page = bundle_context.new_page()
    page.set_default_timeout(LOAD_MS)
    sign_in(page, "Ada — admin")
    page.get_by_role("link", name="Admin").click()
    panel = page.get_by_role("region", name="Open a support bundle")
    panel.wait_for()
    # Every element the panel shows on the way, recorded as it appears (a progress bar may be brief).
    page.evaluate(
        """() => { window.seenIds = new Set();
            const note = (n) => {
              for (const el of [n, ...n.querySelectorAll("[id]")]) if (el.id) window.seenIds.add(el.id);
            };
            new MutationObserver((changes) => { for (const c of changes) for (const n of c.addedNodes)
              if (n.querySelectorAll) note(n); })
              .observe(document.getElementById("open-bundle-slot"), { childList: true, subtree: true }); }"""
    )
    drop(page, bundle.read_bytes(), bundle.name)
    form = page.locator("#bundle-key")
    expect(form).to_contain_text(f"{bundle.name} is encrypted")
    form.get_by_label("Passphrase").fill(PASSPHRASE)
    form.get_by_role("button", name="Upload and preview").click()

    preview = page.locator("#bundle-preview")
    expect(preview.locator("[data-preview=events]")).to_have_text("3,000")
    expect(preview.locator("[data-preview=failures]")).to_have_text("2,400")
    expect(preview.locator("#bundle-servers tbody tr")).to_have_count(2)
    expect(preview.locator("#bundle-servers tbody")).to_contain_text("local-files")
    expect(preview.locator("#bundle-verify")).to_have_attribute("data-ok", "true")
    expect(preview.locator("#bundle-verify li")).to_contain_text(["archive", "manifest"])
    assert preview.locator("[data-preview=host]").inner_text().strip()
    screenshot(page, "open-bundle-preview")

    panel.get_by_role("button", name="Open read-only view").click()
    view_link = page.locator("#bundle-view")
    view_link.wait_for()
    seen = set(page.evaluate("() => [...window.seenIds]"))
    assert {"bundle-upload-progress", "bundle-load-progress", "bundle-preview", "bundle-ready"} <= seen, seen

    with bundle_context.expect_page() as opened:
        view_link.click()
    view = opened.value
    view.set_default_timeout(LOAD_MS)
    asked: list[str] = []
    view.on("request", lambda request: asked.append(request.url))
    banner = view.get_by_role("note", name="Support bundle")
    expect(banner).to_contain_text(bundle.name)
    expect(banner).to_contain_text("read-only")
    expect(banner.locator("[data-bundle-host]")).not_to_be_empty()
    expect(view.locator("#user-chip")).to_have_text("support-viewer · support")
    card = view.locator("article.card[data-server=local-files]")
    expect(card.locator("[data-last-error]")).to_have_attribute("data-last-error", "MCP_PROCESS_EXITED")
    # "The last 24 hours" of the bundle, three days ago: every failure it holds.
    expect(card.locator(".count")).to_have_attribute("data-failures", "2400")
    expect(view.locator("#doctor-panel")).to_have_count(0)
    expect(view.get_by_role("link", name="Admin")).to_have_count(0)
    view.get_by_role("button", name="Diagnostics for local-files").click()
    rows = view.locator("mcp-diagnostics-drawer li.row")
    rows.first.wait_for()
    assert rows.count() >= 10
    # Nothing in a bundle's view acts on the customer's servers: no Re-check in the drawer either.
    expect(view.locator("mcp-diagnostics-drawer .badge[data-state]")).to_be_visible()
    expect(view.locator("mcp-diagnostics-drawer .recheck-button")).to_be_hidden()
    # A bundle holds what it captured: the drawer says so, and neither streams nor polls.
    expect(view.locator("mcp-diagnostics-drawer .live")).to_have_attribute("data-live", "snapshot")
    expect(view.locator("mcp-diagnostics-drawer .live")).to_have_text("Snapshot: as the bundle captured it")
    assert [url for url in asked if "/diagnostics" in url], asked  # the drawer's listing was seen
    assert not [url for url in asked if "/diagnostics/stream" in url], asked
    screenshot(view, "open-bundle-view")

    # Closing it from the admin page ends the view.
    panel.get_by_role("button", name="Close it").click()
    page.locator("#bundle-drop").wait_for()
    gone = view.request.get(view.url.split("#")[0])
    assert gone.status == 404


def test_the_bundle_form_downloads_a_passphrase_encrypted_bundle(bundle_context: BrowserContext) -> None:
    """Encryption with a passphrase on the admin page's bundle form: the download is an age file that opens
    with it, and the CLI equivalent says --passphrase-file."""
    page = bundle_context.new_page()
    page.set_default_timeout(LOAD_MS)
    sign_in(page, "Ada — admin")
    page.get_by_role("link", name="Admin").click()
    form = page.get_by_role("form", name="Bundle scope")
    form.get_by_label("Encryption (age)").select_option("passphrase")
    form.get_by_role("textbox", name="Passphrase").fill(PASSPHRASE)
    expect(page.locator("#cli-command")).to_contain_text("--passphrase-file FILE")
    with page.expect_download() as info:
        form.get_by_role("button", name="Download bundle").click()
    download = info.value
    assert download.suggested_filename.endswith(".zip.age")
    plain = pyrage.passphrase.decrypt(Path(download.path()).read_bytes(), PASSPHRASE)
    assert zipfile.ZipFile(io.BytesIO(plain)).testzip() is None
    assert PASSPHRASE not in page.url
