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
