"""Every test that forks the test process goes through `tests.forking` (under libfaketime a forked Python
child of the threaded test process can hang for good): a function calling `os.fork`, `os.forkpty` or
`pty.fork` also calls `ran_without_faketime`; a program to run is started with `subprocess` instead."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FORKS = {("os", "fork"), ("os", "forkpty"), ("pty", "fork")}


def _unguarded_forks(tree: ast.AST) -> list[int]:
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        calls = [node for node in ast.walk(function) if isinstance(node, ast.Call)]
        forks = [
            call.lineno
            for call in calls
            if isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and (call.func.value.id, call.func.attr) in FORKS
        ]
        guarded = any(getattr(call.func, "id", "") == "ran_without_faketime" for call in calls)
        if forks and not guarded:
            found += forks
    return found


def test_every_fork_of_the_test_process_is_guarded() -> None:
    flagged = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in _unguarded_forks(ast.parse(path.read_text()))
    ]
    assert flagged == []


def test_the_check_sees_an_unguarded_fork() -> None:
    bare = "def test_x():\n    pid = os.fork()\n"
    guarded = (
        "def test_x(request):\n    if ran_without_faketime(request):\n        return\n    pid = os.fork()\n"
    )
    assert _unguarded_forks(ast.parse(bare)) == [2]
    assert _unguarded_forks(ast.parse(guarded)) == []
    assert _unguarded_forks(ast.parse("def f():\n    pty.fork()\n")) == [2]
