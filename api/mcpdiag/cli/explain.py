"""`mcpdiag explain CODE`: a code's troubleshooting guide (docs/codes/CODE.md) in the terminal.

Register it on the main Typer app with `app.command("explain")(explain_command)`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown

from mcpdiag.cli.text import shown
from mcpdiag.emitters import CATALOG
from mcpdiag.ui.guidebook import guide_text


def explain_command(
    code: Annotated[str, typer.Argument(help="A catalog code, e.g. MCP_PROXY_SSE_ISSUE (any case)")],
) -> None:
    """Print the troubleshooting guide of a code: what it means, causes, how to confirm, how to fix."""
    wanted = code.strip().upper()
    text = guide_text(wanted) if wanted in CATALOG else None
    if text is None:
        errors = Console(stderr=True, highlight=False, emoji=False)
        typed = code if len(code) <= 64 else code[:64] + "…"
        errors.print(f"[red]error:[/red] {shown(repr(typed))} is not a code. The codes are:", soft_wrap=True)
        for known in sorted(CATALOG):
            errors.print(f"  {known}  {CATALOG[known].title}", markup=False)
        raise typer.Exit(2)
    Console(highlight=False, emoji=False).print(Markdown(text, code_theme="ansi_dark", hyperlinks=False))
