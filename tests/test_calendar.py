"""The suite does not depend on the calendar: the date-sensitive modules pass 40 days ahead and a year back.

They run in a child pytest under libfaketime (Debian's `faketime`, installed by `make test`), which moves
the wall clock of every process the tests start — the app, uvicorn, mongomock's TTL monitor, the CLI.
`make test-calendar` runs the whole suite the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.forking import without_faketime

ROOT = Path(__file__).resolve().parents[1]
SHIM_SOURCE = ROOT / "tests" / "calendar" / "monotonic_sleep.c"
# Every module whose fixtures carry timestamps into a store, a bundle window, retention or ingest.
DATE_SENSITIVE = (
    "tests/store/test_store_conformance.py",
    "tests/collector/test_otlp.py",
    "tests/api/test_clock.py",
    "tests/bundle/test_bundle.py",
    "tests/api/test_bundle_http.py",
    "tests/bundle/test_bundle_analysis.py",
    "tests/api/test_diagnostics.py",
    "tests/api/test_status.py",
    "tests/api/test_debug.py",
)


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler is needed to build the faketime shim"
    out = tmp_path_factory.mktemp("faketime") / "monotonic_sleep.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIM_SOURCE)], check=True)
    return out


@pytest.mark.parametrize("offset", ["+40 days", "-1 year"])
def test_date_sensitive_modules_pass_with_the_wall_clock_moved(shim: Path, offset: str) -> None:
    faketime = shutil.which("faketime")
    assert faketime, "Debian's faketime is missing: `make test` installs it"
    # Start from this process's environment without any libfaketime of its own (`faketime ... make test`
    # runs this suite under one already): the offsets below are from the real date.
    clean = without_faketime()
    env = {**clean, "FAKETIME_DONT_FAKE_MONOTONIC": "1", "LD_PRELOAD": str(shim)}
    today = [sys.executable, "-c", "import datetime; print(datetime.date.today())"]
    moved = subprocess.run([faketime, offset, *today], env=env, capture_output=True, text=True, check=True)
    real = subprocess.run(today, env=clean, capture_output=True, text=True, check=True)
    assert moved.stdout != real.stdout, "faketime did not move the clock"
    run = subprocess.run(
        [faketime, offset, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DATE_SENSITIVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1] and "skipped" not in run.stdout.splitlines()[-1]


def test_browser_tests_start_page_clocks_at_our_now() -> None:
    """Under libfaketime the browser keeps the real clock: a page's fake timers must start at this process's
    "now" (`clock.install(time=...)`), or the page asks a faked app for the wrong hours. Contexts get it from
    the `browser` fixture; this catches an install without a time."""
    ui = Path(__file__).resolve().parent / "ui"
    bare = [
        f"{path.name}:{number}"
        for path in sorted(ui.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "clock.install(" in line and "time=" not in line
    ]
    assert bare == []
