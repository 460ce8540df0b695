"""The standalone collector in its own process, over a SQLite file whose writes fail while a marker file
exists (the boundary we fake), and the parent's handle on it.

Child:  `python -m tests.e2e.collector_process DB SPOOL MARKER KEY` serves `create_collector_app` under
uvicorn on a free loopback port and prints that port on its first line of stdout.
Parent: `CollectorProcess.start(...)` launches it, waits for `/healthz`; `.kill()` sends SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.waiting import HTTP_PATIENCE, PROBE_S

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> None:
    """Serve the collector over `DB` (failing while `MARKER` exists) with its spool in `SPOOL`."""
    import uvicorn

    from mcpdiag.collector import CollectorSettings, create_collector_app
    from mcpdiag.store import SQLiteEventStore
    from tests.collector.support import OutageStore

    db, spool, marker, key = argv

    class MarkerOutageStore(OutageStore):
        """Down while the marker file exists; like `OutageStore`, every other failing write commits first."""

        @property
        def down(self) -> bool:
            return os.path.exists(marker)

    # Every event stored one by one: what is measured here is the per-event path (the ingest budgets, which
    # merge a storm into summary events, are off; tests/collector/test_storm.py covers them).
    settings = CollectorSettings(
        _env_file=None,
        store_url=f"sqlite:///{db}",
        spool_dir=Path(spool),
        ingest_keys=frozenset({key}),
        server_budget_per_s=0,
        key_budget_per_s=0,
    )
    store = MarkerOutageStore(SQLiteEventStore(db))
    app = create_collector_app(settings, store, replay_backoff=(0.02, 0.2))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    # The collector logs JSON lines to stdout, which nobody reads past the port: a full pipe would block it.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class CollectorProcess:
    """A running child collector: its process and base URL."""

    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, db: Path, spool: Path, marker: Path, key: str, timeout: float = 30.0) -> CollectorProcess:
        """Launch the child and wait until its `/healthz` answers (it replays the spool before that)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.collector_process", str(db), str(spool), str(marker), key],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.isdigit():
            process.kill()
            process.wait(10)
            raise RuntimeError(f"the collector child did not report its port (got {line!r})")
        child = cls(process, f"http://127.0.0.1:{line}")
        deadline = time.monotonic() + timeout
        while not child.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                child.kill()
                raise RuntimeError("the collector child did not become healthy")
            time.sleep(0.05)
        return child

    def health(self) -> dict[str, Any]:
        """The child's `/healthz` answer."""
        body: dict[str, Any] = httpx.get(self.url + "/healthz", timeout=HTTP_PATIENCE).json()
        return body

    def healthy(self) -> bool:
        """Whether `/healthz` answers 200."""
        try:
            return httpx.get(self.url + "/healthz", timeout=PROBE_S).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no drain, no flush."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (a graceful uvicorn shutdown), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


if __name__ == "__main__":
    main(sys.argv[1:])
