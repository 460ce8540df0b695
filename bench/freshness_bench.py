"""Freshness: time from `emit()` until the event is visible through `GET /api/mcp/{server}/diagnostics`.

Run from the repository root: `.venv/bin/python bench/freshness_bench.py [--seconds 20] [--json PATH]`.

The whole path as deployed: the host's `Emitter` (default batching) → `HttpSink` (gzip JSON) → the API app
(`create_app`, ingest and query in one process, uvicorn, its own interpreter) → batch writer → SQLite →
the diagnostics endpoint. The bench process emits at a steady rate (paced every 10 ms) to 20 load
servers; about `--samples` of those events go to a dedicated probe server instead, their emit time noted.
A poller asks for the probe server's newest 200 events every 20 ms (admin token) and notes when each
probe first shows up, at the arrival of the answer that lists it (so the figure includes the poll's own
latency and up to 20 ms of polling granularity: an upper bound). Target: p99 <= 1 s at 2,000 events/s.
Emitter coalescing and the collector's ingest budgets are off: this measures each event's own way (the
probes are identical failures); `storm_bench.py` measures what they do.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt

from mcpdiag.emitters import Emitter, HttpSink

TARGET_P99_MS = 1000.0
PROBE_SERVER = "freshness-probe"
LOAD_SERVERS = 20
TICK_S = 0.01
POLL_S = 0.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


class ApiServer:
    """The API app under uvicorn in its own process, over a fresh SQLite file in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.ingest_key = "ik_" + secrets.token_hex(16)
        self.jwt_secret = secrets.token_urlsafe(48)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "MCPDIAG_STORE_URL": f"sqlite:///{directory / 'events.db'}",
            "MCPDIAG_SPOOL_DIR": str(directory / "spool"),
            "MCPDIAG_INGEST_KEYS": self.ingest_key,
            "MCPDIAG_JWT_SECRET": self.jwt_secret,
            # Steady load, not a storm: every event stored as sent (`storm_bench.py` measures budgets).
            "MCPDIAG_SERVER_BUDGET_PER_S": "0",
            "MCPDIAG_KEY_BUDGET_PER_S": "0",
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", "mcpdiag.api.app:create_app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
        self.process = subprocess.Popen(
            command, env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the API server did not start")
            time.sleep(0.05)

    def token(self, sub: str = "bench-admin", *, roles: Sequence[str] = ("admin",)) -> str:
        """A one-hour HS256 token for `sub` (admin by default)."""
        claims = {"sub": sub, "roles": list(roles), "mcp_servers": "*", "exp": int(time.time()) + 3600}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def rss_mb(self) -> float:
        """The server process's resident set size (`VmRSS`), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Pacer(threading.Thread):
    """Emits `rate` events/s for `seconds` from one thread, round-robin over `emitters`; every `every`-th
    event is a probe."""

    def __init__(self, emitters: Sequence[Emitter], rate: float, seconds: float, every: int) -> None:
        super().__init__(name="bench-pacer", daemon=True)
        self.emitters = list(emitters)  # several: hosts of one service, each with its own worker
        self.rate = rate
        self.seconds = seconds
        self.every = every  # 0: no probes
        self.probes: dict[str, float] = {}
        self.emitted = 0
        self.behind_s = 0.0

    def run(self) -> None:
        started = time.monotonic()
        total = int(self.rate * self.seconds)
        while self.emitted < total:
            due = min(total, int((time.monotonic() - started) * self.rate) + 1)
            while self.emitted < due:
                i = self.emitted
                emitter = self.emitters[i % len(self.emitters)]
                if self.every and i % self.every == self.every // 2:
                    at = time.monotonic()
                    trace_id = emitter.emit(
                        "MCP_TIMEOUT", server=PROBE_SERVER, touchpoint="tool_call", attrs={"seq": i}
                    )
                    self.probes[trace_id] = at
                else:
                    emitter.emit(
                        "MCP_TIMEOUT",
                        server=f"load-{i % LOAD_SERVERS}",
                        touchpoint="tool_call",
                        user_id=f"user-{i % 200}",
                        attrs={"seq": i},
                    )
                self.emitted += 1
            self.behind_s = max(self.behind_s, time.monotonic() - started - self.emitted / self.rate)
            time.sleep(TICK_S)


class Poller(threading.Thread):
    """Polls the probe server's newest events; notes when each trace id first shows up."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(name="bench-poller", daemon=True)
        self.client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=10)
        self.seen: dict[str, float] = {}
        self.errors = 0
        self.polls = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(POLL_S):
            try:
                response = self.client.get(f"/api/mcp/{PROBE_SERVER}/diagnostics", params={"limit": 200})
            except httpx.HTTPError:
                self.errors += 1
                continue
            arrived = time.monotonic()
            self.polls += 1
            if response.status_code == 404:  # nothing of the probe server stored yet
                continue
            if response.status_code != 200:
                self.errors += 1
                continue
            for item in response.json()["items"]:
                self.seen.setdefault(item["traceId"], arrived)
        self.client.close()


