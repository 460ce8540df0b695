"""Each component's public surface: one sorted `__all__` that names everything users rely on."""

from __future__ import annotations

import importlib
from pathlib import Path

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
    "mcpdiag.emitters.mcp": {"SDK_LINE", "DiagnosedSession", "OAuthTimeoutError", "open_session"},
    "mcpdiag.emitters.fastmcp": {"DiagnosedClient", "diagnosed"},
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


def test_lazy_names_must_match_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package whose lazy mapping drifts from its `__all__` fails at import, naming the names."""
    package = tmp_path / "driftpkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from mcpdiag.emitters.lazy import lazy_exports\n"
        "__all__ = ['a', 'b']\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'json': ('a', 'c')})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"\['b', 'c'\]"):
        importlib.import_module("driftpkg")
