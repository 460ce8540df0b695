"""Text the command line prints is shown as it is: rich never reads it as markup, the terminal never
obeys a control character in it.

Console output goes through rich, which reads `[...]` as markup: an error naming `pip install
'mcpdiag[mcp]'` printed `'mcpdiag'`, and a path, a store URL, a Debug ID or a code the user typed could
lose its brackets or style the terminal. Every value put into printed markup is escaped (`rich.markup.
escape`); this test reads the CLI's source and fails on any print that interpolates a value without it,
and runs the commands that print what a user gave. Control characters (an escape sequence that writes the
clipboard or clears the screen, a carriage return that overwrites the line) reach the store in an event's
message or detail, and the doctor's steps quote what the server under test answered: they are written as
`\x1b`, never sent to the terminal.
"""

from __future__ import annotations

import ast
import json
import re
import signal
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from mcpdiag.cli.app import app
from mcpdiag.cli.doctor import render
from mcpdiag.cli.text import shown, terminal_safe
from mcpdiag.doctor.report import DoctorReport, Step
from mcpdiag.emitters import new_trace_id
from tests.cli.test_cli_output import STOP_WITHIN_S, run
from tests.cli.test_cli_serve import NOW, env, read_line_with, seed, started
from tests.factories import make_event

__all__ = ["env"]  # the fixture, imported for this module's tests
HOSTILE = "done\x1b]52;c;aGk=\x07\x1b[2J\r\x9b31mgone\x00"
"""An OSC 52 clipboard write, a screen clear, a carriage return, an 8-bit CSI and a NUL."""
CONTROLS = set("\x1b\x07\r\x9b\x00")

CLI = Path(__file__).resolve().parents[2] / "api" / "mcpdiag" / "cli"
RENDERABLES = {"Text", "Markdown", "Table", "shown", "event_line"}
"""Calls whose result rich prints without reading markup, that escape it, or that build markup from escaped
values (`output.event_line`)."""
MARKUP = {"shown", "_severity"}
"""What may be put into printed markup: `text.shown` (controls made visible, markup escaped), and
`output._severity`'s style around it. Rich's own `escape` alone is not enough: it leaves control
characters."""
NAMED_RENDERABLES = {"table", "indented"}
"""Variables that hold a rich `Table` (its cells are `Text` or constants), or a line of `Text` wrapped from
`shown` markup (`output.print_trace`'s message)."""