def new_emitter(server: ApiServer) -> Emitter:
    """The host's emitter as an application would configure it (default queue and batching)."""
    # Every probe must arrive as itself: no coalescing of the (identical) probe failures.
    return Emitter(HttpSink(server.url, api_key=server.ingest_key), service="bench-host", coalesce_window=0)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run(seconds: float, rate: float, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mcpdiag-freshness-") as tmp:
        server = ApiServer(Path(tmp))
        try:
            emitter = new_emitter(server)
            poller = Poller(server.url, server.token())
            pacer = Pacer([emitter], rate, seconds, every=max(1, int(rate * seconds / samples)))
            poller.start()
            pacer.start()
            pacer.join()
            emitter.flush(30)
            wait_until(lambda: set(pacer.probes) <= set(poller.seen), 10)
            poller.stop.set()
            poller.join(15)
            stats = emitter.stats()
            emitter.close(10)
        finally:
            server.stop()
    latencies = [(poller.seen[t] - at) * 1000 for t, at in pacer.probes.items() if t in poller.seen]
    return {
        "latencies_ms": latencies,
        "probes": len(pacer.probes),
        "unseen": len(pacer.probes) - len(latencies),
        "emitted": pacer.emitted,
        "pacer_behind_s": pacer.behind_s,
        "dropped": stats.dropped_total,
        "poll_errors": poller.errors,
        "polls": poller.polls,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to emit (default 20)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second (default 2000)")
    parser.add_argument("--samples", type=int, default=200, help="probe events (default 200)")
    parser.add_argument("--quick", action="store_true", help="10 s instead of 20 s")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 10.0) if args.quick else args.seconds
    print(f"mcpdiag freshness bench: {args.rate:,.0f} events/s for {seconds:g} s, {args.samples} probes")
    r = run(seconds, args.rate, args.samples)
    lat = r["latencies_ms"]
    if not lat:
        raise SystemExit("no probe event became visible")
    p50, p99 = statistics.median(lat), percentile(lat, 99)
    ok = p99 <= TARGET_P99_MS and r["unseen"] == 0 and r["dropped"] == 0
    print(
        f"  emit → visible via GET /api/mcp/…/diagnostics: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(lat):.0f} ms over {len(lat)} probes  target p99 ≤ {TARGET_P99_MS:.0f} ms  "
        f"{'PASS' if ok else 'FAIL'}"
    )
    print(
        f"  emitted {r['emitted']:,} events (pacer at most {r['pacer_behind_s'] * 1000:.0f} ms behind), "
        f"dropped {r['dropped']}, probes never seen {r['unseen']}, {r['polls']:,} polls, "
        f"{r['poll_errors']} poll errors"
    )
    method = (
        f"{len(lat)} probe events among {r['emitted']:,} emitted at {args.rate:,.0f}/s for {seconds:g} s "
        f"(one run); emit() → HttpSink → API app in its own process (uvicorn, SQLite) → visible in a "
        f"diagnostics poll every {POLL_S * 1000:.0f} ms (answer arrival time: an upper bound)"
    )
    figure = {
        "figure": f"freshness emit→visible @{args.rate:,.0f}/s p50/p99 (ms)",
        "value": [p50, p99],
        "target": f"p99 ≤ {TARGET_P99_MS:.0f} ms",
        "peer": None,
        "ratio": None,
        "pass": ok,
        "method": method,
    }
    if args.json:
        report = {
            "bench": "freshness",
            "figures": [figure],
            "run": {k: v for k, v in r.items() if k != "latencies_ms"},
        }
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
