"""`mcpdiag explain CODE`: the code's guide in the terminal; anything else exits 2 with the list of codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mcpdiag.cli.app import app
from mcpdiag.emitters import CATALOG

runner = CliRunner()


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_explain_prints_the_guide_of_every_code(code: str) -> None:
    result = runner.invoke(app, ["explain", code])
    assert result.exit_code == 0, result.output
    out = result.output
    assert code in out and CATALOG[code].title in out
    for section in ("What it means", "Common causes", "How to confirm", "How to fix", "When to escalate"):
        assert section in out, section
    assert "```" not in out and "**" not in out  # rendered, not the Markdown source


def test_a_code_in_any_case_is_understood() -> None:
    result = runner.invoke(app, ["explain", "  mcp_proxy_sse_issue "])
    assert result.exit_code == 0 and "proxy_buffering off" in result.output


@pytest.mark.parametrize("code", ["MCP_NOPE", "", "../README", "MCP_TIMEOUT.md", "x" * 500])
def test_an_unknown_code_exits_2_listing_every_code(code: str) -> None:
    result = runner.invoke(app, ["explain", code])
    assert result.exit_code == 2
    assert "is not a code" in result.output
    for known in CATALOG:
        assert known in result.output
    assert "x" * 100 not in result.output  # a long argument is shortened, not echoed


def test_explain_runs_as_the_installed_command() -> None:
    """The real entry point, as a subprocess (Rich renders without a terminal too)."""
    out = subprocess.run(
        [sys.executable, "-m", "mcpdiag.cli.app", "explain", "MCP_TLS_ERROR"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "MCP_TLS_ERROR: Secure connection failed" in out and "SSL_CERT_FILE" in out


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_command_of_a_guide_comes_out_whole_at_80_columns(code: str) -> None:
    """A guide's code blocks are for pasting: each of their lines comes out as one line, never wrapped or
    cropped at the terminal's width (they were split mid-token: `…&` / `limit=5"`), and no line is padded
    with trailing spaces."""
    from mcpdiag.cli.explain import guide_parts
    from mcpdiag.ui.guidebook import guide_text

    source = guide_text(code)
    assert source is not None
    wanted = [
        line for _, block in guide_parts(source) if block for line in block.splitlines() if line.strip()
    ]
    result = runner.invoke(app, ["explain", code], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for line in wanted:
        assert line.rstrip() in lines, line
    assert not [line for line in lines if line != line.rstrip()]


def test_guide_parts_keeps_prose_and_fenced_code_apart_in_order() -> None:
    from mcpdiag.cli.explain import guide_parts

    text = "# T\n\nintro\n\n```sh\ncurl -X POST x \\\n  -d '{}'\n```\n\nafter\n~~~\nraw ``` inside\n~~~\ntail"
    assert guide_parts(text) == [
        ("# T\n\nintro\n", "curl -X POST x \\\n  -d '{}'"),
        ("\nafter", "raw ``` inside"),
        ("tail", None),
    ]
