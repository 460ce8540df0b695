"""What the command line prints of text it did not write: shown as itself, never as markup or a control.

Values come from the event store, files, bundles and the servers the doctor tests: any of them may hold
rich markup (`[bold]`, `[link=…]`) or terminal control sequences (`ESC ]52;c;…` writes the clipboard,
`ESC [2J` clears the screen, a carriage return overwrites the line). `shown` is how every such value
enters printed markup; `terminal_safe` is for plain output (`typer.echo`).
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape

_FORMATS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
"""Bidirectional controls (which reorder what a line shows) and the Unicode line separators."""
_CONTROLS = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_FORMATS}]")
"""Every C0 and C1 control, DEL and `_FORMATS`, but tab and newline."""
_LINE_CONTROLS = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_FORMATS}]")
"""The same with tab and newline: what must not break a one-line record."""


def cli_console(*, stderr: bool = False) -> Console:
    """A console for the CLI's messages: a line is never wrapped at the terminal's width (rich wraps at 80
    columns when output is piped, which split paths, URLs and commands in two); tables still fit it."""
    return Console(stderr=stderr, emoji=False, soft_wrap=True)


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str, *, lines: bool = True) -> str:
    """`text` with each control character written as an escape (`\\x1b`); tabs and newlines are kept
    when `lines` (multi-line output), escaped too otherwise (a record that must stay one line)."""
    return (_CONTROLS if lines else _LINE_CONTROLS).sub(_visible, text)


def shown(value: object, *, lines: bool = True) -> str:
    """`value` as text to put into rich markup: controls made visible (`terminal_safe`), markup escaped."""
    return escape(terminal_safe(str(value), lines=lines))
