"""`mcpdiag doctor`: the human ladder and `--json`, for URLs and (CLI only) stdio commands; exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mcpdiag.cli import lookup
from mcpdiag.cli.doctor import doctor_command
from mcpdiag.collector import get_collector_settings
from mcpdiag.doctor.stdio import stdio_name
from mcpdiag.store import SQLiteEventStore
from tests.doctor.doctor_stubs import Hostile
from tests.doctor.doctor_support import broken_mcp_app
from tests.e2e.servers import (
    PYTHON,
    SERVER_FILE,
    STDIO_EXIT_SCRIPT,
    free_port,
    misbehaving_app,
    serve,
    zoo_server,
)

runner = CliRunner()
cli = typer.Typer()
cli.command("doctor")(doctor_command)
cli.command("noop")(lambda: None)  # a second command, so `doctor` is a sub-command as in `mcpdiag`


@pytest.fixture(scope="module")
def zoo() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


@pytest.fixture(autouse=True)
def no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test runs where no event store exists (unless it makes one at the path yielded)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCPDIAG_STORE_URL", f"sqlite:///{tmp_path / 'events.db'}")
    get_collector_settings.cache_clear()
    yield tmp_path / "events.db"
    get_collector_settings.cache_clear()


def made_store(path: Path) -> None:
    async def make() -> None:
        store = SQLiteEventStore(path)
        await store.ensure_schema()
        await store.close()

    asyncio.run(make())


def debug_id(output: str) -> str:
    found = re.search(r"Debug ID: ([0-9a-f]{32})", output)
    assert found, output
    return found.group(1)


def test_a_healthy_server_prints_the_ladder_and_exits_0(zoo: int) -> None:
    result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{zoo}/mcp", "-H", "X-Team: blue"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.strip().startswith("✓ dns") and " ms " in line for line in lines)
    assert any(line.strip().startswith("· tls") for line in lines)
    assert any(line.strip().startswith("! tools") and "5 tools" in line for line in lines)
    assert "Healthy, with 1 warning." in result.output and "Debug ID: " in result.output


def test_a_failing_step_is_crossed_with_its_action_and_exits_1() -> None:
    result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{free_port()}/mcp"])
    assert result.exit_code == 1
    assert "✗ tcp" in result.output and "Failed at tcp: MCP_CONNECTION_REFUSED" in result.output
    assert "Action: retry" in result.output
    guide = "Guide: mcpdiag explain MCP_CONNECTION_REFUSED  (docs/codes/MCP_CONNECTION_REFUSED.md)"
    assert guide in result.output


def test_json_output_is_the_api_result(zoo: int) -> None:
    result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{zoo}/sse", "--transport", "sse", "--json"])
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "code", "failedStep", "steps", "debugId", "action", "guide", "refused"}
    assert result.exit_code == (0 if data["ok"] else 1)
    assert data["failedStep"] == "http" and data["code"] == "MCP_ENDPOINT_NOT_FOUND"  # /sse is not served


def test_the_ladder_names_its_target_without_credentials_or_arguments() -> None:
    """A URL's userinfo and query and a command's arguments may hold secrets: the text output named them
    whole on its first line (found by an adversarial pass), where the events name only the endpoint."""
    password, token, port = secrets.token_hex(8), "ghp_" + secrets.token_hex(18), free_port()
    url = f"http://ops:{password}@127.0.0.1:{port}/mcp?access_token={token}"
    result = runner.invoke(cli, ["doctor", url])
    assert result.exit_code == 1
    assert password not in result.output and token[4:] not in result.output
    assert result.output.startswith(f"mcpdiag doctor · http://127.0.0.1:{port}/mcp ")
    command = [PYTHON, "-c", STDIO_EXIT_SCRIPT, "--api-key", token]
    stdio = runner.invoke(cli, ["doctor", "--stdio", "--", *command])
    assert token[4:] not in stdio.output
    assert stdio.output.startswith(f"mcpdiag doctor · {Path(PYTHON).name} (stdio)")


def test_a_stdio_server_runs_only_the_mcp_steps() -> None:
    result = runner.invoke(cli, ["doctor", "--json", "--stdio", "--", PYTHON, SERVER_FILE, "stdio"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    status = {s["name"]: s["status"] for s in data["steps"]}
    assert status["dns"] == status["http"] == "skipped"
    assert status["mcp"] in ("ok", "warn")  # warn: a loaded machine starts Python slower than 2 s
    assert status["tools"] == "warn"


def test_a_stdio_server_that_exits_fails_at_mcp() -> None:
    result = runner.invoke(cli, ["doctor", "--stdio", "--", PYTHON, "-c", STDIO_EXIT_SCRIPT])
    assert result.exit_code == 1
    assert "✗ mcp" in result.output and "MCP_PROCESS_EXITED" in result.output
    assert "missing API_KEY" in result.output  # the stderr tail, in the failing step's detail


@pytest.mark.parametrize(
    "args",
    [["doctor"], ["doctor", "ftp://x/"], ["doctor", "http://x/", "--transport", "stdio"],
     ["doctor", "http://x/", "-H", "no colon"], ["doctor", "http://a/", "http://b/"],
     ["doctor", "http://x.invalid/", "--timeout", "0"], ["doctor", "http://x.invalid/", "--timeout", "-1"]],
)  # fmt: skip
def test_usage_errors_exit_2(args: list[str]) -> None:
    # A timeout of nothing is a mistake to say, not a run that fails at tcp "after -1 s" and is stored.
    result = runner.invoke(cli, args)
    assert result.exit_code == 2 and "MCP_TIMEOUT" not in result.output, result.output


# -- messages, the SDK's logs, and where the Debug ID went ------------------------------------------------


def test_stdio_messages_name_the_server_not_the_doctor() -> None:
    result = runner.invoke(cli, ["doctor", "--stdio", "--", PYTHON, "-c", STDIO_EXIT_SCRIPT])
    assert "The program for python" in result.output and "for doctor" not in result.output
    named = runner.invoke(
        cli, ["doctor", "--server", "files", "--stdio", "--", PYTHON, "-c", STDIO_EXIT_SCRIPT]
    )
    assert "The program for files" in named.output, named.output


@pytest.mark.parametrize(
    ("command", "name"),
    [(["npx", "-y", "@modelcontextprotocol/server-everything"], "server-everything"),
     (["uvx", "mcp-server-time", "--local-timezone=UTC"], "mcp-server-time"),
     (["/usr/bin/python3", "/srv/mcp/weather_server.py", "stdio"], "weather_server"),
     (["python", "-m", "mcp_server_git", "--repository", "."], "mcp_server_git"),
     (["python3", "-c", "print(1)"], "python3"), (["node", "build/index.js"], "index"),
     (["docker", "run", "-i", "--rm", "-e", "TOKEN=x", "mcp/github"], "github"),
     (["uv", "run", "server.py"], "server"), (["./my-server"], "my-server"),
     (["npx", "-y", "@scope/pkg@1.2.3"], "pkg")],
)  # fmt: skip
def test_a_stdio_servers_name_is_taken_from_its_command(command: list[str], name: str) -> None:
    assert stdio_name(command) == name


def test_a_run_stored_nowhere_says_so() -> None:
    with serve(broken_mcp_app) as port:
        result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{port}/garbage"])
    assert "not stored" in result.output and "events.db" in result.output, result.output


def test_a_run_is_stored_in_the_configured_store_for_mcpdiag_search(no_store: Path, zoo: int) -> None:
    made_store(no_store)
    result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{zoo}/mcp", "--server", "zoo"])
    assert result.exit_code == 0, result.output
    assert "stored in sqlite:///" in result.output and "mcpdiag search" in result.output
    _, [event] = asyncio.run(lookup.search(None, debug_id(result.output)))
    assert (event["server"], event["touchpoint"], event["code"]) == ("zoo", "inspection", "MCP_CONNECTED")


def test_a_stdio_run_is_stored_too(no_store: Path) -> None:
    made_store(no_store)
    result = runner.invoke(cli, ["doctor", "--stdio", "--", PYTHON, "-c", STDIO_EXIT_SCRIPT])
    _, [event] = asyncio.run(lookup.search(None, debug_id(result.output)))
    # Named by nobody: kept under doctor:runs, off the server cards like an API run naming no server.
    assert (event["server"], event["code"], event["transport"]) == (
        "doctor:runs",
        "MCP_PROCESS_EXITED",
        "stdio",
    )
    assert event["userId"].startswith("cli:")  # the operator's run: staff see it, end users do not


def test_json_output_stays_the_api_result_and_says_on_stderr_where_it_went(no_store: Path, zoo: int) -> None:
    made_store(no_store)
    result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{zoo}/mcp", "--json"])
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "code", "failedStep", "steps", "debugId", "action", "guide", "refused"}
    assert data["debugId"] in result.stderr and "stored in" in result.stderr


def test_the_sdks_log_records_never_reach_the_terminal(tmp_path: Path) -> None:
    """A real `mcpdiag doctor` process against servers the SDK logs tracebacks about: only the ladder."""
    mcpdiag = str(Path(sys.executable).parent / "mcpdiag")
    env = {**os.environ, "MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    with serve(broken_mcp_app) as broken, serve(misbehaving_app) as bad, serve(Hostile()) as hostile:
        commands = [
            [mcpdiag, "doctor", f"http://127.0.0.1:{broken}/garbage"],
            [mcpdiag, "doctor", f"http://127.0.0.1:{bad}/bad-tools"],
            [mcpdiag, "doctor", f"http://127.0.0.1:{hostile}/init-huge/mcp"],
            [mcpdiag, "doctor", "--stdio", "--", PYTHON, "-c", STDIO_EXIT_SCRIPT],
        ]
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr[-3000:]
            assert "✗" in done.stdout and "Debug ID" in done.stdout
