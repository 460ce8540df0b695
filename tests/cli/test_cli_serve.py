"""The `mcpdiag` commands `serve`, `search` and `tail`: in-process (CliRunner) and as real subprocesses."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from mcpdiag.api.settings import ApiSettings, get_api_settings
from mcpdiag.bundle.settings import get_bundle_settings
from mcpdiag.cli.app import app, serve_warnings
from mcpdiag.cli.config_backup import setting_problem
from mcpdiag.cli.settings import get_serve_settings
from mcpdiag.collector import CollectorSettings, get_collector_settings
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import SQLiteEventStore
from mcpdiag.store.base import EventQuery
from tests.factories import make_event

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)
COMMANDS = ("serve", "demo", "search", "tail", "bundle", "version")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited early: {process.communicate()}"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    values = {
        "MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "MCPDIAG_INGEST_KEYS": "test-ingest-key-0123456789",
        "MCPDIAG_JWT_SECRET": "x" * 40,
        "MCPDIAG_SPOOL_DIR": str(tmp_path / "spool"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    get_collector_settings.cache_clear()
    get_api_settings.cache_clear()
    yield {**os.environ, **values}
    get_collector_settings.cache_clear()
    get_api_settings.cache_clear()


def seed(tmp_path: Path, events: list[DiagnosticEvent]) -> None:
    async def run() -> None:
        store = SQLiteEventStore(tmp_path / "events.db")
        await store.ensure_schema()
        await store.append(events)
        await store.close()

    asyncio.run(run())


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcpdiag.cli.app", *args]


def started(args: list[str], env: dict[str, str], cwd: Path, **more_env: str) -> subprocess.Popen[str]:
    """`mcpdiag ARGS` running as a user's shell starts it (`env` and `more_env`, in `cwd`), its output read
    as text; the caller stops it."""
    return subprocess.Popen(
        cli(*args),
        env={**env, **more_env},
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """`mcpdiag <command> --help` describes the command and exits 0."""
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_drains_ingest_and_exits_cleanly_on_a_signal(
    tmp_path: Path, env: dict[str, str], sig: signal.Signals
) -> None:
    """`serve` answers /readyz, stores what was ingested, and exits 0 on SIGINT or SIGTERM."""
    port = free_port()
    process = started(["serve", "--port", str(port)], env, tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        body = json.dumps({"events": [make_event(ts=NOW).model_dump(mode="json", by_alias=True)]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/events",
            data=body,
            headers={"Content-Type": "application/json", "X-API-Key": env["MCPDIAG_INGEST_KEYS"]},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["accepted"] == 1
        process.send_signal(sig)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode == 0, err
    assert f"serving on http://127.0.0.1:{port}" in out
    assert "mcpdiag: stopped" in out
    assert stored(tmp_path, "github") == 1


def stored(tmp_path: Path, server: str, db: str = "events.db") -> int:
    """How many events of `server` the store file `db` holds."""

    async def run() -> int:
        store = SQLiteEventStore(tmp_path / db)
        try:
            return len((await store.page(EventQuery(server=server, limit=200))).items)
        finally:
            await store.close()

    return asyncio.run(run())


def test_serve_refuses_invalid_settings_with_a_message(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JWT secret that is too short stops `serve` before it starts, naming the setting."""
    monkeypatch.setenv("MCPDIAG_JWT_SECRET", "short")
    result = runner.invoke(app, ["serve", "--port", str(free_port())])
    assert result.exit_code == 2
    assert "MCPDIAG_JWT_SECRET" in result.output


def test_serve_warns_about_what_will_not_work() -> None:
    """Without ingest keys or a token secret, `serve` says which endpoints will refuse everyone."""
    api, collector = ApiSettings(_env_file=None), CollectorSettings(_env_file=None)
    warnings = " ".join(serve_warnings(api, collector))
    assert "ingest is closed" in warnings
    assert "every /api request will get 401" in warnings
    dev = " ".join(serve_warnings(ApiSettings(_env_file=None, dev_mode=True), collector))
    assert "per-process key" in dev and "every /api request" not in dev