def _escaped(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKUP


def _numeric(spec: ast.expr | None) -> bool:
    """Whether a format spec formats a number (`:,`, `:d`, `:.1f`): an alignment alone (`:<22`) pads any
    value, text included."""
    if not isinstance(spec, ast.JoinedStr):
        return False
    text = "".join(part.value for part in spec.values if isinstance(part, ast.Constant))
    return bool(re.fullmatch(r"[<>^=]?\d*[,_]?(\.\d+)?[dfeg%n,]", text)) and text[:1] not in "<>^="


def _safe(arg: ast.expr) -> bool:
    if isinstance(arg, ast.Constant) or (isinstance(arg, ast.Name) and arg.id in NAMED_RENDERABLES):
        return True
    if isinstance(arg, ast.JoinedStr):
        return all(
            not isinstance(part, ast.FormattedValue) or _escaped(part.value) or _numeric(part.format_spec)
            for part in arg.values
        )
    if isinstance(arg, ast.Call):
        func = arg.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return name in RENDERABLES
    return False


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _plain_safe(arg: ast.expr) -> bool:
    """Text rich shows without reading markup (`Text`): a constant, or made `terminal_safe`."""
    return isinstance(arg, ast.Constant) or (
        isinstance(arg, ast.Call) and _name(arg.func) in {"terminal_safe", "shown"}
    )


def _unsafe_prints() -> list[str]:
    found = []
    for path in sorted(CLI.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) == "Console":
                # Rich turns `:name:` into an emoji by default: a Debug ID `:x:…` would print as ❌….
                emoji = next((k.value for k in node.keywords if k.arg == "emoji"), None)
                if not (isinstance(emoji, ast.Constant) and emoji.value is False):
                    found.append(f"{path.name}:{node.lineno}: Console without emoji=False")
            if isinstance(node, ast.Call) and _name(node.func) == "Text" and node.args:
                # `Text` reads no markup, but passes escape sequences on: the text must be terminal_safe.
                if not _plain_safe(node.args[0]):
                    found.append(f"{path.name}:{node.lineno}: Text({ast.unparse(node.args[0])[:70]})")
                continue
            if isinstance(node, ast.Call) and _name(node.func) == "add_row":
                # A table cell given as a string is read as markup: Text cells, constants or counts only.
                for cell in node.args:
                    if isinstance(cell, ast.Starred | ast.Constant):
                        continue
                    if not _safe(cell) or (isinstance(cell, ast.Call) and _name(cell.func) == "shown"):
                        found.append(f"{path.name}:{node.lineno}: cell {ast.unparse(cell)[:70]}")
                continue
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


def test_bidi_controls_and_line_separators_are_written_as_escapes() -> None:
    assert terminal_safe("user\u202egnp.exe\u2066x\u2028y") == "user\\u202egnp.exe\\u2066x\\u2028y"


def test_an_emoji_code_is_printed_as_typed() -> None:
    result = CliRunner().invoke(app, ["explain", ":x:"])
    assert "':x:' is not a code" in result.output


def test_an_unknown_code_with_brackets_is_named_as_typed() -> None:
    result = CliRunner().invoke(app, ["explain", "[bold]MCP_NOPE[/bold]"])
    assert result.exit_code != 0
    assert "'[bold]MCP_NOPE[/bold]' is not a code" in result.output


def test_control_characters_are_written_as_escapes_and_markup_is_escaped() -> None:
    assert terminal_safe(HOSTILE) == "done\\x1b]52;c;aGk=\\x07\\x1b[2J\\x0d\\x9b31mgone\\x00"
    assert terminal_safe("two\nlines\tand a tab") == "two\nlines\tand a tab"
    assert terminal_safe("one\nrecord\t", lines=False) == "one\\x0arecord\\x09"
    assert shown("[bold]x\x1b") == "\\[bold]x\\x1b"


def test_search_and_tail_print_an_events_controls_as_escapes(tmp_path: Path, env: dict[str, str]) -> None:
    trace = new_trace_id()
    seed(
        tmp_path,
        [make_event(ts=NOW - timedelta(minutes=1), trace_id=trace, message_safe=HOSTILE, detail=HOSTILE)],
    )
    searched = run(["search", trace], env, tmp_path)
    assert searched.returncode == 0, searched.stderr
    assert not CONTROLS & set(searched.stdout + searched.stderr), repr(searched.stdout)
    assert "done\\x1b]52;c;aGk=" in searched.stdout
    process = started(
        ["tail", "--server", "github", "--interval", "0.1"], env, tmp_path, COLUMNS="200", TERM="xterm"
    )
    try:
        line = read_line_with(process, "done")
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=STOP_WITHIN_S)
    finally:
        process.kill()
        process.wait(5)
    # One record per line: even the message's carriage return is shown, not obeyed.
    assert not CONTROLS & set(line.rstrip("\n")), repr(line)
    assert "done\\x1b]52;c;aGk=\\x07\\x1b[2J\\x0d" in line


def test_json_output_escapes_every_control_and_reads_back_the_same(
    tmp_path: Path, env: dict[str, str]
) -> None:
    trace = new_trace_id()
    seed(tmp_path, [make_event(ts=NOW - timedelta(minutes=1), trace_id=trace, message_safe=HOSTILE)])
    result = run(["search", trace, "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert not CONTROLS & set(result.stdout), repr(result.stdout)
    assert json.loads(result.stdout)["events"][0]["messageSafe"] == HOSTILE


def test_the_doctor_shows_what_the_server_answered_without_obeying_it() -> None:
    report = DoctorReport(
        url="http://127.0.0.1:9/mcp",
        transport="streamable-http",
        debug_id=new_trace_id(),
        steps=[Step("http", "fail", 3.0, summary=HOSTILE, detail=f"HTTP 500\n{HOSTILE}")],
        code="MCP_HTTP_ERROR",
        action="contact_admin",
    )
    text = render(report, "http://127.0.0.1:9/mcp", f"stored in {HOSTILE}")
    assert not CONTROLS & set(text), repr(text)
    assert text.count("done\\x1b]52;c;aGk=") == 3
    assert "HTTP 500" in text
