"""`mcpdiag search`, `tail` and `bundle` as a person at a terminal meets them, as real subprocesses: narrow
terminals, `--json`, an unknown server, Ctrl-C, and bad arguments."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcpdiag.emitters import new_trace_id
from tests.cli.test_cli_serve import NOW, cli, env, read_line_with, seed, started
from tests.factories import make_event

__all__ = ["env"]  # the fixture, imported for this module's tests
STOP_WITHIN_S = 10.0
"""A bound on how long a stopped command may take, not a speed target: a hang fails instead of blocking."""


def run(
    args: list[str], env: dict[str, str], cwd: Path, columns: int = 100
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args),
        env={**env, "COLUMNS": str(columns), "TERM": "xterm"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def trace_events(tmp_path: Path) -> str:
    """One trace of three events with long messages on github; its Debug ID."""
    trace = new_trace_id()
    seed(
        tmp_path,
        [
            make_event(
                ts=NOW - timedelta(minutes=3), code="MCP_OAUTH_STARTED", trace_id=trace, user_id="alice"
            ),
            make_event(
                ts=NOW - timedelta(minutes=2), code="MCP_OAUTH_TIMEOUT", trace_id=trace, user_id="alice"
            ),
            make_event(
                ts=NOW - timedelta(minutes=1),
                code="MCP_TOOL_ERROR",
                trace_id=trace,
                user_id="alice",
                touchpoint="tool_call",
                tool="create_issue_with_a_rather_long_tool_name",
            ),
            make_event(ts=NOW, code="MCP_TIMEOUT"),
        ],
    )
    return trace


@pytest.mark.parametrize("columns", [80, 100])
def test_search_prints_each_debug_id_whole_on_one_line(
    tmp_path: Path, env: dict[str, str], columns: int
) -> None:
    """At 80 and 100 columns, a Debug ID is never cut: every line holding its start holds all of it, and
    every event and its message are there."""
    trace = trace_events(tmp_path)
    for key in (trace, trace[:10]):
        result = run(["search", key], env, tmp_path, columns)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns
        holding = [line for line in lines if trace[:8] in line]
        assert holding and all(trace in line for line in holding), result.stdout
        flat = " ".join(result.stdout.split())
        for code in ("MCP_OAUTH_STARTED", "MCP_OAUTH_TIMEOUT", "MCP_TOOL_ERROR"):
            assert code in flat
        assert "Sign-in to github was not completed in time." in flat
        assert "create_issue_with_a_rather_long_tool_name" in flat


def test_search_json_is_one_parseable_document(tmp_path: Path, env: dict[str, str]) -> None:
    """`--json` prints the trace and its events as JSON, whatever the terminal width."""
    trace = trace_events(tmp_path)
    result = run(["search", trace[:12], "--json"], env, tmp_path, columns=40)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["traceId"] == trace and document["debugId"] == trace[:12]
    assert [e["code"] for e in document["events"]] == [
        "MCP_OAUTH_STARTED",
        "MCP_OAUTH_TIMEOUT",
        "MCP_TOOL_ERROR",
    ]
    assert all(e["traceId"] == trace for e in document["events"])


def test_tail_json_prints_one_event_per_line(tmp_path: Path, env: dict[str, str]) -> None:
    """`tail --json` prints JSON lines: the past events, then the new ones."""
    trace_events(tmp_path)
    process = started(
        ["tail", "--server", "github", "--json", "--lines", "2", "--interval", "0.1"],
        env,
        tmp_path,
        COLUMNS="40",
    )
    try:
        first = json.loads(read_line_with(process, "{"))
        second = json.loads(read_line_with(process, "{"))
        assert [first["code"], second["code"]] == ["MCP_TOOL_ERROR", "MCP_TIMEOUT"]
        late = make_event(ts=datetime.now(UTC), code="MCP_RATE_LIMITED")
        seed(tmp_path, [late])
        assert json.loads(read_line_with(process, "{"))["id"] == late.id
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=STOP_WITHIN_S)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode in (0, 130)


def test_tail_on_a_server_without_events_says_so_and_exits(tmp_path: Path, env: dict[str, str]) -> None:
    """An unknown server: `tail` names it and the servers that have events, and exits instead of waiting."""
    trace_events(tmp_path)
    result = subprocess.run(
        cli("tail", "--server", "githb"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert "no events for server 'githb'" in result.stderr and "github" in result.stderr
    assert "--wait" in result.stderr and "Traceback" not in result.stderr


def test_tail_wait_follows_a_server_until_its_first_event(tmp_path: Path, env: dict[str, str]) -> None:
    """With `--wait`, `tail` says it is waiting for the server's first event and prints it when it comes."""
    trace_events(tmp_path)
    process = started(
        ["tail", "--server", "newcomer", "--wait", "--interval", "0.1"], env, tmp_path, COLUMNS="200"
    )
    try:
        assert process.stderr is not None
        for _ in range(5):  # `python -m` may warn first
            if "waiting for the first event of 'newcomer'" in process.stderr.readline():
                break
        else:
            raise AssertionError("tail did not say it is waiting")
        late = make_event(ts=datetime.now(UTC), server="newcomer", code="MCP_DNS_FAILURE")
        seed(tmp_path, [late])
        assert late.trace_id in read_line_with(process, "MCP_DNS_FAILURE")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=STOP_WITHIN_S)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode in (0, 130)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3, 1.0])
