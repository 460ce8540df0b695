"""docs/codes/<CODE>.md: one guide per catalog code and one code per guide, each saying what the catalog
says, with the same sections, links that lead somewhere, and commands that run — every `sh runnable`
block of every guide is run against a real `mcpdiag serve` on loopback holding an event of that code."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from mcpdiag.api.guide_html import render_guide, slug
from mcpdiag.emitters import CATALOG, new_event_id, new_trace_id
from mcpdiag.ui.guidebook import GUIDES_DIR, guide_codes, guide_text
from tests.docs.rundocs import (
    BIN,
    CODES,
    RUNBOOK,
    free_port,
    missing_tools,
    non_loopback,
    run,
    runnable,
    shell_env,
)

SECTIONS = ["What it means", "Common causes", "How to confirm", "How to fix", "When to escalate"]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def header(code: str) -> str:
    """The line under a guide's title: the catalog's severity, retryability, action and message."""
    info = CATALOG[code]
    retry = "retryable" if info.retryable else "not retryable"
    return (
        f"> **{info.severity.value}** · {retry} · action `{info.action.value}` · "
        f'the user reads: "{info.render("github")}"'
    )


def test_every_catalog_code_has_a_guide_and_every_guide_a_code() -> None:
    assert set(guide_codes()) == set(CATALOG)
    assert {p.stem for p in CODES.glob("*")} == set(CATALOG)  # nothing else lives in docs/codes/


def test_checkouts_read_the_guides_from_docs_codes() -> None:
    """In a source checkout the package reads docs/codes/ itself: there is no second copy to drift."""
    assert GUIDES_DIR.resolve() == CODES.resolve()


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_a_guide_says_what_the_catalog_says_in_the_same_sections(code: str) -> None:
    text = guide_text(code)
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == f"# {code}: {CATALOG[code].title}"
    assert lines[2] == header(code), "the header line must match the catalog (severity, retryable, action)"
    found = [line[3:] for line in lines if line.startswith("## ")]
    assert found == SECTIONS
    causes = text.split("## Common causes", 1)[1].split("\n## ", 1)[0]
    assert causes.count("\n### ") >= 1
    assert runnable(CODES / f"{code}.md"), "How to confirm needs a command that runs"


def _anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, as GitHub and the product spell them."""
    return {slug(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_link_of_a_guide_leads_somewhere(code: str) -> None:
    """Links to other guides name a guide, links to the runbook name one of its headings."""
    path = CODES / f"{code}.md"
    for target in _LINK.findall(path.read_text()):
        if target.startswith(("https://", "http://")):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve()
        assert resolved.is_file(), (code, target)
        if anchor:
            assert anchor in _anchors(resolved), (code, target)


def test_every_runbook_link_leads_somewhere() -> None:
    for target in _LINK.findall(RUNBOOK.read_text()):
        file, _, anchor = target.partition("#")
        resolved = (RUNBOOK.parent / file).resolve() if file else RUNBOOK
        assert resolved.exists(), target
        if anchor:
            assert anchor in _anchors(resolved), target


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_a_guide_renders_with_every_guide_link_kept(code: str) -> None:
    """In the product, links to other guides stay links (to the guide view); nothing renders as an image."""
    rendered = render_guide(code, guide_text(code) or "", CATALOG.keys())
    linked = re.findall(r"\]\(((?:\./)?MCP_[A-Z_]+\.md)[)#]", guide_text(code) or "")
    assert rendered.html.count("data-guide=") == len(linked)
    assert "<img" not in rendered.html and "<script" not in rendered.html


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_runnable_guide_commands_touch_only_loopback(code: str) -> None:
    for block in runnable(CODES / f"{code}.md"):
        assert not non_loopback(block.code), (block.where, non_loopback(block.code))


# -- running every guide's commands against a real service ------------------------------------------------

# What the failure zoo's events of each code look like (tests/e2e): enough for the guides' jq filters.
SHAPES: dict[str, dict[str, Any]] = {
    "MCP_AUTH_REQUIRED": {"httpStatus": 401, "attrs": {"signal": "http 401"}},
    "MCP_OAUTH_TIMEOUT": {"touchpoint": "oauth", "attrs": {"signal": "oauth timeout"}},
    "MCP_DNS_FAILURE": {"attrs": {"signal": "dns", "errno": -2}},
    "MCP_CONNECTION_REFUSED": {"attrs": {"signal": "refused", "errno": 111}},
    "MCP_PROXY_SSE_ISSUE": {"httpStatus": 200, "attrs": {"content_type": "text/html; charset=utf-8"}},
    "MCP_INSPECTION_FAILED": {"touchpoint": "inspection", "attrs": {"signal": "invalid message"}},
    "MCP_TLS_ERROR": {"attrs": {"signal": "tls", "tls_verify_code": 20}},
    "MCP_RATE_LIMITED": {"httpStatus": 429, "attrs": {"retry_after": "7"}},
    "MCP_SERVER_ERROR": {"httpStatus": 503, "attrs": {"jsonrpc_code": -32000}},
    "MCP_SESSION_EXPIRED": {"touchpoint": "transport", "httpStatus": 404},
    "MCP_PROCESS_EXITED": {"transport": "stdio", "attrs": {"stderr_error": "ModuleNotFoundError"}},
    "MCP_STDIO_SPAWN_FAILED": {"transport": "stdio", "attrs": {"errno": 2}},
    "MCP_TOOL_ERROR": {"touchpoint": "tool_call", "tool": "search"},
    "MCP_TIMEOUT": {"touchpoint": "tool_call", "tool": "search", "durationMs": 60000},
    "MCP_OAUTH_STARTED": {"touchpoint": "oauth"},
    "MCP_OAUTH_COMPLETED": {"touchpoint": "oauth", "durationMs": 9000},
}
LIFECYCLE = {"MCP_CONNECTED", "MCP_DISCONNECTED"}


def seeded_event(code: str, minutes_ago: int) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    shape = SHAPES.get(code, {})
    return {
        "id": new_event_id(int(ts.timestamp() * 1000)),
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server": "github",
        "userId": "alice",
        "touchpoint": shape.get("touchpoint", "lifecycle" if code in LIFECYCLE else "connect"),
        "code": code,
        "traceId": new_trace_id(),
        "transport": shape.get("transport", "streamable-http"),
        "detail": f"{code} by {shape.get('attrs', {}).get('signal', 'test')} (touchpoint=connect)\n  …",
        **{k: v for k, v in shape.items() if k not in ("touchpoint", "transport")},
    }


@dataclass
class Deployment:
    """A running `mcpdiag serve` in its own directory, with one event of every code under `traces`."""

    folder: Path
    port: int
    support_token: str
    traces: dict[str, str]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("guides") / "srv"
    folder.mkdir()
    key, secret = "ik_" + secrets.token_hex(16), secrets.token_urlsafe(48)
    (folder / ".env").write_text(
        "MCPDIAG_STORE_URL=sqlite:///./data/mcpdiag.db\nMCPDIAG_SPOOL_DIR=./data/spool\n"
        f"MCPDIAG_INGEST_KEYS={key}\nMCPDIAG_JWT_SECRET={secret}\n"
    )
    port = free_port()
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "mcpdiag"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder, env=shell_env(folder), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mcpdiag serve did not start"
                time.sleep(0.1)
        events = [seeded_event(code, i + 1) for i, code in enumerate(sorted(CATALOG))]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/events",
            data=json.dumps({"events": events}).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": key},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["accepted"] == len(events)
        now = int(time.time())
        token = jwt.encode(
            {"sub": "sam", "roles": ["support"], "iat": now, "exp": now + 3600}, secret, algorithm="HS256"
        )
        yield Deployment(folder, port, token, {e["code"]: e["traceId"] for e in events})
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_the_commands_of_a_guide_run(code: str, deployment: Deployment, tmp_path: Path) -> None:
    """With DEBUG_ID, SERVER and TOKEN set as the guide says, its runnable commands succeed (curl -f, jq -e:
    a wrong field or an empty answer fails)."""
    if missing := missing_tools():
        pytest.fail(f"the guides' commands need {', '.join(missing)} (`make test` installs them)")
    env = shell_env(tmp_path, {"DEBUG_ID": deployment.traces[code], "SERVER": "github",
                               "TOKEN": deployment.support_token})  # fmt: skip
    outcome = run(
        runnable(CODES / f"{code}.md"), deployment.folder, env, {8000: deployment.port}, timeout=120
    )
    assert outcome.returncode == 0, (
        f"{outcome.failed.where if outcome.failed else code}: exit {outcome.returncode}\n"
        f"{outcome.stderr[-2000:]}\n{outcome.stdout[-2000:]}"
    )
    assert deployment.traces[code] in outcome.stdout  # `mcpdiag search` found the event


def test_the_wheel_ships_the_guides_byte_for_byte_and_reads_them(tmp_path: Path) -> None:
    """A built wheel carries docs/codes/*.md as mcpdiag/ui/guides/ (hatch force-include: one source, no copy
    to keep in sync), and an installed package reads them from there."""
    build = ["wheel", str(CODES.parents[1]), "--no-deps", "--no-build-isolation", "--quiet"]
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", *build, "--wheel-dir", str(tmp_path / "dist")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("mcpdiag-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {
            n.rsplit("/", 1)[1]: zf.read(n) for n in zf.namelist() if n.startswith("mcpdiag/ui/guides/")
        }
        zf.extractall(tmp_path / "site")
    assert shipped == {p.name: p.read_bytes() for p in CODES.glob("*.md")}
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); from mcpdiag.ui import guidebook; "
        "print(guidebook.GUIDES_DIR); print(len(guidebook.guide_codes()))"
    )
    # -S: no site-packages, so only the unpacked wheel provides mcpdiag (not this checkout).
    out = subprocess.run(
        [str(BIN / "python"), "-S", "-c", probe, str(tmp_path / "site")],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert out == [str(tmp_path / "site" / "mcpdiag" / "ui" / "guides"), str(len(CATALOG))]
