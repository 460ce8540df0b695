"""analysis.md's findings solve the case: a crashed process outranks many tool warnings; the decisive stderr
line, the proxy's status and content type are quoted (as Markdown text); the onset says what changed; each
finding lists what to check next and keeps its guide citation."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

from mcpdiag.bundle.findings import CHECKS, duration
from mcpdiag.emitters import CATALOG
from mcpdiag.store import SQLiteEventStore
from tests.api.support import T0
from tests.bundle.test_bundle import export
from tests.factories import make_event

CRASH = (
    "MCP_PROCESS_EXITED by connection_closed (touchpoint=connect, transport=stdio)\n"
    "  McpError: Connection closed\n"
    "the server process exited before initialize\n"
    "stderr (tail):\n"
    "INFO starting files server\n"
    "fatal: missing API_KEY\n"
    "exiting"
)
PROXY = (
    "MCP_PROXY_SSE_ISSUE by http_status (touchpoint=connect, transport=streamable-http, proxy)\n"
    "http: POST https://docs.invalid/mcp -> 200; content-type: text/html; charset=utf-8; via proxy\n"
    "body: <html><title>Sign in to Corp Proxy</title>"
)


def source(version: str) -> dict[str, str]:
    return {"service": "chat-host", "host": "web-1", "version": version}


async def analysis(store: SQLiteEventStore, tmp_path: Path) -> str:
    result = await export(store, tmp_path / "out")
    with zipfile.ZipFile(result.path) as zf:
        return zf.read("analysis.md").decode()


async def test_a_crashed_process_outranks_more_numerous_tool_errors(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    start = T0 + timedelta(minutes=10)
    events = [
        make_event(server="github", code="MCP_TOOL_ERROR", severity="warning", touchpoint="tool_call",
                   tool="search", user_id="alice", ts=start + timedelta(seconds=10 * i))
        for i in range(200)
    ]  # fmt: skip
    events.append(make_event(server="local-files", code="MCP_CONNECTED", ts=T0, source=source("1.0.0")))
    events += [
        make_event(server="local-files", code="MCP_PROCESS_EXITED", severity="error", detail=CRASH,
                   user_id=f"user{i % 3}", ts=start + timedelta(minutes=i), source=source("1.1.0"))
        for i in range(6)
    ]  # fmt: skip
    await store.append(events)
    text = await analysis(store, tmp_path)
    assert "Most severe: MCP_PROCESS_EXITED on 'local-files' since" in text
    crash = text.index("**1. MCP_PROCESS_EXITED on 'local-files'**")
    assert crash < text.index("**2. MCP_TOOL_ERROR on 'github'**")
    finding = text[crash : text.index("**2.")]
    assert "- Impact: error; 6 failures from" in finding and "(5 min); 3 users affected" in finding
    assert "not recovered by the end of the window" in finding
    assert "- Decisive detail: “fatal: missing API\\_KEY”" not in finding  # md_text keeps API_KEY as is
    assert "- Decisive detail: “fatal: missing API_KEY” (in 6 of the 6 events read)." in finding
    assert "the last success before it was MCP_CONNECTED at" in finding and "(10 min earlier)" in finding
    assert "the host's version changed from 1.0.0 to 1.1.0" in finding
    assert f"- Check next: (1) {CHECKS['MCP_PROCESS_EXITED'][0]}" in finding
    assert "- Guide: `mcpdiag explain MCP_PROCESS_EXITED` (docs/codes/MCP_PROCESS_EXITED.md)." in finding
    assert "- Likely cause: the stdio server process crashed" in finding
    # The per-server breakdown follows the same order.
    assert text.index("## local-files") < text.index("## github")


async def test_the_proxy_answer_is_quoted_and_a_recovery_noted(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    events = [
        make_event(server="docs", code="MCP_PROXY_SSE_ISSUE", detail=PROXY, http_status=200, user_id=None,
                   ts=T0 + timedelta(minutes=i))
        for i in range(4)
    ]  # fmt: skip
    events += [
        make_event(server="docs", code="MCP_CONNECTED", user_id=u, ts=T0 - timedelta(minutes=5))
        for u in "abcde"
    ]
    events.append(make_event(server="docs", code="MCP_CONNECTED", user_id="a", ts=T0 + timedelta(minutes=30)))
    await store.append(events)
    text = await analysis(store, tmp_path)
    assert (
        "- Decisive detail: “POST https://docs.invalid/mcp -&gt; 200; content-type: text/html; "
        "charset=utf-8; via proxy (body: &lt;html&gt;&lt;title&gt;Sign in to Corp Proxy&lt;/title&gt;)”"
    ) in text
    assert "server-wide: every user of 'docs' (5 seen)" in text
    assert "recovered: MCP_CONNECTED at" in text
    assert "the server's answers turned to HTTP 200" in text
    assert "<html>" not in text


def test_every_failure_code_has_checks_and_durations_read_well() -> None:
    assert set(CATALOG) == set(CHECKS)  # any code is a failure at warning or worse
    assert [duration(s) for s in (5, 600, 7800, 3600, 90000, 86400 * 2)] == [
        "5 s", "10 min", "2 h 10 min", "1 h", "1 d 1 h", "2 d"
    ]  # fmt: skip