def test_search_prints_every_event_of_a_debug_id(tmp_path: Path, env: dict[str, str]) -> None:
    """`search` finds a trace by its full id or a prefix and shows its events with their Debug ID."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    seed(
        tmp_path,
        [
            make_event(
                ts=NOW - timedelta(minutes=2), code="MCP_OAUTH_STARTED", trace_id=trace, user_id="alice"
            ),
            make_event(
                ts=NOW - timedelta(minutes=1), code="MCP_OAUTH_TIMEOUT", trace_id=trace, user_id="alice"
            ),
            make_event(ts=NOW, code="MCP_TIMEOUT"),
        ],
    )
    for key in (trace, trace[:10]):
        result = runner.invoke(app, ["search", key], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "MCP_OAUTH_STARTED" in result.output and "MCP_OAUTH_TIMEOUT" in result.output
        assert "MCP_TIMEOUT " not in result.output
        assert f"2 event(s), Debug ID {trace}" in result.output


def test_search_explains_a_miss_an_ambiguous_prefix_and_a_bad_id(tmp_path: Path, env: dict[str, str]) -> None:
    """Not found and several traces under one prefix exit 1 with a message; a malformed id is a usage
    error (exit 2)."""
    first, second = "abcdef01" + "1" * 24, "abcdef01" + "2" * 24
    seed(tmp_path, [make_event(ts=NOW, trace_id=first), make_event(ts=NOW, trace_id=second)])
    missing = runner.invoke(app, ["search", "0123456789abcdef0123456789abcdef"])
    assert missing.exit_code == 1 and "no event with Debug ID" in missing.output
    ambiguous = runner.invoke(app, ["search", "abcdef01"], terminal_width=200)
    assert ambiguous.exit_code == 1
    assert "matches 2 Debug IDs" in ambiguous.output
    assert first[:12] in ambiguous.output and second[:12] in ambiguous.output
    bad = runner.invoke(app, ["search", "abc"])
    assert bad.exit_code == 2 and "at least 8" in bad.output


def test_search_and_tail_name_a_missing_store(tmp_path: Path, env: dict[str, str]) -> None:
    """Without a store file, `search` and `tail` say where they looked instead of creating one."""
    for args in (["search", "0123456789abcdef"], ["tail", "--server", "github"]):
        result = runner.invoke(app, args, terminal_width=200)
        assert result.exit_code == 1
        assert "no event store at" in result.output
    assert not (tmp_path / "events.db").exists()


def test_tail_refuses_an_unknown_severity(tmp_path: Path, env: dict[str, str]) -> None:
    """`tail --severity loud` is a usage error (exit 2) naming the valid levels."""
    seed(tmp_path, [make_event(ts=NOW)])
    result = runner.invoke(app, ["tail", "--server", "github", "--severity", "loud"])
    assert result.exit_code == 2
    assert "unknown severity" in result.output


def read_line_with(process: subprocess.Popen[str], text: str, timeout: float = 10.0) -> str:
    """The first line of the process's stdout containing `text`."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if text in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"{text!r} never printed")


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_port_0_serves_on_a_free_port_and_says_which(
    command: str, tmp_path: Path, env: dict[str, str]
) -> None:
    """Found by an adversarial review: `--port 0` ("a free one") printed `http://127.0.0.1:0`, and the demo
    sent its own diagnostics there, so its store stayed empty and the Debug ID it offered never resolved."""
    demo = ["--data-dir", str(tmp_path / "data"), "--no-trickle"] if command == "demo" else []
    process = started([command, "--port", "0", *demo], env, tmp_path)
    try:
        line = read_line_with(process, "http://127.0.0.1:", timeout=60)
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0].split()[0])
        assert port > 0, line
        wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        if command == "demo":
            read_line_with(process, "filled in", timeout=120)
            assert stored(tmp_path / "data", "github", db="mcpdiag.db") > 0
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode == 0


