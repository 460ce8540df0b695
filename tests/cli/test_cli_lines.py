"""The command line's messages are never wrapped at the terminal's width: rich wraps at 80 columns when output
is piped, and a path, URL or command split in two cannot be pasted (serve's startup warnings were).

Every console the CLI's modules print through is checked, and a real process with a narrow terminal prints a
long error as one line."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

import mcpdiag.cli


def _consoles() -> dict[str, Console]:
    found = {}
    for module in pkgutil.walk_packages(mcpdiag.cli.__path__, "mcpdiag.cli."):
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if isinstance(value, Console):
                found[f"{module.name}.{name}"] = value
    return found


def test_every_console_of_the_cli_keeps_a_line_whole() -> None:
    consoles = _consoles()
    assert len(consoles) >= 8, consoles  # app, bundle, config and transfer commands, each stdout and stderr
    assert [name for name, console in consoles.items() if not console.soft_wrap] == []


def test_a_long_error_is_one_line_on_a_narrow_terminal(tmp_path: Path) -> None:
    missing = tmp_path / ("a-directory-with-a-rather-long-name-" * 3) / "export.ndjson.gz"
    env = {**os.environ, "COLUMNS": "40", "MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", "from mcpdiag.cli import main; main()", "import", str(missing)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: no file at {missing}"]


def test_a_long_message_wraps_at_words_and_every_line_of_it_stays_indented() -> None:
    """An event's message is prose, wrapped at words to the terminal; each of its lines keeps the block's
    indent, so no part of a sender's message can start at column 0 and pass for another event's header."""
    import io

    from mcpdiag.cli.output import print_trace
    from mcpdiag.cli.text import cli_console
    from mcpdiag.emitters import format_ts
    from tests.factories import NOW

    header = f"{format_ts(NOW)}  error  MCP_TIMEOUT"
    url = "https://mcp.example.invalid/" + "segment/" * 12  # longer than the line: kept whole, to be copied
    message = ("word " * 30) + header + (" more" * 30) + f" see {url} then"
    event = {"ts": format_ts(NOW), "severity": "error", "code": "MCP_TIMEOUT", "server": "github",
             "touchpoint": "connect", "messageSafe": message}  # fmt: skip
    out = io.StringIO()
    console = cli_console()
    console.file, console.width = out, 60  # what a pipe gets: a fixed width
    print_trace(console, "0" * 32, [event])
    lines = out.getvalue().splitlines()
    where = next(i for i, line in enumerate(lines) if line.startswith("  github · "))
    block = lines[where + 1 : lines.index("", where)]
    assert len(block) > 3, lines  # wrapped
    assert all(line.startswith("  ") and line == line.rstrip() for line in block), lines
    assert all(len(line) <= 60 for line in block if url not in line) and f"  {url}" in block, lines
    assert " ".join(line.strip() for line in block) == message.strip()
