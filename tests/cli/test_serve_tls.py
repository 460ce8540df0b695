"""`mcpdiag serve` with its own TLS certificate (MCPDIAG_TLS_CERT_FILE / MCPDIAG_TLS_KEY_FILE): a real
subprocess on loopback, a certificate from a throwaway CA, and the bounds of `httpguard` over TLS too."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from mcpdiag.cli.app import app
from mcpdiag.cli.settings import ServeSettings
from tests.cli.test_cli_serve import cli, free_port

runner = CliRunner()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    return ca, certfile, keyfile


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCPDIAG_")},
        "MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "MCPDIAG_SPOOL_DIR": str(tmp_path / "spool"),
        "MCPDIAG_INGEST_KEYS": "test-ingest-key-0123456789",
        "MCPDIAG_JWT_SECRET": "x" * 40,
        "MCPDIAG_HEADER_TIMEOUT_S": "1",
    }


@pytest.fixture
def tls_server(
    tmp_path: Path, tls_files: tuple[trustme.CA, Path, Path], base_env: dict[str, str]
) -> Iterator[tuple[int, ssl.SSLContext, subprocess.Popen[str]]]:
    ca, certfile, keyfile = tls_files
    port = free_port()
    env = {**base_env, "MCPDIAG_TLS_CERT_FILE": str(certfile), "MCPDIAG_TLS_KEY_FILE": str(keyfile)}
    process = subprocess.Popen(
        cli("serve", "--port", str(port)), env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    context = ssl.create_default_context()
    ca.configure_trust(context)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "the TLS server did not start"
                time.sleep(0.1)
        yield port, context, process
    finally:
        process.terminate()
        process.wait(15)


def test_serve_answers_https_with_the_configured_certificate(
    tls_server: tuple[int, ssl.SSLContext, subprocess.Popen[str]],
) -> None:
    """With a certificate and key configured, `serve` speaks TLS only, and says https on startup."""
    port, context, process = tls_server
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=context, timeout=5) as answer:
        assert answer.status == 200
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
    process.terminate()
    out, _ = process.communicate(timeout=15)
    assert f"serving on https://127.0.0.1:{port}" in out
    assert process.returncode == 0


def test_the_header_timeout_holds_over_tls(
    tls_server: tuple[int, ssl.SSLContext, subprocess.Popen[str]],
) -> None:
    """A TLS client that completes the handshake and then sends nothing gets the 408 and is closed."""
    port, context, _ = tls_server
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_half_a_tls_configuration_is_refused_by_name(
    tls_files: tuple[trustme.CA, Path, Path], missing: str
) -> None:
    """A certificate without its key (or the other way round) is a startup error naming the variable."""
    _, certfile, keyfile = tls_files
    given = {"tls_key_file": keyfile} if missing == "cert" else {"tls_cert_file": certfile}
    with pytest.raises(ValueError, match=f"MCPDIAG_TLS_{missing.upper()}_FILE"):
        ServeSettings(_env_file=None, **given)


def test_an_unreadable_tls_file_stops_serve_with_its_path(
    tmp_path: Path, tls_files: tuple[trustme.CA, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key file that does not exist stops `serve` before it binds, naming the file, exit 2."""
    _, certfile, _ = tls_files
    monkeypatch.setenv("MCPDIAG_TLS_CERT_FILE", str(certfile))
    monkeypatch.setenv("MCPDIAG_TLS_KEY_FILE", str(tmp_path / "nowhere.pem"))
    monkeypatch.setenv("MCPDIAG_STORE_URL", f"sqlite:///{tmp_path / 'events.db'}")
    from mcpdiag.cli.settings import get_serve_settings

    get_serve_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--port", str(free_port())])
    finally:
        get_serve_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "nowhere.pem" in result.output and "MCPDIAG_TLS_KEY_FILE" in result.output
