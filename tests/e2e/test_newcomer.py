"""A newcomer's first run: clone the repository, start the README's demo, sign in, see every demo failure.

The clone runs with the already-installed interpreter and its dependencies (no new virtualenv), and
PYTHONPATH set to the clone's component folders so the clone's code is what runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("emitters", "collector", "api", "ui")
READY_WITHIN_S = 60.0
EVENTS_WITHIN_S = 30.0
STOP_WITHIN_S = 15.0
WHOLE_RUN_S = 85.0
"""The whole run (ready, filled, checked, stopped) fits in this, whatever each step's own bound."""
EXPECTED = {
    "github": ("MCP_CONNECTED", "MCP_TOOL_ERROR"),
    "docs-search": ("MCP_PROXY_SSE_ISSUE",),
    "notion": ("MCP_OAUTH_TIMEOUT",),
    "local-files": ("MCP_PROCESS_EXITED",),
    "weather": ("MCP_TIMEOUT",),
    "jira": ("MCP_DNS_FAILURE",),
}
"""What Alice (the demo's end user) must find on each of her servers."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, str, Any]:
    """Status, content type and body (JSON when it is JSON) of one request."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw, status, kind = response.read(), response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        raw, status, kind = exc.read(), exc.code, exc.headers.get("content-type", "")
    return status, kind, json.loads(raw) if "json" in kind else raw.decode()


def wait_until(check: Any, timeout: float, what: str, process: subprocess.Popen[str]) -> float:
    """Poll `check()` until it is truthy; the seconds it took."""
    started = time.monotonic()
    last: Any = None
    while time.monotonic() - started < timeout:
        assert process.poll() is None, f"the demo exited with {process.returncode} while waiting for {what}"
        try:
            last = check()
            if last is True:
                return time.monotonic() - started
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s (last: {last})")


def missing_codes(base: str, token: str) -> Any:
    """True once every expected code is on its server for the caller, else what is missing."""
    missing = {}
    for server, codes in EXPECTED.items():
        for code in codes:
            status, _, page = call(f"{base}/api/mcp/{server}/diagnostics?code={code}&limit=1", token=token)
            if status != 200 or not page["items"]:
                missing.setdefault(server, []).append(code)
    return missing or True


def checkout_env(checkout: Path) -> dict[str, str]:
    """The environment the demo runs in: the clone's code first on the path, nothing from MCPDIAG_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPDIAG_")}
    env["PYTHONPATH"] = os.pathsep.join(str(checkout / c) for c in COMPONENTS)
    env["COLUMNS"] = "200"
    return env


def run_newcomer(checkout: Path, data_dir: Path) -> dict[str, float]:
    """Run the demo in `checkout` and check what a newcomer sees; the measured durations."""
    env = checkout_env(checkout)
    where = subprocess.run(
        [sys.executable, "-c", "import mcpdiag.cli.demo as d; print(d.__file__)"],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert where.returncode == 0, f"the checkout has no demo (is it committed?): {where.stderr[-300:]}"
    assert Path(where.stdout.strip()).is_relative_to(checkout), where.stdout
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()

    def budget(step: float) -> float:
        return max(1.0, min(step, started + WHOLE_RUN_S - STOP_WITHIN_S - time.monotonic()))

    process = subprocess.Popen(
        [sys.executable, "-m", "mcpdiag.cli.app", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=checkout,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: call(f"{base}/readyz")[0] == 200, budget(READY_WITHIN_S), "/readyz", process)
        ready = time.monotonic() - started
        status, _, answer = call(f"{base}/api/dev/token", body={"userId": "alice"})
        assert status == 200, answer
        alice = answer["token"]
        wait_until(lambda: missing_codes(base, alice), budget(EVENTS_WITHIN_S), "every demo failure", process)
        filled = time.monotonic() - started

        status, _, cards = call(f"{base}/api/mcp/connection/status", token=alice)
        assert status == 200
        states = cards["connectionStatus"]
        assert set(states) == set(EXPECTED)
        assert states["github"]["connectionState"] == "connected"
        assert states["notion"]["requiresOAuth"] is True
        for server in set(EXPECTED) - {"github"}:
            assert states[server]["connectionState"] == "error", (server, states[server])
            assert states[server]["lastError"]["code"] == EXPECTED[server][-1]

        _, _, answer = call(f"{base}/api/dev/token", body={"userId": "bob"})
        _, _, bobs = call(f"{base}/api/mcp/connection/status", token=answer["token"])
        assert set(bobs["connectionStatus"]) == {"github", "weather"}

        status, kind, page = call(f"{base}/ui/")
        assert status == 200 and kind.startswith("text/html") and "<html" in page.lower()

        process.send_signal(signal.SIGINT)
        stop_started = time.monotonic()
        out, err = process.communicate(timeout=STOP_WITHIN_S)
        stopped = time.monotonic() - stop_started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0, err
    assert f"{base}/ui/" in out and "Sign in as: Alice" in out and "Debug ID" in out
    return {"ready_s": ready, "filled_s": filled, "stop_s": stopped}


def test_a_fresh_clone_runs_the_demo(tmp_path: Path) -> None:
    """The README's demo, run from a fresh clone, is ready, shows every demo failure, and stops cleanly."""
    checkout = tmp_path / "mcpdiag"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True, timeout=60)
    timings = run_newcomer(checkout, tmp_path / "data")
    print(f"newcomer demo: {timings}")
    assert timings["ready_s"] < READY_WITHIN_S
