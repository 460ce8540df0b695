"""Text the command line prints is shown as it is: rich never reads it as markup.

Console output goes through rich, which reads `[...]` as markup: an error naming `pip install
'mcpdiag[mcp]'` printed `'mcpdiag'`, and a path, a store URL, a Debug ID or a code the user typed could
lose its brackets or style the terminal. Every value put into printed markup is escaped (`rich.markup.
escape`); this test reads the CLI's source and fails on any print that interpolates a value without it,
and runs the commands that print what a user gave.
"""

from __future__ import annotations

import ast
from pathlib import Path

from typer.testing import CliRunner

from mcpdiag.cli.app import app

CLI = Path(__file__).resolve().parents[2] / "api" / "mcpdiag" / "cli"
RENDERABLES = {"Text", "Markdown", "Table", "escape", "event_line"}
"""Calls whose result rich prints without reading markup, that escape it, or that build markup from escaped
values (`output.event_line`)."""
MARKUP = {"escape", "_severity"}
"""What may be put into printed markup: escaped text, and `output._severity`'s style around escaped text."""
NAMED_RENDERABLES = {"table"}
"""Variables that hold a rich `Table` (its cells are `Text` or constants)."""


def _escaped(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKUP


def _safe(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant) or (isinstance(arg, ast.Name) and arg.id in NAMED_RENDERABLES):
        return True
    if isinstance(arg, ast.JoinedStr):
        return all(
            not isinstance(part, ast.FormattedValue) or _escaped(part.value) or part.format_spec is not None
            for part in arg.values
        )
    if isinstance(arg, ast.Call):
        func = arg.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return name in RENDERABLES
    return False


def _unsafe_prints() -> list[str]:
    found = []
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "print" or not node.args:
                continue
            markup = next((k.value for k in node.keywords if k.arg == "markup"), None)
            if isinstance(markup, ast.Constant) and markup.value is False:
                continue
            for arg in node.args:
                if not _safe(arg):
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(arg)[:80]}")
    return found


def test_every_printed_value_is_escaped_or_printed_without_markup() -> None:
    assert _unsafe_prints() == []


def test_an_unknown_code_with_brackets_is_named_as_typed() -> None:
    result = CliRunner().invoke(app, ["explain", "[bold]MCP_NOPE[/bold]"])
    assert result.exit_code != 0
    assert "'[bold]MCP_NOPE[/bold]' is not a code" in result.output
