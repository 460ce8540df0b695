"""Each component's public surface: one sorted `__all__` that names everything users rely on."""

from __future__ import annotations

import importlib

import pytest

REQUIRED = {
    "mcpdiag.emitters": {
        "CATALOG",
        "CodeInfo",
        "DiagnosticEvent",
        "Severity",
        "Touchpoint",
        "redact_event",
        "redact_text",
        "Emitter",
        "MemorySink",
        "HttpSink",
        "CallableSink",
        "OtlpLogSink",
        "classify",
        "Classification",
        "MCPDiagnosticError",
        "error_data",
    },
    "mcpdiag.emitters.mcp": {"DiagnosedSession", "OAuthTimeoutError", "open_session"},
    "mcpdiag.collector": {
        "EventQuery",
        "EventStore",
        "Page",
        "SQLiteEventStore",
        "MongoEventStore",
        "open_store",
    },
}


@pytest.mark.parametrize("module_name", sorted(REQUIRED))
def test_all_is_sorted_complete_and_resolvable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    # isort-style order, as ruff keeps it: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert REQUIRED[module_name] <= set(exported)
    for name in exported:
        assert getattr(module, name) is not None, name
