"""`mcpdiag doctor`: the human ladder and `--json`, for URLs and (CLI only) stdio commands; exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from mcpdiag.cli.doctor import doctor_command
from tests.e2e.servers import PYTHON, SERVER_FILE, STDIO_EXIT_SCRIPT, free_port, serve, zoo_server

runner = CliRunner()
cli = typer.Typer()
cli.command("doctor")(doctor_command)
cli.command("noop")(lambda: None)  # a second command, so `doctor` is a sub-command as in `mcpdiag`


@pytest.fixture(scope="module")
def zoo() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


def test_a_healthy_server_prints_the_ladder_and_exits_0(zoo: int) -> None:
    result = runner.invoke(cli, ["doctor", f"http://127.0.0.1:{zoo}/mcp", "-H", "X-Team: blue"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.strip().startswith("✓ dns") and " ms " in line for line in lines)
    assert any(line.strip().startswith("· tls") for line in lines)
    assert any(line.strip().startswith("! tools") and "4 tools" in line for line in lines)
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
    data = json.loads(result.output)
    assert set(data) == {"ok", "code", "failedStep", "steps", "debugId", "action", "guide"}
    assert result.exit_code == (0 if data["ok"] else 1)
    assert data["failedStep"] == "http" and data["code"] == "MCP_ENDPOINT_NOT_FOUND"  # /sse is not served


def test_a_stdio_server_runs_only_the_mcp_steps() -> None:
    result = runner.invoke(cli, ["doctor", "--json", "--stdio", "--", PYTHON, SERVER_FILE, "stdio"])
    data = json.loads(result.output)
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
     ["doctor", "http://x/", "-H", "no colon"], ["doctor", "http://a/", "http://b/"]],
)  # fmt: skip
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(cli, args).exit_code == 2
