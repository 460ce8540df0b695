"""How `search` and `tail` print events: readable at 80 columns (a Debug ID is never cut), or as JSON."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from mcpdiag.cli.text import shown

_C1 = re.compile("[\x7f-\x9f]")
SEVERITY_STYLE = {
    "critical": "bold red",
    "error": "red",
    "warning": "yellow",
    "info": "green",
    "debug": "dim",
}


def _severity(value: str) -> str:
    return f"[{SEVERITY_STYLE.get(value, '')}]{shown(value)}[/]"


def _where(event: dict[str, Any]) -> str:
    parts = [str(event.get("userId") or "(server-wide)"), str(event.get("touchpoint") or "")]
    if event.get("tool"):
        parts.append(f"tool {event['tool']}")
    if event.get("httpStatus"):
        parts.append(f"HTTP {event['httpStatus']}")
    count = event.get("count")
    if isinstance(count, int) and count > 1:  # coalesced repeats: the occurrences it stands for
        span = f" from {event['firstTs']} to {event['lastTs']}" if event.get("firstTs") else ""
        parts.append(f"{count:,} times{span}")
    return " · ".join(p for p in parts if p)


_INDENT = 2
_MIN_PROSE = 20
"""The narrowest a message is wrapped to, however narrow the terminal."""


def _at_words(prose: Text, width: int) -> list[Text]:
    """`prose` in lines of at most `width` cells, broken at spaces only: a word longer than that (a URL)
    stays whole on a line of its own, to be copied (rich folds it)."""
    lines: list[Text] = []
    line = Text()
    for word in prose.split(" "):
        if line.cell_len and line.cell_len + 1 + word.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append(" ")
        line.append_text(word)
    if line.cell_len:
        lines.append(line)
    return lines


def print_trace(console: Console, trace_id: str, events: Sequence[dict[str, Any]]) -> None:
    """A trace as blocks of lines: the Debug ID once on its own line, then each event's time, severity,
    code, server and where, and its message wrapped at words. Identifiers are never wrapped."""
    console.print(f"Debug ID [bold]{shown(trace_id)}[/bold]", highlight=False, soft_wrap=True)
    for event in events:
        console.print()
        console.print(
            f"{shown(str(event['ts']))}  {_severity(str(event['severity']))}  "
            f"[bold]{shown(str(event['code']))}[/bold]",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"  {shown(str(event['server']))} · {shown(_where(event))}", highlight=False, soft_wrap=True
        )
        message = str(event.get("messageSafe") or "")
        if message:
            # One paragraph: a newline in it would let a message pass for more lines of this listing. Prose is
            # wrapped at words to the terminal (the CLI's consoles keep lines whole unless told), each line
            # indented with the block: none starts where an event's header does.
            prose = Text.from_markup(shown(message, lines=False))
            for indented in _at_words(prose, max(console.width - _INDENT, _MIN_PROSE)):
                indented.pad_left(_INDENT)
                console.print(indented, highlight=False, soft_wrap=True)
    console.print()
    console.print(f"{len(events):,} event(s), Debug ID {shown(trace_id)}", highlight=False, soft_wrap=True)


def event_line(event: dict[str, Any]) -> str:
    """One event as one line of `tail` output (Rich markup; printed without wrapping)."""
    return (
        f"{shown(event['ts'], lines=False)}  {_severity(str(event['severity'])):<16} "
        f"{shown(event['code'], lines=False):<22} "
        f"{shown(_where(event), lines=False)}  {shown(event.get('messageSafe') or '', lines=False)}  "
        f"[dim]debug={shown(event['traceId'], lines=False)}[/dim]"
    )


def write_json(document: Any, *, lines: bool = False) -> None:
    """`document` as JSON on stdout, never wrapped: one compact line (`lines`) or indented."""
    text = (
        json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        if lines
        else json.dumps(document, ensure_ascii=False, indent=2)
    )
    # JSON escapes C0 controls itself; DEL and the C1 controls (U+009B is a CSI to xterm) only ever sit
    # inside strings, where `\u009b` is the same character.
    sys.stdout.write(_C1.sub(lambda found: f"\\u{ord(found[0]):04x}", text) + "\n")
    sys.stdout.flush()
