"""The `mcpdiag` CLI: `bundle` in-process (CliRunner) and as a real subprocess, and `version`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.cli.app import app
from mcpdiag.collector import get_collector_settings
from mcpdiag.emitters import format_ts
from mcpdiag.store import SQLiteEventStore
from tests.bundle.test_bundle import Sentinels, assert_no_sentinel, members

# Real time: the CLI's store filters out expired events against the wall clock.
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
T0 = NOW - timedelta(hours=2)
WINDOW = ["--from", format_ts(NOW - timedelta(hours=6)), "--to", format_ts(NOW)]
runner = CliRunner()


def _clear_settings() -> None:
    get_collector_settings.cache_clear()
    try:
        from mcpdiag.api.settings import get_api_settings

        get_api_settings.cache_clear()
    except (ImportError, AttributeError):
        pass


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sentinels, dict[str, str]]]:
    s = Sentinels()
    values = {
        "MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "MCPDIAG_KNOWN_SECRETS": s.known,
        "MCPDIAG_INGEST_KEYS": s.ingest,
        "MCPDIAG_JWT_SECRET": s.jwt_secret,
        "MCPDIAG_OAUTH_CLIENT_SECRET": s.env_secret,
        "MCPDIAG_DB_PASSWORD": s.db_password,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    _clear_settings()
    yield s, values
    _clear_settings()


def _seed(tmp_path: Path, s: Sentinels | None) -> None:
    """A store file with the sentinel events two hours ago (or none); the CLI runs its own event loop."""

    async def seed() -> None:
        store = SQLiteEventStore(tmp_path / "events.db")
        await store.ensure_schema()
        events = s.events() if s else []
        await store.append([e.model_copy(update={"ts": T0 + (e.ts - events[0].ts)}) for e in events])
        await store.close()

    asyncio.run(seed())


def test_cli_bundle_is_sanitized_and_matches_the_exporter(
    tmp_path: Path, env: tuple[Sentinels, dict[str, str]]
) -> None:
    """Sentinels never reach a CLI bundle, and it holds the same events as export_bundle for that scope."""
    s, _ = env
    _seed(tmp_path, s)
    out = tmp_path / "cli"
    out.mkdir()
    result = runner.invoke(app, ["bundle", *WINDOW, "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "events: 4" in result.output and "security notice" in result.output
    (path,) = out.glob("mcpdiag-support-*.zip")
    cli_files = members(path)
    assert_no_sentinel(cli_files, s)

    api_out = tmp_path / "api"
    api_out.mkdir()
    settings = get_collector_settings()

    async def export() -> Path:
        store = SQLiteEventStore(tmp_path / "events.db")
        result = await export_bundle(
            store,
            BundleScope.parse(from_=WINDOW[1], to=WINDOW[3]),
            out_dir=api_out,
            settings_snapshot={"collector": dict(settings)},
            known_secrets=settings.redacted_secrets,
            app_version="x",
        )
        await store.close()
        return result.path

    api_files = members(asyncio.run(export()))
    events = sorted(n for n in cli_files if n.startswith("events/"))
    assert events == sorted(n for n in api_files if n.startswith("events/")) and events
    for name in events:
        assert cli_files[name] == api_files[name]


def test_cli_empty_scope_succeeds(tmp_path: Path, env: tuple[Sentinels, dict[str, str]]) -> None:
    """A store with no events in the window still gives a bundle (exit 0) that says so."""
    _seed(tmp_path, None)
    result = runner.invoke(app, ["bundle", "--since", "1h"])
    assert result.exit_code == 0, result.output
    assert "no events matched" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output-dir", "/nonexistent/dir"], "not writable"),
        (["--store", "sqlite:////nonexistent/events.db"], "no event store"),
    ],
)
def test_cli_failures_exit_1_with_a_message(
    tmp_path: Path, env: tuple[Sentinels, dict[str, str]], args: list[str], message: str
) -> None:
    _seed(tmp_path, None)
    result = runner.invoke(app, ["bundle", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_cli_store_unreachable_exits_1_within_seconds(env: tuple[Sentinels, dict[str, str]]) -> None:
    """A MongoDB URL nobody answers: exit 1 with a message once server selection gives up (5 s)."""
    result = runner.invoke(app, ["bundle", "--store", "mongodb://127.0.0.1:1/mcpdiag"])
    assert result.exit_code == 1
    assert "unreachable" in result.output


def test_cli_as_a_real_process(tmp_path: Path, env: tuple[Sentinels, dict[str, str]]) -> None:
    """`python -m mcpdiag.cli.app bundle` in a subprocess writes a clean bundle and exits 0."""
    s, values = env
    _seed(tmp_path, s)
    out = tmp_path / "proc"
    out.mkdir()
    script = Path(sys.executable).with_name("mcpdiag")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mcpdiag.cli.app"]
    proc = subprocess.run(
        [*cmd, "bundle", *WINDOW, "-o", str(out), "--no-detail"],
        env={**os.environ, **values},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("*.zip")
    assert str(path) in proc.stdout.replace("\n", "")
    files = members(path)
    assert_no_sentinel(files, s)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.startswith("mcpdiag ")
