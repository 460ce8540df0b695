"""The drawer is live: an event posted to `/v1/events` reaches an open drawer through the server's event
stream (not a poll); a cut stream resumes with `Last-Event-ID`, losing and repeating nothing; a stream the
API refuses falls back to polling. The stream parser follows the event-stream format, chunk boundaries and
all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from mcpdiag.emitters import new_event_id, new_trace_id
from tests.ui.conftest import ingest, running_app, screenshot, sign_in
from tests.waiting import until

DRAWER = "mcp-diagnostics-drawer"
JS = "document.querySelector('mcp-diagnostics-drawer')"


class Live:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def post(self, code: str = "MCP_TIMEOUT", user: str | None = "alice", **extra: Any) -> dict[str, Any]:
        """One event for github through the real ingest endpoint, stamped now; returns it."""
        now = datetime.now(UTC)
        event = {
            "id": new_event_id(int(now.timestamp() * 1000)),
            "ts": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "server": "github",
            "userId": user,
            "touchpoint": extra.pop("touchpoint", "connect"),
            "code": code,
            "traceId": new_trace_id(),
            **extra,
        }
        ingest(self.url, self.key, [event])
        return event


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_app(tmp_path_factory.mktemp("ui-live")) as (url, _secret, key):
        ingest(url, key, [_old(datetime.now(UTC) - timedelta(minutes=30), "MCP_CONNECTED")])
        yield Live(url, key)


def _old(ts: datetime, code: str) -> dict[str, Any]:
    return {
        "id": new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server": "github",
        "userId": "alice",
        "touchpoint": "lifecycle",
        "code": code,
        "traceId": new_trace_id(),
    }


@pytest.fixture
def live_page(browser: Browser, live: Live) -> Iterator[tuple[Page, BrowserContext]]:
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page, context
    context.close()


def _open(page: Page) -> None:
    sign_in(page, "Alice — end user")
    page.get_by_role("button", name="Diagnostics for github").click()
    expect(page.locator(DRAWER)).to_have_attribute("open", "")
    expect(page.locator(DRAWER).locator(".live")).to_have_attribute("data-live", "live")


def _rows(page: Page) -> list[str]:
    return page.locator(f"{DRAWER} li.row").evaluate_all("rows => rows.map(r => r.dataset.id)")


def test_an_event_posted_to_ingest_reaches_an_open_drawer_through_the_stream(
    live_page: tuple[Page, BrowserContext], live: Live
) -> None:
    """No listing is fetched again: the row, the problem and the chart come from the stream's message (the
    problems and chart are asked for again once it arrived)."""
    page, _ = live_page
    _open(page)
    chart = page.locator(f"{DRAWER} figure.chart")
    chart.wait_for()
    before = int(chart.get_attribute("data-total") or 0)
    listings: list[str] = []
    page.on("request", lambda r: listings.append(r.url) if "/diagnostics?" in r.url else None)
    event = live.post("MCP_DNS_FAILURE")
    row = page.locator(f'{DRAWER} li.row[data-id="{event["id"]}"]')
    expect(row).to_be_visible()
    expect(row).to_have_class("row sev-error fresh")
    assert listings == [], listings  # delivered by the stream, not by a poll of the listing
    assert _rows(page)[0] == event["id"]
    problem = page.locator(f'{DRAWER} li.problem[data-code="MCP_DNS_FAILURE"]')
    expect(problem.locator(".count")).to_have_attribute("data-count", "1")  # no other DNS failure here
    expect(problem.locator(".debug-id")).to_have_text(event["traceId"])
    expect(page.locator(f"{DRAWER} .badge")).to_have_attribute("data-state", "misconfigured")
    expect(chart).to_have_attribute("data-total", str(before + 1))
    screenshot(page, "live-drawer-new-event")
    # Someone else's event never reaches Alice's drawer; a server-wide one does.
    other = live.post("MCP_TIMEOUT", user="bob")
    wide = live.post("MCP_SERVER_ERROR", user=None)
    expect(page.locator(f'{DRAWER} li.row[data-id="{wide["id"]}"]')).to_be_visible()
    assert other["id"] not in _rows(page)


def test_a_cut_stream_resumes_from_its_last_event_id(
    live_page: tuple[Page, BrowserContext], live: Live
) -> None:
    """The stream is cut; an event posted while it is down arrives after the reconnect, exactly once, and
    the reconnecting request names the last event it had (`Last-Event-ID`)."""
    page, _ = live_page
    _open(page)
    first = live.post("MCP_TIMEOUT")
    expect(page.locator(f'{DRAWER} li.row[data-id="{first["id"]}"]')).to_be_visible()
    last_id = page.evaluate(f"{JS}.stream.lastId")
    assert last_id and last_id.endswith("." + first["id"])
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if r.url.endswith("/diagnostics/stream") else None)
    page.evaluate(f"{JS}.stream.controller.abort()")  # the network cuts it
    gap = live.post("MCP_RATE_LIMITED")
    expect(page.locator(f'{DRAWER} li.row[data-id="{gap["id"]}"]')).to_have_count(1)
    expect(page.locator(f"{DRAWER} .live")).to_have_attribute("data-live", "live")
    assert streams and streams[0].headers.get("last-event-id") == last_id
    after = live.post("MCP_TIMEOUT")
    expect(page.locator(f'{DRAWER} li.row[data-id="{after["id"]}"]')).to_be_visible()
    ids = _rows(page)
    assert len(ids) == len(set(ids)) and ids.index(after["id"]) < ids.index(gap["id"]) < ids.index(
        first["id"]
    )


def test_a_refused_stream_falls_back_to_polling(live_page: tuple[Page, BrowserContext], live: Live) -> None:
    """The API answers the stream 503 (every slot taken): the drawer says it polls, and a new event shows up
    at the next poll."""
    page, context = live_page
    page.clock.install(time=datetime.now(UTC))  # fake timers from our "now", faked or not

    def refuse(route: Route) -> None:
        body = json.dumps({"error": {"code": "streams_full", "message": "no more streams"}})
        route.fulfill(status=503, body=body, content_type="application/json")

    context.route("**/diagnostics/stream", refuse)
    sign_in(page, "Alice — end user")
    page.get_by_role("button", name="Diagnostics for github").click()
    expect(page.locator(f"{DRAWER} .live")).to_have_attribute("data-live", "polling")
    expect(page.locator(f"{DRAWER} .live")).to_have_text("Updating every 15 s")
    event = live.post("MCP_SERVER_ERROR")
    page.clock.fast_forward(16_000)
    expect(page.locator(f'{DRAWER} li.row[data-id="{event["id"]}"]')).to_be_visible()


class Held:
    """Holds the answers to matching requests: each is fetched from the server at once (so it describes the
    store as it was then) and handed to the page only at `release()`; afterwards requests pass."""

    def __init__(self) -> None:
        self.held: list[tuple[Route, Any]] = []
        self.released = False

    def __call__(self, route: Route) -> None:
        if self.released:
            route.continue_()
        else:
            self.held.append((route, route.fetch()))

    def wait(self, page: Page) -> None:
        until(lambda: bool(self.held), "a request is held", pause=lambda s: page.wait_for_timeout(s * 1000))

    def release(self) -> None:
        self.released = True
        for route, response in self.held:
            route.fulfill(response=response)


def test_a_poll_due_while_the_first_listing_loads_is_not_lost(
    live_page: tuple[Page, BrowserContext], live: Live
) -> None:
    """Polling (the stream refused); the poll falls due while the first listing is still on its way, and
    that listing was read before the event was stored: the event still arrives, without another poll."""
    page, context = live_page
    page.clock.install(time=datetime.now(UTC))
    context.route("**/diagnostics/stream", lambda route: route.fulfill(status=503, body="{}"))
    held = Held()
    context.route("**/diagnostics?*", held)
    sign_in(page, "Alice — end user")
    page.get_by_role("button", name="Diagnostics for github").click()
    expect(page.locator(f"{DRAWER} .live")).to_have_attribute("data-live", "polling")
    held.wait(page)
    event = live.post("MCP_SERVER_ERROR")
    page.clock.fast_forward(16_000)  # the poll, while the listing is held
    held.release()
    # Within the next poll's 15 s (the page's clock runs on from the fast-forward): this poll brought it.
    expect(page.locator(f'{DRAWER} li.row[data-id="{event["id"]}"]')).to_be_visible(timeout=10_000)


def test_a_streamed_event_while_the_first_listing_loads_is_not_lost(
    live_page: tuple[Page, BrowserContext], live: Live
) -> None:
    """The stream is live and delivers an event while the first listing (read before that event was
    stored) is still on its way: the event is in the drawer once the listing lands, exactly once."""
    page, context = live_page
    page.clock.install(time=datetime.now(UTC))  # no poll can rescue it
    held = Held()
    context.route("**/diagnostics?*", held)
    sign_in(page, "Alice — end user")
    page.get_by_role("button", name="Diagnostics for github").click()
    expect(page.locator(f"{DRAWER} .live")).to_have_attribute("data-live", "live")
    held.wait(page)
    event = live.post("MCP_RATE_LIMITED")
    page.wait_for_function(f"{JS}.stream.lastId && {JS}.stream.lastId.endsWith('.{event['id']}')")
    held.release()
    row = page.locator(f'{DRAWER} li.row[data-id="{event["id"]}"]')
    expect(row).to_be_visible()
    ids = _rows(page)
    assert len(ids) == len(set(ids))


CHUNKS = [
    ": heartbeat\r\n\r\n",
    "event: diagnostic\nid: 1.a\nda",
    'ta: {"id": "a",\ndata:  "x": 1}\n\n',
    "retry: 5000\n\nevent: diagnostic\r",
    "\nid: bad\0id\ndata\n\n",
    "data: plain\n\nevent: lonely\n\nevent: other\ndata: y\n\n",
    "data: cut at the end\r",
]


def test_the_stream_parser_reads_the_event_stream_format(live_page: tuple[Page, BrowserContext]) -> None:
    """CRLF, CR and LF line ends, a field split across chunks, multi-line data, comments, `retry:`, an `id`
    holding NUL (ignored), a field without a colon, messages of other types."""
    page, _ = live_page
    page.goto("/ui/")
    messages = page.evaluate(
        """async (chunks) => {
          const { EventStreamParser } = await import('/ui/live.js');
          const out = [];
          const parser = new EventStreamParser((m) => out.push(m));
          for (const chunk of chunks) parser.push(chunk);
          return out;
        }""",
        CHUNKS,
    )
    assert messages == [
        {"comment": " heartbeat"},
        {"event": "diagnostic", "data": '{"id": "a",\n "x": 1}', "id": "1.a"},
        {"retry": 5000},
        {"event": "diagnostic", "data": "", "id": None},
        {"event": "message", "data": "plain", "id": None},
        {"event": "other", "data": "y", "id": None},
    ]
