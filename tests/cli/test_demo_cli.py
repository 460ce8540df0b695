"""`mcpdiag demo` for a newcomer who wants to point their own host at it: the port, the ingest key (given,
from the environment, or generated) and the lines to paste, printed and working; `make demo PORT=`."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_serve import free_port, read_line_with

ROOT = Path(__file__).resolve().parents[2]


def _demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPDIAG_")}
    return {**env, "COLUMNS": "80", **extra}


class Demo:
    """A running `mcpdiag demo` and the banner it printed."""

    def __init__(self, process: subprocess.Popen[str], port: int, banner: str) -> None:
        self.process, self.base, self.banner = process, f"http://127.0.0.1:{port}", banner

    def snippet(self) -> str:
        """The Python lines the banner offers to paste."""
        lines = [line.strip() for line in self.banner.splitlines()]
        start = lines.index("from mcpdiag.emitters import Emitter, HttpSink")
        return "\n".join(lines[start : start + 2])


@pytest.fixture
def demo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    args, env = request.param(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpdiag.cli.app", "demo", "--port", str(port), "--no-trickle", *args],
        env=env,
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = read_line_with(process, "filled in", timeout=60)
        assert process.stdout is not None
        banner = [first]
        while "Ctrl-C to stop" not in banner[-1]:
            banner.append(process.stdout.readline())
        yield Demo(process, port, "".join(banner))
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def _given(key: str) -> Any:
    return lambda tmp: (["--ingest-key", key, "--data-dir", str(tmp / "data")], _demo_env(tmp))


def _from_env(key: str) -> Any:
    return lambda tmp: (["--data-dir", str(tmp / "data")], _demo_env(tmp, MCPDIAG_INGEST_KEYS=key))


GIVEN, FROM_ENV = secrets.token_hex(16), secrets.token_hex(16)


GENERATED_KEY = pytest.mark.parametrize(
    ("demo",),
    [(lambda tmp: (["--data-dir", str(tmp / "data")], _demo_env(tmp)),)],
    indirect=["demo"],
    ids=["generated"],
)
"""The demo with neither --ingest-key nor MCPDIAG_INGEST_KEYS: it generates a key."""


def _dev_token(base: str, user: str = "sam") -> str:
    request = urllib.request.Request(
        f"{base}/api/dev/token",
        data=json.dumps({"userId": user}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        token: str = json.loads(response.read())["token"]
    return token


def _alice_sees(base: str, server: str) -> list[dict[str, Any]]:
    token = _dev_token(base)
    request = urllib.request.Request(
        f"{base}/api/mcp/{server}/diagnostics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        items: list[dict[str, Any]] = json.loads(response.read())["items"]
    return items


@pytest.mark.parametrize(
    ("demo", "key", "source"),
    [
        (_given(GIVEN), GIVEN, "from --ingest-key"),
        (_from_env(FROM_ENV), FROM_ENV, "from MCPDIAG_INGEST_KEYS"),
    ],
    indirect=["demo"],
    ids=["--ingest-key", "MCPDIAG_INGEST_KEYS"],
)
def test_the_banner_gives_a_snippet_that_points_a_host_at_the_demo(demo: Demo, key: str, source: str) -> None:
    """The banner names the URL and the key (whole, on one line) and where the key comes from; the
    pasted emitter lines deliver a real event that the demo's UI then lists."""
    assert f"{demo.base}/ui/" in demo.banner and source in demo.banner
    assert re.search(rf"^\s*MCPDIAG_INGEST_KEY={key}$", demo.banner, re.M), demo.banner
    server = f"my-host-{secrets.token_hex(3)}"
    host = "\n".join(
        [
            demo.snippet(),
            f'emitter.emit("MCP_DNS_FAILURE", server={server!r}, touchpoint="connect")',
            "assert emitter.flush(10)",
            "emitter.close()",
        ]
    )
    subprocess.run([sys.executable, "-c", host], check=True, timeout=60, cwd=ROOT)
    deadline = time.monotonic() + 20
    while not (items := _alice_sees(demo.base, server)):
        assert time.monotonic() < deadline, "the pasted host's event never arrived"
        time.sleep(0.2)
    assert [item["code"] for item in items] == ["MCP_DNS_FAILURE"]


@GENERATED_KEY
def test_without_a_key_the_demo_generates_one_and_prints_it(demo: Demo) -> None:
    match = re.search(r"^\s*MCPDIAG_INGEST_KEY=(\S+)$", demo.banner, re.M)
    assert match and len(match[1]) >= 16 and "generated for this run" in demo.banner
    request = urllib.request.Request(
        f"{demo.base}/v1/events",
        data=json.dumps({"events": []}).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": match[1]},
    )
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code != 401, "the printed key is not accepted"


def _call(base: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@GENERATED_KEY
def test_re_check_of_the_demos_healthy_server_passes_and_keeps_it_connected(demo: Demo) -> None:
    """The demo's MCP servers run on loopback, which the doctor refuses by default: the demo lets its doctor
    reach them, or Re-check turned its healthy card into a misconfigured one (MCP_DOMAIN_NOT_ALLOWED)."""
    token = _dev_token(demo.base)
    cards = _call(demo.base, "/api/mcp/connection/status", token)["connectionStatus"]
    assert cards["github"]["state"] == "connected", cards["github"]
    address = cards["github"]["endpoint"]["address"]
    assert address.startswith("http://127.0.0.1:"), address
    result = _call(demo.base, "/api/mcp/doctor", token, {"url": address, "server": "github"})
    assert result["ok"] and result["code"] is None, result
    after = _call(demo.base, "/api/mcp/connection/status", token)["connectionStatus"]["github"]
    assert after["state"] == "connected", after


@pytest.mark.parametrize("key", ["short", "has space in it 0123456789", "a,b-0123456789abcdef"])
def test_a_key_that_cannot_be_redacted_safely_is_refused(tmp_path: Path, key: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mcpdiag.cli.app", "demo", "--port", str(free_port()), "--ingest-key", key],
        env=_demo_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--ingest-key" in result.stderr and "Traceback" not in result.stderr


def test_make_demo_passes_the_port_and_the_key() -> None:
    """`make demo PORT=8001 INGEST_KEY=...` runs the demo on that port with that key (checked with
    `make -n`: the recipe, not a second demo)."""
    key = secrets.token_hex(16)
    # Run from `make test`, the outer make's flags would add "Entering/Leaving directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo", "PORT=8001", f"INGEST_KEY={key}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=env,
    )
    command = result.stdout.strip().splitlines()[-1]
    assert command.endswith(f'mcpdiag demo --port 8001 --ingest-key "{key}"'), command
    plain = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=env,
    )
    assert plain.stdout.strip().splitlines()[-1].endswith("mcpdiag demo --port 8000")


def test_the_demos_doctor_reaches_loopback_only_when_the_demo_is_served_on_loopback() -> None:
    """Served to a network (`--host 0.0.0.0`), dev mode's open sign-in would let anyone there have the doctor
    probe this machine's ports: the allowance is for a loopback-only demo."""
    from mcpdiag.cli.demo.runner import _loopback

    assert all(map(_loopback, ["127.0.0.1", "127.1.2.3", "::1", "localhost"]))
    assert not any(map(_loopback, ["0.0.0.0", "::", "192.0.2.1", "mcp.example.invalid"]))
