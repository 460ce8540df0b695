"""The API app (`create_app`: query routes and ingest) under uvicorn in its own process, configured through
the environment like a deployment: its own interpreter, so the test's clients do not share its GIL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.servers import free_port
from tests.waiting import PROBE_S


@dataclass
class ApiProcess:
    """A running API server over a SQLite file in `directory`."""

    process: subprocess.Popen[bytes]
    url: str
    db: Path

    @classmethod
    def start(cls, directory: Path, *, ingest_key: str, jwt_secret: str, timeout: float = 30.0) -> ApiProcess:
        """Launch it and wait until `/healthz` answers."""
        port = free_port()
        db = directory / "events.db"
        env = {
            **os.environ,
            "MCPDIAG_STORE_URL": f"sqlite:///{db}",
            "MCPDIAG_SPOOL_DIR": str(directory / "spool"),
            "MCPDIAG_INGEST_KEYS": ingest_key,
            "MCPDIAG_JWT_SECRET": jwt_secret,
            # Every event stored one by one (the ingest budgets, which merge storms, are tested on their own).
            "MCPDIAG_SERVER_BUDGET_PER_S": "0",
            "MCPDIAG_KEY_BUDGET_PER_S": "0",
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", "mcpdiag.api.app:create_app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
        process = subprocess.Popen(
            command, env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server = cls(process, f"http://127.0.0.1:{port}", db)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(server.url + "/healthz", timeout=PROBE_S).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
