"""A real app on loopback (SQLite, seeded through the real ingest endpoint) and Debian's Chromium."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.collector import CollectorSettings
from mcpdiag.emitters import new_event_id, new_trace_id
from tests.forking import faked, without_faketime
from tests.waiting import HTTP_PATIENCE

CHROMIUM = "/usr/bin/chromium"
# An assertion waits for the page as long as a loaded machine may need (it passes as soon as it holds);
# where a test must see something before a timer could bring it, it says so with its own, shorter wait.
expect.set_options(timeout=15_000)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ui"
SHARED_PREFIX = "abcd1234"


@dataclass
class Service:
    """The running app and what the tests need to talk to it directly."""

    url: str
    secret: str
    ingest_key: str
    seeded: dict[str, Any]

    def token(self, sub: str, **claims: Any) -> str:
        now = int(time.time())
        return jwt.encode(
            {"sub": sub, "iat": now, "exp": now + 3600, **claims}, self.secret, algorithm="HS256"
        )

    def api(self, path: str, sub: str, params: dict[str, Any] | None = None, **claims: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(sub, **claims)}"}
        response = httpx.get(self.url + path, params=params, headers=headers, timeout=HTTP_PATIENCE)
        response.raise_for_status()
        return response.json()


def _event(server: str, code: str, minutes_ago: float, user: str | None, **extra: Any) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server": server,
        "userId": user,
        "touchpoint": extra.pop("touchpoint", "lifecycle" if code == "MCP_CONNECTED" else "connect"),
        "code": code,
        "traceId": extra.pop("traceId", None) or new_trace_id(),
        "detail": extra.pop("detail", f"{code} observed by the host (support-only detail)"),
        "source": {"service": "chat-host", "host": "web-1", "version": "1.0.0"},
        **extra,
    }


def _seed_events() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events: list[dict[str, Any]] = []
    # alice on github: 70 events within 24 h (three pages with limit 50 after filters), some older than 1 h.
    for i in range(70):
        code = ("MCP_TIMEOUT", "MCP_TOOL_ERROR", "MCP_CONNECTED")[i % 3]
        extra = {"touchpoint": "tool_call", "tool": "search"} if code == "MCP_TOOL_ERROR" else {}
        events.append(_event("github", code, 5 + i * 15, "alice", **extra))
    events.append(_event("github", "MCP_PROXY_SSE_ISSUE", 2, None))  # server-wide, newest
    events.append(_event("github", "MCP_AUTH_REQUIRED", 1, "bob"))
    events.append(_event("weather", "MCP_CONNECTED", 30, "bob"))
    # A coalesced storm: one stored event for 40 occurrences between 19 and 10 minutes ago.
    storm = _event("weather", "MCP_RATE_LIMITED", 10, "bob", count=40)
    events.append(
        {**storm, "firstTs": _event("weather", "MCP_RATE_LIMITED", 19, "bob")["ts"], "lastTs": storm["ts"]}
    )
    events.append(_event("jira", "MCP_DNS_FAILURE", 20, "alice"))
    events.append(_event("payroll", "MCP_TLS_ERROR", 20, "carol"))
    # Two traces sharing an 8-character prefix: a lookup by that prefix is ambiguous.
    events.append(_event("jira", "MCP_TIMEOUT", 40, "alice", traceId=SHARED_PREFIX + "0" * 23 + "1"))
    events.append(_event("jira", "MCP_TIMEOUT", 41, "alice", traceId=SHARED_PREFIX + "0" * 23 + "2"))
    seeded = {"support_trace": events[0]["traceId"], "bob_auth": events[71]["traceId"]}
    return events, seeded


@contextmanager
def running_app(tmp: Path, **api: Any) -> Iterator[tuple[str, str, str]]:
    """The app in development mode on a SQLite file in `tmp`, on loopback: (url, JWT secret, ingest key).
    `api` overrides API settings (e.g. `doctor_allow`)."""
    secret, key = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=secret, dev_mode=True, **api),
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
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", secret, key
    finally:
        server.should_exit = True
        thread.join(30)


def ingest(url: str, key: str, events: list[dict[str, Any]]) -> None:
    """Send `events` through the real ingest endpoint; every one must be accepted."""
    answer = httpx.post(
        f"{url}/v1/events", json={"events": events}, headers={"X-API-Key": key}, timeout=HTTP_PATIENCE
    )
    assert answer.status_code == 202 and answer.json()["accepted"] == len(events), answer.text


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_app(tmp_path_factory.mktemp("ui-app")) as (url, secret, key):
        events, seeded = _seed_events()
        ingest(url, key, events)
        yield Service(url, secret, key, seeded)


def browser_env() -> dict[str, str]:
    """This process's environment without libfaketime: Chromium does not run under it (its zygote never
    answers), so under `faketime` the browser keeps the real clock and each context is set to ours."""
    return without_faketime()


@contextmanager
def _real_clock_children() -> Iterator[None]:
    """Processes started inside run on the real clock. Playwright's driver must: under libfaketime it set a
    context's clock to the real time whenever ours was behind it (`faketime '-1 year'`)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if faked(k)}
    try:
        yield
    finally:
        os.environ.update(saved)


def _on_our_clock(new_context: Callable[..., BrowserContext]) -> Callable[..., BrowserContext]:
    """Every context any test opens starts its page's Date at this process's "now" (the app's, faked or not)
    and runs on from there: a context on the real clock asks a faked app for the wrong hours."""

    def opened(*args: Any, **kwargs: Any) -> BrowserContext:
        context = new_context(*args, **kwargs)
        context.clock.set_system_time(datetime.now(UTC))
        return context

    return opened


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with _real_clock_children():
        playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=browser_env()
        )
        browser.new_context = _on_our_clock(browser.new_context)  # type: ignore[method-assign]
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def context(browser: Browser, service: Service) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=service.url,
        viewport={"width": 1280, "height": 860},
        permissions=["clipboard-read", "clipboard-write"],
        color_scheme="light",
    )
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page: Page, label: str) -> None:
    """Use the dev-mode sign-in screen like a person would."""
    page.goto("/ui/")
    page.get_by_role("button", name=label).click()
    page.locator("#user-chip").wait_for(state="visible")


def screenshot(page: Page, name: str) -> None:
    """Write a screenshot to the git-ignored artifacts folder, for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
