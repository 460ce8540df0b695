"""The code catalog: every code of DESIGN.md with a complete, user-safe entry."""

from __future__ import annotations

import re

from mcpdiag.emitters import CATALOG, Action, Severity, code_info

FAILURE_CODES = {
    "MCP_AUTH_REQUIRED": (False, "authenticate"),
    "MCP_OAUTH_TIMEOUT": (True, "authenticate"),
    "MCP_DNS_FAILURE": (False, "edit_server"),
    "MCP_CONNECTION_REFUSED": (True, "retry"),
    "MCP_PROXY_SSE_ISSUE": (False, "docs"),
    "MCP_DOMAIN_NOT_ALLOWED": (False, "contact_admin"),
    "MCP_INSPECTION_FAILED": (False, "contact_admin"),
    "MCP_INTERNAL_ERROR": (True, "retry"),
    "MCP_OAUTH_FAILED": (False, "contact_admin"),
    "MCP_TLS_ERROR": (False, "contact_admin"),
    "MCP_TIMEOUT": (True, "retry"),
    "MCP_ENDPOINT_NOT_FOUND": (False, "edit_server"),
    "MCP_SESSION_EXPIRED": (True, "retry"),
    "MCP_RATE_LIMITED": (True, "retry"),
    "MCP_SERVER_ERROR": (True, "retry"),
    "MCP_STDIO_SPAWN_FAILED": (False, "edit_server"),
    "MCP_PROCESS_EXITED": (True, "contact_admin"),
    "MCP_TOOL_ERROR": (False, "none"),
}
LIFECYCLE = {"MCP_CONNECTED", "MCP_DISCONNECTED", "MCP_OAUTH_STARTED", "MCP_OAUTH_COMPLETED"}


def test_catalog_holds_exactly_the_design_codes() -> None:
    assert set(CATALOG) == set(FAILURE_CODES) | LIFECYCLE


def test_failure_codes_have_the_designed_retryable_and_action() -> None:
    for code, (retryable, action) in FAILURE_CODES.items():
        info = CATALOG[code]
        assert (info.code, info.retryable, info.action) == (code, retryable, Action(action)), code
        assert info.failure and info.severity.rank >= Severity.WARNING.rank


def test_lifecycle_codes_are_info_and_not_failures() -> None:
    for code in LIFECYCLE:
        assert CATALOG[code].severity is Severity.INFO and not CATALOG[code].failure


def test_messages_are_plain_sentences_for_end_users() -> None:
    for info in CATALOG.values():
        rendered = info.render("github")
        assert "github" in rendered and "{" not in rendered, info.code
        assert (rendered[0].isupper() or rendered.startswith("github")) and rendered.endswith("."), info.code
        assert len(rendered) <= 300 and info.title, info.code
        # No internals: no exception names, status codes or JSON-RPC numbers in what users read.
        assert not re.search(r"Error\b|Exception|\b[45]\d\d\b|-32\d{3}|httpx|MCP_", rendered), info.code


def test_unknown_codes_count_as_internal_error() -> None:
    assert code_info("VENDOR_SPECIFIC_THING").code == "MCP_INTERNAL_ERROR"
    assert code_info("MCP_TIMEOUT").code == "MCP_TIMEOUT"


def test_severity_ranks_are_ordered() -> None:
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity.DEBUG.rank < Severity.INFO.rank < Severity.ERROR.rank
