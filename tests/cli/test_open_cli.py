"""`mcpdiag open FILE.age` as a real process: it serves the bundle's events through the same API the server
answered with (real HTTP, compared response for response), as a read-only support viewer, and leaves no
copy behind when stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyrage import x25519

from mcpdiag.api import create_app
from mcpdiag.bundle import BundleScope
from mcpdiag.bundle.crypt import Encryption
from mcpdiag.store import SQLiteEventStore
from tests.api.support import NOW, Tokens, api_settings, collector_settings
from tests.bundle.test_bundle import export
from tests.collector.support import asgi_client
from tests.factories import FakeClock, make_event
from tests.waiting import HTTP_PATIENCE


def command() -> list[str]:
    script = Path(sys.executable).with_name("mcpdiag")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcpdiag.cli.app"]


def read_url(proc: subprocess.Popen[str], seen: list[str]) -> str:
    """The `open:` line's URL (the process prints it once it serves)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 120  # a bound on a hang, not a speed check
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("open: "):
            return line.split(" ", 1)[1].strip()
    raise AssertionError(f"mcpdiag open printed no URL: {''.join(seen)}")


PATHS = [
    "/api/mcp/connection/status",
    "/api/mcp/jira/diagnostics?limit=200",
    "/api/mcp/github/summary?window=24h",
    "/api/mcp/weather/problems",
    "/api/overview",
]
CODES = ("MCP_TIMEOUT", "MCP_CONNECTED", "MCP_TLS_ERROR")


async def customer(tmp_path: Path) -> tuple[Path, Path, dict[str, Any], dict[str, str]]:
    """A customer's encrypted bundle, its key file, what their server answered support for `PATHS` at the
    same moment, and that support token (of the customer's server, not the viewer's)."""
    store = SQLiteEventStore(tmp_path / "customer.db", clock=FakeClock(NOW))
    await store.ensure_schema()
    events = [
        make_event(server=("github", "jira", "weather")[i % 3], code=CODES[i % 5 % 3], user_id=f"u{i % 6}",
                   ts=NOW - timedelta(minutes=1 + i))
        for i in range(600)
    ]  # fmt: skip
    await store.append(events)
    identity = x25519.Identity.generate()
    sealed = Encryption.to_recipients([str(identity.to_public())])
    bundle = (
        await export(store, tmp_path / "out", BundleScope.parse(since="24h", now=NOW), encryption=sealed)
    ).path
    key = tmp_path / "key.txt"
    key.write_text(f"{identity}\n")

    # What the customer's own server answered a support user, for the same moment.
    tokens = Tokens()
    app = create_app(api_settings(tokens), collector_settings(tmp_path), store=store)
    support = tokens.header(tokens.mint("sam", roles=["support"]))
    expected: dict[str, Any] = {}
    async with asgi_client(app) as client:
        for path in PATHS:
            answer = await client.get(path, headers=support)
            assert answer.status_code == 200, answer.text
            expected[path] = answer.json()
    await store.close()
    return bundle, key, expected, support


def opened(tmp_path: Path, bundle: Path, key: Path) -> tuple[Path, subprocess.Popen[str]]:
    """`mcpdiag open` of `bundle` running, its temporary files in the returned folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [*command(), "open", str(bundle), "-i", str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200"},
    )
    return tmp, proc


def test_open_serves_the_bundle_through_the_same_api(tmp_path: Path) -> None:
    bundle, key, expected, support = asyncio.run(customer(tmp_path))

    tmp, proc = opened(tmp_path, bundle, key)
    seen: list[str] = []
    try:
        url = read_url(proc, seen)
        base, token = url.split("/ui/#token=")
        assert any(line.startswith(f"bundle: {bundle.name} — ") and "600 events" in line for line in seen), (
            seen
        )
        viewer = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=HTTP_PATIENCE) as http:
            for path in PATHS:
                answer = http.get(path, headers=viewer)
                assert answer.status_code == 200, (path, answer.text)
                body, want = answer.json(), expected[path]
                body.pop("nextCursor", None), want.pop("nextCursor", None)
                assert body == want, path
            me = http.get("/api/me", headers=viewer).json()
            assert (me["role"], me["bundle"]["events"], me["bundle"]["loaded"]) == ("support", 600, 600)
            assert http.get("/ui/").status_code == 200
            for method, path in (("POST", "/v1/events"), ("POST", "/api/mcp/doctor"), ("PATCH", "/api/me")):
                refused = http.request(method, path, headers=viewer, json={"events": []})
                assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only"
            assert http.get("/api/admin/audit", headers=viewer).status_code == 404
            assert http.get("/api/me").status_code == 401
            assert http.get("/api/me", headers=support).status_code == 401  # another deployment's token
            forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
            assert http.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + out
    assert list(tmp.iterdir()) == []  # the decrypted copy and the loaded store are gone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.zip"], "no such file"),
        (["bundle.zip.age"], "encrypted to age recipients: give an identity file"),
    ],
)
def test_open_refuses_what_it_cannot_open(tmp_path: Path, args: list[str], message: str) -> None:
    sealed = tmp_path / "bundle.zip.age"
    sealed.write_bytes(b"age-encryption.org/v1\n-> X25519 abc\nxyz\n--- abc\n")
    proc = subprocess.run(
        [*command(), "open", *[str(tmp_path / a) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert proc.returncode in (1, 2) and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["hangup", "term"])
def test_open_deletes_the_decrypted_copy_on_any_stop_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """A closed terminal (SIGHUP) left the decrypted bundle and its loaded store in the temp folder (found
    by an adversarial pass); every stop signal now ends the viewer as Ctrl-C does."""
    bundle, key, _, _ = asyncio.run(customer(tmp_path))
    tmp, proc = opened(tmp_path, bundle, key)
    seen: list[str] = []
    try:
        read_url(proc, seen)
        assert list(tmp.iterdir()), "the viewer holds its decrypted copy while it runs"
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + out
    assert list(tmp.iterdir()) == []