def test_ctrl_c_stops_tail_promptly(tmp_path: Path, env: dict[str, str], delay: float) -> None:
    """SIGINT while the past events are printed or while polling: `tail` exits with 0 or 130 (by the
    signal: -2 to Popen) within the bound, without a traceback."""
    seed(tmp_path, [make_event(ts=NOW - timedelta(seconds=i), code="MCP_TIMEOUT") for i in range(150)])
    process = started(
        ["tail", "--server", "github", "--lines", "150", "--interval", "0.05"], env, tmp_path, COLUMNS="120"
    )
    try:
        read_line_with(process, "MCP_TIMEOUT")  # running its own code (not still importing Python's)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=STOP_WITHIN_S)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode in (0, 130, -signal.SIGINT), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bundle", "--debug-id", "xyz"], "--debug-id"),
        (["bundle", "--debug-id", "abc"], "at least 8"),
        (["bundle", "--debug-id", "not a debug id"], "--debug-id"),
        (["bundle", "--since", "soon"], "since: expected a duration"),
        (["bundle", "--severity", "loud"], "severity"),
        (["tail", "--server", "github", "--severity", "loud"], "unknown severity"),
        (["search", "abc"], "at least 8"),
        (["search", "x" * 100], "Debug ID"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    """A malformed or unknown argument is a usage error: exit 2, one message naming it, no traceback."""
    trace_events(tmp_path)
    result = run(args, env, tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.zip"))


def test_bundle_of_a_known_debug_id_or_prefix_works(tmp_path: Path, env: dict[str, str]) -> None:
    """The same validation lets a real Debug ID and its prefix through."""
    trace = trace_events(tmp_path)
    for key in (trace, trace[:8]):
        out = tmp_path / f"out-{secrets.token_hex(4)}"
        out.mkdir()
        result = run(["bundle", "--debug-id", key, "-o", str(out)], env, tmp_path, columns=200)
        assert result.returncode == 0, result.stderr
        assert "events: 4" in result.stdout, result.stdout  # the trace and the event 10 minutes around


def test_search_says_how_often_a_coalesced_event_happened(tmp_path: Path, env: dict[str, str]) -> None:
    trace = new_trace_id()
    first, last = NOW - timedelta(minutes=9), NOW - timedelta(minutes=1)
    seed(tmp_path, [make_event(ts=last, trace_id=trace, count=1200, first_ts=first, last_ts=last)])
    result = run(["search", trace], env, tmp_path, columns=160)
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert f"1,200 times from {first:%Y-%m-%dT%H:%M}" in flat and f"to {last:%Y-%m-%dT%H:%M}" in flat
