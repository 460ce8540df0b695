"""The command line's help says whole things: no option's help stops mid-sentence, and the doctor's says
what it needs.

`mcpdiag doctor --help` described `--server` as "used in messages, and the run is stored as its": a help
string cut where a line was wrapped in the source. Every command's and every parameter's help is read from
the real click tree the CLI runs and must not end on a word that leaves the sentence open.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.testing import CliRunner

from mcpdiag.cli.app import app
from mcpdiag.cli.doctor import NO_SDK

DANGLING = frozenset(
    "a an the its their his her our your my and or but nor of to for from with as into onto than that "  # noqa: SIM905
    "which who whose is are was be been between".split()
)
"""Words a sentence cannot end on: a help text whose last word is one of them was cut short."""


def _helps(command: Any, path: str) -> list[tuple[str, str]]:
    found = [(path, command.help or "")]
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            found.append((f"{path} {param.name}", text))
    # Typer's groups are click groups, of the click Typer ships: read by what they hold.
    for name, sub in getattr(command, "commands", {}).items():
        found += _helps(sub, f"{path} {name}")
    return found


HELPS = _helps(typer.main.get_command(app), "mcpdiag")


def test_the_click_tree_is_read_whole() -> None:
    """The walk sees the commands and their options (a walk that found nothing would prove nothing)."""
    paths = {path for path, _ in HELPS}
    assert {"mcpdiag doctor", "mcpdiag doctor server", "mcpdiag bundle", "mcpdiag serve"} <= paths
    assert len(HELPS) > 60


def test_no_help_text_stops_mid_sentence() -> None:
    """No command's or parameter's help ends on a word that leaves its sentence open."""
    cut = []
    for path, text in HELPS:
        words = text.split()
        if words and re.sub(r"[^A-Za-z']", "", words[-1]).lower() in DANGLING:
            cut.append(f"{path}: {text!r}")
    assert not cut, "help cut short:\n" + "\n".join(cut)


def test_the_doctor_help_names_the_extra_it_needs_and_what_server_does() -> None:
    """`mcpdiag doctor --help` says the MCP SDK comes with the `mcp` extra (brackets shown, not read as
    markup) and what `--server` does with the run."""
    result = CliRunner().invoke(app, ["doctor", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    install = NO_SDK.partition(": ")[2]  # the command the doctor's error names: the two never drift apart
    assert install.startswith("pip install 'mcpdiag[") and install in result.output
    assert "the run is stored as its inspection" in result.output
