"""Each package's face: one plain, eager `__init__` with a sorted `__all__` naming what users rely on; the
store and the bundle exporter load no web framework (the layers themselves are `lint-imports`' contract)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
    "mcpdiag.store": {
        "EventQuery",
        "EventStore",
        "Page",
        "SQLiteEventStore",
        "MongoEventStore",
        "StoreError",
        "StoreUnavailableError",
        "open_store",
    },
    "mcpdiag.store.transfer": {"ExportSelection", "ImportReport", "import_file", "migrate", "write_export"},
    "mcpdiag.collector": {"CollectorRuntime", "CollectorSettings", "IngestPipeline", "create_collector_app"},
    "mcpdiag.bundle": {"BundleScope", "BundleResult", "LeakDetectedError", "export_bundle", "scan_bundle"},
    "mcpdiag.doctor": {"DoctorOptions", "DoctorReport", "run_doctor"},
    "mcpdiag.api": {"ApiSettings", "Principal", "Role", "create_app"},
    "mcpdiag.cli": {"app", "main"},
}
FACES = [
    *sorted(p for p in ROOT.glob("*/mcpdiag/*/__init__.py") if p.parent.name != "ui"),
    ROOT / "emitters/mcpdiag/emitters/mcp/__init__.py",
    ROOT / "collector/mcpdiag/store/transfer/__init__.py",
]


@pytest.mark.parametrize("module_name", sorted(REQUIRED))
def test_all_is_sorted_complete_and_resolvable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    # isort-style order, as ruff keeps it: CONSTANTS, then Classes, then functions.
    assert exported == sorted(exported, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    assert REQUIRED[module_name] <= set(exported)
    for name in exported:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("face", FACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_package_faces_are_plain_imports_and_one_all(face: Path) -> None:
    """No logic, no lazy `__getattr__`, nothing defined: imports, `__all__` and a docstring only."""
    tree = ast.parse(face.read_text())
    kinds = {type(node).__name__ for node in tree.body}
    assert kinds <= {"Expr", "ImportFrom", "Import", "Assign"}, kinds
    assigned = [
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    ]
    assert assigned == ["__all__"]
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    exported = set(ast.literal_eval(next(n.value for n in tree.body if isinstance(n, ast.Assign))))
    assert imported - {"annotations"} == exported


@pytest.mark.parametrize("module_name", ["mcpdiag.store", "mcpdiag.store.transfer", "mcpdiag.bundle"])
def test_importing_the_package_loads_no_web_framework(module_name: str) -> None:
    probe = (
        f"import sys, {module_name}; "
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'typer') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
