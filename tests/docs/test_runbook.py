"""docs/runbook.md, walked for real: every `sh runnable` block, in order, in one bash session in a fresh
deployment directory — configure, start `mcpdiag serve` on loopback (the runbook's own start command), check
it, try a TLS certificate, rotate the ingest key and the HS256 secret, review the audit log, back up,
restore and stop it. The documented ports are swapped for free ones; nothing but loopback is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.rundocs import (
    RUNBOOK,
    free_port,
    missing_tools,
    non_loopback,
    run,
    runnable,
    shell_env,
    stop_pid_files,
)

# The sections a newcomer must be able to do from the runbook alone (issue 21's "done when").
WALKED = ("Start", "TLS", "Health checks", "Rotate an ingest key", "Rotate the HS256 secret",
          "Review the audit log", "SQLite, online", "SQLite, restore", "Shutdown")  # fmt: skip


def test_the_runbook_has_runnable_commands_for_every_walked_section() -> None:
    """Starting, checking, rotating keys, backing up and stopping are all runnable, not just described."""
    headings = {block.heading for block in runnable(RUNBOOK)}
    assert set(WALKED) <= headings, set(WALKED) - headings


def test_runnable_commands_touch_only_loopback() -> None:
    """No runnable block names a host other than 127.0.0.1 / localhost."""
    for block in runnable(RUNBOOK):
        assert not non_loopback(block.code), (block.where, non_loopback(block.code))


def test_the_runbook_walks_through_for_real(tmp_path: Path) -> None:
    """Every runnable block of the runbook succeeds, in order, against the service it starts."""
    if missing := missing_tools():
        pytest.fail(f"the runbook's commands need {', '.join(missing)} (`make test` installs them)")
    deployment = tmp_path / "srv-mcpdiag"
    deployment.mkdir()
    ports = {8000: free_port(), 8443: free_port()}
    try:
        outcome = run(runnable(RUNBOOK), deployment, shell_env(tmp_path), ports)
    finally:
        stop_pid_files(deployment)
    log = deployment / "mcpdiag.log"
    where = outcome.failed.where if outcome.failed else "?"
    assert outcome.returncode == 0, (
        f"stopped in {where} (exit {outcome.returncode})\n--- stderr\n{outcome.stderr[-3000:]}\n"
        f"--- stdout\n{outcome.stdout[-2000:]}\n--- mcpdiag.log\n"
        f"{log.read_text()[-3000:] if log.exists() else '(none)'}"
    )
    text = log.read_text()
    assert "mcpdiag: stopped" in text and "Traceback" not in text
