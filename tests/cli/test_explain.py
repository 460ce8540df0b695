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
