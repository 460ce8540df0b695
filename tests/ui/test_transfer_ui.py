"""The admin page's Export and Import panels in headless Chromium, on an app of their own (imports change its
store): the size estimate and a download, a dropped file's dry-run preview, the import and its summary, and a
file with a bad line that cannot be imported."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import gzip
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.collector import CollectorSettings
from mcpdiag.store import SQLiteEventStore
from mcpdiag.store.transfer import ExportSelection, plan_export, write_export
from tests.factories import FakeClock, make_event
from tests.ui.conftest import Service, screenshot, sign_in
from tests.waiting import HTTP_PATIENCE

JOB_MS = 30_000
"""How long an assertion waits for an import job (it runs in the app's process on a shared machine)."""


@pytest.fixture(scope="module")
def transfer_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("ui-transfer")
    secret, key = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=secret, dev_mode=True),
        CollectorSettings(_env_file=None, store_url=f"sqlite:///{tmp / 'events.db'}", spool_dir=tmp / "spool",
                          ingest_keys=frozenset({key}), batch_interval_ms=5),
    )  # fmt: skip
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    events = [make_event(server="github", ts=datetime.now(UTC)).to_wire() for _ in range(12)]
    answer = httpx.post(
        f"{url}/v1/events", json={"events": events}, headers={"X-API-Key": key}, timeout=HTTP_PATIENCE
    )
    assert answer.status_code == 202, answer.text
    try:
        yield Service(url, secret, key, {})
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def transfer_page(browser: Browser, transfer_service: Service) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=transfer_service.url, viewport={"width": 1280, "height": 900}
    )
    context.clock.set_system_time(datetime.now(UTC))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def export_bytes(tmp_path: Path, server: str, count: int, *, corrupt_line: int | None = None) -> bytes:
    """An export of `count` events of `server` made by the engine (line `corrupt_line` broken)."""

    async def build() -> Path:
        store = SQLiteEventStore(tmp_path / f"{server}.db", clock=FakeClock(datetime.now(UTC)))
        await store.ensure_schema()
        await store.append([make_event(server=server, ts=datetime.now(UTC)) for _ in range(count)])
        path = tmp_path / f"{server}.ndjson.gz"
        await write_export(store, await plan_export(store, ExportSelection()), path)
        await store.close()
        return path

    # Playwright's sync API keeps an event loop on this thread: the store runs on a loop of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        data = pool.submit(asyncio.run, build()).result().read_bytes()
    if corrupt_line is None:
        return data
    lines = gzip.decompress(data).decode().splitlines()
    event = json.loads(lines[corrupt_line - 1])
    event["traceId"] = "not-a-trace"
    lines[corrupt_line - 1] = json.dumps(event)
    return gzip.compress(("\n".join(lines) + "\n").encode())


def drop(page: Page, data: bytes, name: str = "events.ndjson.gz") -> None:
    """Drop a file on the drop zone the way a browser does: a `drop` event carrying a DataTransfer."""
    transfer = page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "application/gzip" }));
            return dt;
        }""",
        [base64.b64encode(data).decode(), name],
    )
    zone = page.locator("#drop-zone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})


def open_admin(page: Page) -> None:
    sign_in(page, "Ada — admin")
    page.get_by_role("link", name="Admin").click()
    page.locator("#transfer").wait_for()


def test_export_shows_an_estimate_and_downloads_the_file(
    transfer_page: Page, transfer_service: Service
) -> None:
    page = transfer_page
    open_admin(page)
    expect(page.locator("#export-estimate")).to_contain_text("About 12 events of 1 server(s)", timeout=JOB_MS)
    form = page.get_by_role("form", name="Export events")
    expect(form.get_by_label("Servers").locator("option")).to_have_text(["github"])
    with page.expect_download() as info:
        form.get_by_role("button", name="Download export").click()
    download = info.value
    assert download.suggested_filename.startswith("mcpdiag-events-") and download.suggested_filename.endswith(
        ".ndjson.gz"
    )
    lines = gzip.decompress(Path(download.path()).read_bytes()).decode().splitlines()
    assert json.loads(lines[0])["counts"]["events"] == 12 and len(lines) == 14
    expect(page.locator("[data-downloaded]")).to_contain_text("Downloaded mcpdiag-events-")


def test_a_dropped_file_is_previewed_by_a_dry_run_then_imported(
    transfer_page: Page, transfer_service: Service, tmp_path: Path
) -> None:
    page = transfer_page
    open_admin(page)
    drop(page, export_bytes(tmp_path, "imported-from-ui", 5))
    preview = page.get_by_role("region", name="Dry run preview")
    expect(preview.locator("[data-count=lines]")).to_have_text("5", timeout=JOB_MS)
    expect(preview.locator("[data-count=inserted]")).to_have_text("5")
    expect(preview.locator("[data-count=present]")).to_have_text("0")
    expect(preview.locator("table")).to_contain_text("imported-from-ui")
    expect(page.locator("#dry-run-summary")).to_have_text(
        "Dry run: would import 5 events; nothing was written"
    )
    status = transfer_service.api("/api/mcp/connection/status", "ada", roles=["admin"])
    assert "imported-from-ui" not in status["connectionStatus"]  # the dry run wrote nothing
    screenshot(page, "admin-import-preview")

    page.get_by_role("button", name="Import 5 events").click()
    expect(page.locator("#import-summary")).to_have_text("Imported 5 events", timeout=JOB_MS)
    status = transfer_service.api("/api/mcp/connection/status", "ada", roles=["admin"])
    assert "imported-from-ui" in status["connectionStatus"]

    drop(page, _same(tmp_path))  # the same file again
    expect(page.locator("[data-count=present]")).to_have_text("5", timeout=JOB_MS)
    expect(page.locator("#dry-run-summary")).to_have_text(
        "Dry run: would import 0 events, 5 skipped: already present; nothing was written"
    )


def _same(tmp_path: Path) -> bytes:
    return (tmp_path / "imported-from-ui.ndjson.gz").read_bytes()


def test_a_file_with_a_bad_line_names_it_and_cannot_be_imported(transfer_page: Page, tmp_path: Path) -> None:
    page = transfer_page
    open_admin(page)
    drop(page, export_bytes(tmp_path, "broken", 4, corrupt_line=3))
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("1 bad line(s)", timeout=JOB_MS)
    expect(problems).to_contain_text("line 3 traceId:")
    expect(page.get_by_role("button", name="Import 3 events")).to_be_disabled()
    expect(page.locator("#dry-run-summary")).to_contain_text("the import would be refused")


def test_a_file_that_is_no_export_says_so(transfer_page: Page) -> None:
    page = transfer_page
    open_admin(page)
    drop(page, b"id,ts,server\n1,2,3\n", "events.csv")
    expect(page.locator("#import-error")).to_contain_text("not a readable gzip file", timeout=JOB_MS)