def test_tail_prints_the_last_events_then_follows_new_ones(tmp_path: Path, env: dict[str, str]) -> None:
    """`tail` shows the latest events oldest first, then an event appended later, and exits 0 on SIGINT."""
    seed(
        tmp_path,
        [
            make_event(ts=NOW - timedelta(minutes=3), code="MCP_DNS_FAILURE"),
            make_event(ts=NOW - timedelta(minutes=2), code="MCP_TLS_ERROR"),
            make_event(ts=NOW - timedelta(minutes=1), code="MCP_PROXY_SSE_ISSUE", server="jira"),
        ],
    )
    process = started(
        ["tail", "--server", "github", "--lines", "1", "--interval", "0.1"], env, tmp_path, COLUMNS="250"
    )
    try:
        first = read_line_with(process, "MCP_")
        assert "MCP_TLS_ERROR" in first
        late = make_event(ts=datetime.now(UTC), code="MCP_RATE_LIMITED", user_id="bob")
        seed(tmp_path, [late, make_event(ts=datetime.now(UTC), code="MCP_TIMEOUT", server="jira")])
        line = read_line_with(process, "MCP_")
        assert "MCP_RATE_LIMITED" in line and "bob" in line and late.trace_id in line
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode == 0, err
    assert "MCP_DNS_FAILURE" not in out and "jira" not in out


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_named_without_a_traceback(command: str, tmp_path: Path) -> None:
    """`serve` and `demo` on a port something listens on exit 1 with one line saying so."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = runner.invoke(
            app, [command, "--port", str(port), "--data-dir", str(tmp_path)][: 3 if command == "serve" else 5]
        )
    assert result.exit_code == 1
    assert f"127.0.0.1:{port} is already in use" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["serve", "demo"])
@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_a_port_out_of_range_is_a_bad_argument(command: str, port: str, tmp_path: Path) -> None:
    """Found by two passes: `--port 99999` ended in a traceback (`OverflowError` from bind)."""
    result = runner.invoke(
        app, [command, "--port", port, "--data-dir", str(tmp_path)][: 3 if command == "serve" else 5]
    )
    assert result.exit_code == 2, result.output
    assert "--port" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("MCPDIAG_RETENTION_DAYS", "1e9", "less than or equal to 3650"),
        ("MCPDIAG_RETENTION_ERROR_DAYS", "inf", "finite number"),
        ("MCPDIAG_JWKS_URL", "notaurl", "should match pattern"),
        ("MCPDIAG_JWKS_URL", "ftp://keys.invalid/jwks", "should match pattern"),
        ("MCPDIAG_BUNDLE_OPEN_MAX_MB", "inf", "finite number"),
        ("MCPDIAG_IMPORT_MAX_MB", "1e400", "finite number"),
    ],
)
def test_a_setting_out_of_range_is_named_by_its_variable(
    variable: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an adversarial pass: a retention of 1e9 days was a traceback at start (an expiry overflowed
    a date), 3,000,000 a 500 on every ingest, and a JWKS URL that is none the JWKS client's traceback."""
    monkeypatch.setenv(variable, value)
    caches = (get_api_settings, get_collector_settings, get_bundle_settings, get_serve_settings)
    for cached in caches:  # each is read once per process: an earlier test's would be served instead
        cached.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--port", "0"])
    finally:
        for cached in caches:
            cached.cache_clear()
    assert result.exit_code == 2, result.output
    assert f"{variable}: " in result.output and says in result.output
    assert "Traceback" not in result.output and "errors.pydantic.dev" not in result.output


def _float_settings() -> list[tuple[type[BaseSettings], str]]:
    """(settings class, environment variable) of every float setting `serve` reads."""
    from mcpdiag.api.settings import ApiSettings
    from mcpdiag.bundle.settings import BundleSettings
    from mcpdiag.cli.settings import ServeSettings
    from mcpdiag.collector.settings import CollectorSettings

    found: list[tuple[type[BaseSettings], str]] = []
    for model in (ApiSettings, BundleSettings, ServeSettings, CollectorSettings):
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            if field.annotation is float or field.annotation == float | None:
                found.append((model, f"{prefix}{name}".upper()))
    return found


FLOAT_SETTINGS = _float_settings()


