"""Tests that fork the test process.

Under libfaketime (`faketime '+40 days' make test`) a forked child can hang for good: libfaketime wraps
`pthread_cond_init` with a lock, another thread of the test process may hold it at the moment of the fork,
and the child never gets it back (seen: the child stuck recreating the GIL in `PyOS_AfterFork_Child`). A
forking test needs no date, so under libfaketime it runs again in a fresh interpreter without it, and
passes only if that run passes. Either way a child is waited for with a bound: a hang fails, it does not
stop the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_RERUN = "MCPDIAG_TEST_FORK_RERUN"
CHILD_PATIENCE_S = 120.0


def faked(name: str) -> bool:
    """Whether an environment variable belongs to libfaketime (`faketime … make test` runs under it)."""
    return name == "LD_PRELOAD" or name.startswith("FAKETIME")


def without_faketime() -> dict[str, str]:
    """This process's environment without libfaketime."""
    return {k: v for k, v in os.environ.items() if not faked(k)}


def ran_without_faketime(request: pytest.FixtureRequest) -> bool:
    """Under libfaketime: run this test in a fresh interpreter without it, assert that it passed, and say
    True (the caller returns). Otherwise False: the caller runs its body here."""
    if "faketime" not in os.environ.get("LD_PRELOAD", "") or os.environ.get(_RERUN):
        return False
    env = without_faketime() | {_RERUN: "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return True


def wait_child(pid: int, timeout: float = CHILD_PATIENCE_S) -> int:
    """The exit code of the forked child `pid`; killed and failed if it has not exited within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"the forked child {pid} did not exit within {timeout:g} s")
        time.sleep(0.01)
