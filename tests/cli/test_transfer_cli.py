"""`mcpdiag export`, `import` and `migrate` (CliRunner, and once as a real process): round trip, idempotence,
dry run, a bad line named, the audit trail, and the mistakes people make."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcpdiag.cli.app import app
from mcpdiag.collector import get_collector_settings
from mcpdiag.store import EventQuery, SQLiteEventStore
from tests.factories import FakeClock
from tests.store.transfer_support import varied_events

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory with a source store of 60 events (relative to the real now: the CLI's clock)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCPDIAG_STORE_URL", f"sqlite:///{tmp_path / 'source.db'}")
    get_collector_settings.cache_clear()

    async def seed() -> None:
        store = SQLiteEventStore(tmp_path / "source.db")
        await store.ensure_schema()
        await store.append(varied_events(FakeClock(datetime.now(UTC))))
        await store.close()

    asyncio.run(seed())
    yield tmp_path
    get_collector_settings.cache_clear()


def listing(path: Path) -> list[dict[str, object]]:
    """Every event of a SQLite store, server by server, newest first."""

    async def read() -> list[dict[str, object]]:
        store = SQLiteEventStore(path)
        try:
            return [
                doc
                for server in await store.list_servers()
                async for doc in store.iter(EventQuery(server=server))
            ]
        finally:
            await store.close()

    return asyncio.run(read())


def audit_actions(path: Path) -> list[tuple[str, str, int]]:
    async def read() -> list[tuple[str, str, int]]:
        store = SQLiteEventStore(path)
        try:
            page = await store.audit_page(limit=50)
            return [(str(r["action"]), str(r["actor"]), int(r["resultCount"])) for r in page.items]
        finally:
            await store.close()

    return asyncio.run(read())


def test_export_then_import_gives_the_same_events_and_again_skips_all(workdir: Path) -> None:
    exported = runner.invoke(app, ["export", "--out", "events.ndjson.gz"])
    assert exported.exit_code == 0, exported.output
    assert "Exported 60 events of 3 server(s) to events.ndjson.gz" in exported.output
    target = f"sqlite:///{workdir / 'target.db'}"
    first = runner.invoke(app, ["import", "events.ndjson.gz", "--store", target])
    assert first.exit_code == 0, first.output
    assert first.output.strip().endswith("Imported 60 events")
    assert listing(workdir / "target.db") == listing(workdir / "source.db")
    again = runner.invoke(app, ["import", "events.ndjson.gz", "--store", target])
    assert again.output.strip().endswith("Imported 0 events, 60 skipped: already present")
    assert listing(workdir / "target.db") == listing(workdir / "source.db")
    user = os.environ.get("USER") or __import__("getpass").getuser()
    assert audit_actions(workdir / "target.db") == [
        ("events_import", f"cli:{user}", 0),
        ("events_import", f"cli:{user}", 60),
    ]
    assert audit_actions(workdir / "source.db") == [("events_export", f"cli:{user}", 60)]


def test_export_filters_by_server_severity_and_time(workdir: Path) -> None:
    result = runner.invoke(
        app, ["export", "-o", "jira.gz", "--server", "jira", "--severity", "error", "--since", "2h"]
    )
    assert result.exit_code == 0, result.output
    lines = gzip.decompress((workdir / "jira.gz").read_bytes()).decode().splitlines()
    events = [json.loads(line) for line in lines[1:-1]]
    assert (
        events and {e["server"] for e in events} == {"jira"} and {e["severity"] for e in events} == {"error"}
    )
    assert json.loads(lines[0])["filters"] == {"servers": ["jira"], "userId": None, "severity": "error"}


def test_a_dry_run_previews_per_server_and_writes_nothing(workdir: Path) -> None:
    runner.invoke(app, ["export", "--out", "x.gz"])
    result = runner.invoke(
        app, ["import", "x.gz", "--dry-run", "--store", f"sqlite:///{workdir / 'target.db'}"]
    )
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "github" in result.output and "past retention" in result.output
    assert "Dry run: would import 60 events; nothing was written" in result.output
    assert listing(workdir / "target.db") == []


def test_a_bad_line_is_named_and_nothing_is_imported(workdir: Path) -> None:
    runner.invoke(app, ["export", "--out", "x.gz"])
    lines = gzip.decompress((workdir / "x.gz").read_bytes()).decode().splitlines()
    event = json.loads(lines[4])
    event["traceId"] = "nope"
    lines[4] = json.dumps(event)
    (workdir / "bad.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    target = f"sqlite:///{workdir / 'target.db'}"
    result = runner.invoke(app, ["import", "bad.gz", "--store", target])
    assert result.exit_code == 1
    assert "line 5: traceId:" in result.output and "nothing was imported" in result.output
    assert listing(workdir / "target.db") == []
    dry = runner.invoke(app, ["import", "bad.gz", "--dry-run", "--store", target])
    assert dry.exit_code == 1 and "line 5" in dry.output and "the import would be refused" in dry.output


def test_migrate_copies_one_store_into_another(workdir: Path) -> None:
    target = f"sqlite:///{workdir / 'migrated.db'}"
    result = runner.invoke(app, ["migrate", "--from", f"sqlite:///{workdir / 'source.db'}", "--to", target])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("Imported 60 events")
    assert listing(workdir / "migrated.db") == listing(workdir / "source.db")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["export", "--out", "exists.gz"], "exists; pass --force"),
        (["export", "--out", "y.gz", "--store", "sqlite:///nowhere.db"], "no event store at nowhere.db"),
        (["export", "--out", "y.gz", "--since", "yesterday"], "since: expected a duration"),
        (["export", "--out", "y.gz", "--severity", "fatal"], "severity: expected one of"),
        (["import", "missing.gz"], "no file at missing.gz"),
        (["import", "exists.gz"], "not a readable gzip file"),
        (["import", "x.gz", "--conflict", "merge"], "--conflict: expected skip or update"),
        (["import", "x.gz", "--store", "postgres://db/x"], "unsupported store URL scheme"),
        (["migrate", "--from", "sqlite:///a.db", "--to", "sqlite:///a.db"], "name the same store"),
    ],
)
def test_mistakes_get_one_clear_line(workdir: Path, args: list[str], words: str) -> None:
    (workdir / "exists.gz").write_text("not an export")
    runner.invoke(app, ["export", "--out", "x.gz"])
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2)
    assert words in result.output
    assert "Traceback" not in result.output


def test_import_runs_as_a_real_process(workdir: Path) -> None:
    runner.invoke(app, ["export", "--out", "x.gz"])
    env = {**os.environ, "MCPDIAG_STORE_URL": f"sqlite:///{workdir / 'proc.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", "from mcpdiag.cli import main; main()", "import", "x.gz"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("Imported 60 events")
    assert len(listing(workdir / "proc.db")) == 60


def test_text_from_a_file_is_printed_as_text_never_as_markup(workdir: Path) -> None:
    """Server names, field names and host names come from the file: Rich must not read them as markup."""
    from tests.factories import make_event

    async def seed() -> None:
        store = SQLiteEventStore(workdir / "marked.db")
        await store.ensure_schema()
        await store.append([make_event(server="[/]srv[bold]", ts=datetime.now(UTC)) for _ in range(3)])
        await store.close()

    asyncio.run(seed())
    runner.invoke(app, ["export", "--out", "m.gz", "--store", f"sqlite:///{workdir / 'marked.db'}"])
    lines = gzip.decompress((workdir / "m.gz").read_bytes()).decode().splitlines()
    header = json.loads(lines[0])
    header["sourceHost"] = "[/red]host[link=x]"
    event = json.loads(lines[2])
    event["[/red]colour"] = "x"
    lines[0], lines[2] = json.dumps(header), json.dumps(event)
    (workdir / "marked.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    target = f"sqlite:///{workdir / 't.db'}"
    dry = runner.invoke(app, ["import", "marked.gz", "--dry-run", "--store", target])
    assert (dry.exit_code == 1 and "Traceback" not in dry.output and dry.exception is None) or isinstance(
        dry.exception, SystemExit
    )
    assert "[/]srv[bold]" in dry.output and "[/red]host[link=x]" in dry.output
    assert "line 3: [/red]colour: Extra inputs are not permitted" in dry.output
    real = runner.invoke(app, ["import", "marked.gz", "--store", target])
    assert real.exit_code == 1 and "line 3: [/red]colour" in real.output


def test_the_stage_goes_where_it_is_told_and_is_removed(workdir: Path) -> None:
    runner.invoke(app, ["export", "--out", "x.gz"])
    (workdir / "stage").mkdir()
    target = f"sqlite:///{workdir / 't.db'}"
    result = runner.invoke(app, ["import", "x.gz", "--stage-dir", "stage", "--jobs", "2", "--store", target])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("Imported 60 events")
    assert list((workdir / "stage").iterdir()) == []