def test_every_float_setting_is_found() -> None:
    named = {variable for _, variable in FLOAT_SETTINGS}
    assert {"MCPDIAG_IMPORT_MAX_MB", "MCPDIAG_BUNDLE_OPEN_MAX_MB", "MCPDIAG_SPOOL_MAX_MB"} <= named


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
def test_a_float_setting_that_is_no_finite_number_is_refused_naming_its_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an adversarial review: MCPDIAG_BUNDLE_OPEN_MAX_MB=inf (or 1e400) passed `gt=0`, and `serve`
    died at start with an OverflowError's traceback; an infinite or NaN timeout, bound or budget is no
    setting either."""
    for model, variable in FLOAT_SETTINGS:
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValidationError) as refused:
            model(_env_file=None)
        monkeypatch.delenv(variable)
        assert setting_problem(refused.value).startswith(f"{variable}: "), variable
        assert "finite number" in str(refused.value), variable


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_an_address_this_machine_lacks_is_named_as_such(host: str) -> None:
    """Not "already in use", which sent the user hunting for another process."""
    result = runner.invoke(app, ["serve", "--host", host, "--port", "8000"])
    assert result.exit_code == 1
    assert f"cannot listen on {host}:8000" in result.output and "already in use" not in result.output
    assert "Traceback" not in result.output


BAD_STORE = "postgres://db.invalid/x"
STORE_URL_CASES = [
    ["search", "0123456789abcdef", "--store", BAD_STORE],
    ["tail", "--server", "github", "--store", BAD_STORE],
    ["bundle", "--since", "1h", "--store", BAD_STORE],
    ["serve", "--port", "0", "--store", BAD_STORE],
    ["doctor", "http://127.0.0.1:9/mcp", "--store", BAD_STORE],
    ["export", "--out", "y.gz", "--store", BAD_STORE],
    ["import", "x.gz", "--store", BAD_STORE],
    ["migrate", "--from", BAD_STORE, "--to", "sqlite:///copy.db"],
    ["migrate", "--from", "sqlite:///nowhere.db", "--to", BAD_STORE],
    ["search", "0123456789abcdef", "--store", "sqlite://relative.db"],
]
"""Every command that takes a store URL, given one no backend takes (`import`'s file exists)."""


def _store_url_options(command: Any, path: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    """(command, option) for every option of the real click tree whose help says it takes a store URL."""
    found = {
        (" ".join(path), param.opts[0])
        for param in command.params
        if param.opts and "store url" in (getattr(param, "help", None) or "").lower()
    }
    for name, sub in getattr(command, "commands", {}).items():
        found |= _store_url_options(sub, (*path, name))
    return found


@pytest.mark.parametrize("args", STORE_URL_CASES, ids=lambda args: " ".join(args[:3]))
def test_a_store_url_no_backend_takes_is_a_bad_argument_exit_2(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the README says of a bad argument: exit 2, before any work, the error naming what store URLs look
    like (export, import, migrate and the doctor exited 1; the doctor ran first, then did not store)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.gz").write_bytes(b"")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "sqlite:///" in result.output and "Traceback" not in result.output
    assert "tcp" not in result.output, "the doctor ran before its arguments were checked"


def test_every_store_url_option_is_among_those_cases() -> None:
    """A new command with a store URL is checked above, or this fails."""
    options = _store_url_options(typer.main.get_command(app))
    assert len(options) >= 8, options
    covered = {
        (args[0], option)
        for args in STORE_URL_CASES
        for option, value in itertools.pairwise(args)
        if value == BAD_STORE
    }
    assert options == covered


@pytest.mark.parametrize(
    ("setting", "fixed"),
    [
        ("MCPDIAG_JWT_SECRET", {}),
        ("MCPDIAG_JWT_ACCEPTED_SECRETS", {"MCPDIAG_JWT_SECRET": "x" * 40}),
        ("MCPDIAG_BUNDLE_HMAC_KEY", {}),
    ],
)
def test_serve_refuses_a_bad_secret_setting_without_printing_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, setting: str, fixed: dict[str, str]
) -> None:
    """A refused secret (too short) is named, never shown: pydantic's errors print the input they refuse, and
    `serve` printed a short JWT secret whole (an ingest key: `test_settings`)."""
    import secrets

    value = "short-" + secrets.token_hex(4)
    for name, fixed_value in fixed.items():
        monkeypatch.setenv(name, fixed_value)
    monkeypatch.setenv(setting, value)

    get_bundle_settings.cache_clear()  # read once per process: earlier tests read it without this setting
    try:
        result = runner.invoke(app, ["serve", "--port", str(free_port())])
    finally:
        get_bundle_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert setting.removeprefix("MCPDIAG_").lower() in result.output.lower(), result.output
    assert value.removeprefix("short-")[:8] not in result.output, result.output


def test_every_settings_class_hides_what_it_refuses() -> None:
    """The class-wide guard of the test above: every settings class of the product (any could hold a secret
    one day) keeps the refused input out of its errors."""
    import importlib
    import pkgutil

    from pydantic_settings import BaseSettings

    import mcpdiag

    for module in pkgutil.walk_packages(mcpdiag.__path__, "mcpdiag."):
        importlib.import_module(module.name)

    def below(cls: type[BaseSettings]) -> list[type[BaseSettings]]:
        return [c for sub in cls.__subclasses__() for c in (sub, *below(sub))]

    found = [c for c in below(BaseSettings) if c.__module__.startswith("mcpdiag.")]
    assert len(found) >= 5, found
    assert [c.__name__ for c in found if not c.model_config.get("hide_input_in_errors")] == []
