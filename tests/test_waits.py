"""No test waits for something with a fixed count of short sleeps: a loaded machine outlasts the count and
the test fails for being slow (a scan helper that took more than 10 s to exit did). Such waits use
`tests.waiting.eventually`/`until`, which end as soon as the thing has happened and allow far more time.

A loop over `range(N)` whose body sleeps a literal interval is flagged when N times the interval is under a
minute; a loop sleeping a computed interval (a server's Retry-After) is not a wait of this kind."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SLEEPS = {"sleep": 1.0, "wait_for_timeout": 0.001}  # the call, and its argument's unit in seconds
LONG_ENOUGH_S = 60.0


def _short_waits(tree: ast.AST) -> list[tuple[int, float]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.For | ast.AsyncFor) or not isinstance(node.iter, ast.Call):
            continue
        if getattr(node.iter.func, "id", "") != "range" or not node.iter.args:
            continue
        try:
            count = ast.literal_eval(node.iter.args[-1] if len(node.iter.args) == 1 else node.iter.args[1])
        except ValueError:
            continue
        for call in ast.walk(node):
            if not isinstance(call, ast.Call) or not call.args:
                continue
            name = getattr(call.func, "attr", getattr(call.func, "id", ""))
            if name not in SLEEPS:
                continue
            try:
                interval = float(ast.literal_eval(call.args[0])) * SLEEPS[name]
            except ValueError:
                continue
            if 0 < count * interval < LONG_ENOUGH_S:
                found.append((node.lineno, count * interval))
    return found


def test_no_test_waits_with_a_fixed_count_of_short_sleeps() -> None:
    flagged = [
        f"{path.relative_to(TESTS.parent)}:{line} ({total:g} s in all)"
        for path in sorted(TESTS.rglob("*.py"))
        for line, total in _short_waits(ast.parse(path.read_text()))
    ]
    assert flagged == []


def test_the_check_sees_such_a_wait() -> None:
    source = (
        "async def f():\n    for _ in range(200):\n        if done():\n            break\n"
        "        await asyncio.sleep(0.05)\n"
    )
    assert _short_waits(ast.parse(source)) == [(2, 10.0)]
    retry = "for _ in range(200):\n    time.sleep(float(headers['retry-after']))\n"
    assert _short_waits(ast.parse(retry)) == []


HTTP_CALLS = {"AsyncClient", "Client", "get", "post", "put", "patch", "delete", "request", "stream"}


def _unnamed_bounds(tree: ast.AST) -> list[tuple[int, str]]:
    """httpx clients and requests whose timeout is left to httpx (5 s) or written as a number, and
    `asyncio.wait_for` bounds of one second or more written as a number: each is a guess at how slow a machine
    may be. Patience is `tests.waiting.HTTP_PATIENCE`/`PATIENCE_S`; a bound that is the claim under test has a
    name that says so. A bound under a second is a probe of whether something is already there."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = getattr(node.func.value, "id", "")
        timeout = next((k.value for k in node.keywords if k.arg == "timeout"), None)
        if owner == "httpx" and node.func.attr in HTTP_CALLS:
            if timeout is None or isinstance(timeout, ast.Constant):
                found.append((node.lineno, f"httpx.{node.func.attr}"))
        elif owner == "asyncio" and node.func.attr == "wait_for":
            bound = timeout if timeout is not None else (node.args[1] if len(node.args) > 1 else None)
            if isinstance(bound, ast.Constant) and isinstance(bound.value, int | float) and bound.value >= 1:
                found.append((node.lineno, f"asyncio.wait_for(..., {bound.value})"))
    return found


def test_no_test_guesses_how_long_a_loaded_machine_takes_to_answer() -> None:
    """Two suites on two cores made a 500-event POST outlast httpx's default 5 s, and fifty page walks
    outlast a 50 s bound: the tests failed for being slow, not for being wrong."""
    flagged = [
        f"{path.relative_to(TESTS.parent)}:{line} {what}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, what in _unnamed_bounds(ast.parse(path.read_text()))
    ]
    assert flagged == []


def test_the_check_sees_such_a_bound() -> None:
    source = (
        "httpx.AsyncClient(base_url=url)\nhttpx.get(url, timeout=10)\nhttpx.Client(timeout=HTTP_PATIENCE)\n"
        "asyncio.wait_for(f(), 50)\nasyncio.wait_for(f(), timeout=30)\nasyncio.wait_for(f(), timeout=0.05)\n"
        "asyncio.wait_for(f(), PATIENCE_S)\n"
    )
    assert _unnamed_bounds(ast.parse(source)) == [
        (1, "httpx.AsyncClient"),
        (2, "httpx.get"),
        (4, "asyncio.wait_for(..., 50)"),
        (5, "asyncio.wait_for(..., 30)"),
    ]
