"""`mcpdiag explain CODE`: a code's troubleshooting guide (docs/codes/CODE.md) in the terminal.

Register it on the main Typer app with `app.command("explain")(explain_command)`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from mcpdiag.cli.text import shown, terminal_safe
from mcpdiag.emitters import CATALOG
from mcpdiag.emitters.redact import quoted
from mcpdiag.ui.guidebook import guide_text


def explain_command(
    code: Annotated[str, typer.Argument(help="A catalog code, e.g. MCP_PROXY_SSE_ISSUE (any case)")],
) -> None:
    """Print the troubleshooting guide of a code: what it means, causes, how to confirm, how to fix."""
    wanted = code.strip().upper()
    text = guide_text(wanted) if wanted in CATALOG else None
    if text is None:
        errors = Console(stderr=True, highlight=False, emoji=False)
        errors.print(f"[red]error:[/red] {shown(quoted(code))} is not a code. The codes are:", soft_wrap=True)
        for known in sorted(CATALOG):
            errors.print(f"  {known}  {CATALOG[known].title}", markup=False)
        raise typer.Exit(2)
    console = Console(highlight=False, emoji=False)
    with console.capture() as captured:
        for prose, block in guide_parts(text):
            if prose.strip():
                console.print(Markdown(prose, hyperlinks=False))
            if block is not None:
                # Never wrapped or cropped by the renderer: a terminal folds a long line, and a command
                # copied from it (or from `| less`) stays one command.
                console.print(Text(terminal_safe(block), style="bold"), soft_wrap=True)
    shown_text = captured.get()
    if not console.is_terminal:  # piped: no padding to the width after each line
        shown_text = "\n".join(line.rstrip() for line in shown_text.splitlines()) + "\n"
    sys.stdout.write(shown_text)


def guide_parts(text: str) -> list[tuple[str, str | None]]:
    """`text` (Markdown) as (prose, the fenced code block after it, or None) pairs, in order."""
    parts: list[tuple[str, str | None]] = []
    prose: list[str] = []
    code: list[str] | None = None
    fence = ""
    for line in text.splitlines():
        marker = line.lstrip()
        if code is None and marker.startswith(("```", "~~~")):
            fence, code = marker[:3], []
        elif code is not None and marker.startswith(fence) and not marker[3:].strip():
            parts.append(("\n".join(prose), "\n".join(code)))
            prose, code = [], None
        elif code is not None:
            code.append(line)
        else:
            prose.append(line)
    if code is not None:  # an unclosed fence: what follows it is code, as Markdown reads it
        parts.append(("\n".join(prose), "\n".join(code)))
    elif prose:
        parts.append(("\n".join(prose), None))
    return parts
