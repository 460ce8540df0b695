"""Reconnect storm: 2,000 users failing against one dead server every 2 s, next to 20 healthy servers.

Run from the repository root: `.venv/bin/python bench/storm_bench.py [--seconds 120] [--json PATH]`
(`--quick`: 20 s runs).

The whole path as deployed: real `Emitter` → `HttpSink` pairs in this process (10 storm hosts with 200 users
each, 2 healthy hosts), the service (`create_app`: the collector and the API in one process, uvicorn,
SQLite, its own interpreter). Every user of the dead server fails `MCP_CONNECTION_REFUSED` every 2 s
(paced, spread evenly: 1,000 failures/s), while the healthy hosts send normal traffic (connects, tool
errors, disconnects: 2 events/s per healthy server) and a query client pages a healthy server's
diagnostics every 100 ms (admin token). Three runs, each on a fresh store and service:

  baseline   healthy traffic only, default settings: the query latency without a storm
  storm      the storm with the defaults (emitter coalescing 10 s, collector budgets)
  uncoalesced the storm with `coalesce_window=0` and the budgets off (`MCPDIAG_*_BUDGET_PER_S=0`)

Figures: the dead server's stored rows (storm / uncoalesced, target ≤ 1/50); the occurrences stored
(`sum(n)`, the `count` of every row) against the failures emitted, per server (target: exactly equal);
the healthy server's query p99 during the storm against the baseline (target ≤ 2x); 503 answers to the
healthy hosts (target 0).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import jwt

from mcpdiag.emitters import Emitter, HttpSink
from mcpdiag.emitters.sinks import SinkResult

DEAD = "dead-server"
USERS = 2000
STORM_HOSTS = 10
PERIOD_S = 2.0
HEALTHY = 20
HEALTHY_RATE = 2.0
"""Events a second per healthy server."""
HEALTHY_USERS = 50
QUERY_EVERY_S = 0.1
TICK_S = 0.01
NO_BUDGET = {"MCPDIAG_SERVER_BUDGET_PER_S": "0", "MCPDIAG_KEY_BUDGET_PER_S": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


class Service:
    """`create_app` under uvicorn in its own process, over a fresh SQLite file in `directory`."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.ingest_key = "ik_" + secrets.token_hex(16)
        self.jwt_secret = secrets.token_hex(32)
        self.url = f"http://127.0.0.1:{free_port()}"
        full_env = {
            **os.environ,
            "MCPDIAG_STORE_URL": f"sqlite:///{directory / 'events.db'}",
            "MCPDIAG_SPOOL_DIR": str(directory / "spool"),
            "MCPDIAG_INGEST_KEYS": self.ingest_key,
            "MCPDIAG_JWT_SECRET": self.jwt_secret,
            **env,
        }
        port = self.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "uvicorn", "--factory", "mcpdiag.api.app:create_app"]
        command += ["--host", "127.0.0.1", "--port", port, "--no-access-log", "--log-level", "warning"]
        self.process = subprocess.Popen(
            command, env=full_env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
                raise SystemExit("the service did not start")
            time.sleep(0.05)

    def token(self) -> str:
        """A one-hour admin token."""
        expires = int(time.time()) + 3600
        claims = {"sub": "bench-admin", "roles": ["admin"], "mcp_servers": "*", "exp": expires}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def metrics(self) -> dict[str, float]:
        """The `mcpdiag_*` samples of `/metrics` this bench reports (summed over labels)."""
        wanted = (
            "mcpdiag_events_over_budget_total",
            "mcpdiag_events_coalesced_total",
            "mcpdiag_budget_summaries_total",
            "mcpdiag_events_stored_total",
        )
        totals: Counter[str] = Counter()
        for line in httpx.get(self.url + "/metrics", timeout=10).text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in wanted:
                totals[name] += float(line.rsplit(" ", 1)[1])
        return dict(totals)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class CountingHttpSink(HttpSink):
    """`HttpSink` that counts the collector's answers by status (every attempt, retries included)."""

    def __init__(self, url: str, *, api_key: str) -> None:
        super().__init__(url, api_key=api_key)
        self.statuses: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _post(self, body: bytes) -> SinkResult:
        result = super()._post(body)
        with self._lock:
            self.statuses[result.error or "202"] += 1
        return result


class Pacer(threading.Thread):
    """Calls `emit(i)` `rate` times a second for `seconds`, paced every 10 ms."""

    def __init__(self, name: str, rate: float, seconds: float, emit: Callable[[int], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.rate, self.seconds, self.emit = rate, seconds, emit
        self.emitted = 0
        self.behind_s = 0.0

    def run(self) -> None:
        started = time.monotonic()
        total = int(self.rate * self.seconds)
        while self.emitted < total:
            due = min(total, int((time.monotonic() - started) * self.rate) + 1)
            while self.emitted < due:
                self.emit(self.emitted)
                self.emitted += 1
            self.behind_s = max(self.behind_s, time.monotonic() - started - self.emitted / self.rate)
            time.sleep(TICK_S)


class Querier(threading.Thread):
    """Pages `healthy-0`'s diagnostics every 100 ms; the latency of each answer."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(name="bench-querier", daemon=True)
        self.client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30)
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(QUERY_EVERY_S):
            started = time.perf_counter()
            try:
                answer = self.client.get("/api/mcp/healthy-0/diagnostics", params={"limit": 50})
            except httpx.HTTPError:
                self.errors += 1
                continue
            if answer.status_code == 404:  # nothing of the server stored yet
                continue
            if answer.status_code != 200:
                self.errors += 1
                continue
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.client.close()


HEALTHY_CODES = (
    ("MCP_CONNECTED", "lifecycle", None),
    ("MCP_TOOL_ERROR", "tool_call", "search"),
    ("MCP_TOOL_ERROR", "tool_call", "create_issue"),
    ("MCP_DISCONNECTED", "lifecycle", None),
)


def run(mode: str, seconds: float) -> dict[str, Any]:
    """One run: `baseline`, `storm` or `uncoalesced`."""
    storm = mode != "baseline"
    coalesce = mode != "uncoalesced"
    with tempfile.TemporaryDirectory(prefix=f"mcpdiag-storm-{mode}-") as tmp:
        service = Service(Path(tmp), {} if coalesce else NO_BUDGET)
        try:
            window = {} if coalesce else {"coalesce_window": 0}

            def host(name: str) -> tuple[Emitter, CountingHttpSink]:
                sink = CountingHttpSink(service.url, api_key=service.ingest_key)
                return Emitter(sink, service=name, **window), sink  # type: ignore[arg-type]

            storm_hosts = [host(f"storm-host-{n}") for n in range(STORM_HOSTS)]
            healthy_hosts = [host(f"healthy-host-{n}") for n in range(2)]
            emitted: Counter[str] = Counter()
            lock = threading.Lock()

            def fail(i: int) -> None:
                user = i % USERS
                storm_hosts[user % STORM_HOSTS][0].emit(
                    "MCP_CONNECTION_REFUSED",
                    server=DEAD,
                    touchpoint="connect",
                    user_id=f"user-{user}",
                    transport="streamable-http",
                    detail="ConnectError: [Errno 111] Connection refused (connect to 10.0.0.7:8080)",
                )

            def healthy(i: int) -> None:
                server = f"healthy-{i % HEALTHY}"
                code, touchpoint, tool = HEALTHY_CODES[(i // HEALTHY) % len(HEALTHY_CODES)]
                healthy_hosts[i % 2][0].emit(
                    code,
                    server=server,
                    touchpoint=touchpoint,
                    tool=tool,
                    user_id=f"h-user-{(i // HEALTHY) % HEALTHY_USERS}",
                )
                with lock:
                    emitted[server] += 1

            pacers = [Pacer("healthy", HEALTHY * HEALTHY_RATE, seconds, healthy)]
            if storm:
                pacers.append(Pacer("storm", USERS / PERIOD_S, seconds, fail))
            querier = Querier(service.url, service.token())
            started = time.monotonic()
            for pacer in pacers:
                pacer.start()
            querier.start()
            for pacer in pacers:
                pacer.join()
            querier.stop.set()
            querier.join(30)
            for emitter, _ in storm_hosts + healthy_hosts:
                emitter.close(120)  # delivers what is queued and every repeat a window holds
            wall = time.monotonic() - started
            metrics = service.metrics()
        finally:
            service.stop()
        with closing(sqlite3.connect(Path(tmp) / "events.db")) as db:
            stored = {
                server: (rows, occurrences)
                for server, rows, occurrences in db.execute(
                    "SELECT server, count(*), sum(n) FROM events GROUP BY server"
                )
            }
    if storm:
        emitted[DEAD] = pacers[1].emitted
    stats = [emitter.stats() for emitter, _ in storm_hosts + healthy_hosts]
    healthy_statuses: Counter[str] = sum((sink.statuses for _, sink in healthy_hosts), Counter())
    storm_statuses: Counter[str] = sum((sink.statuses for _, sink in storm_hosts), Counter())
    return {
        "mode": mode,
        "seconds": seconds,
        "wall_s": wall,
        "emitted": dict(emitted),
        "stored": {server: {"rows": r, "occurrences": o} for server, (r, o) in stored.items()},
        "query_ms": querier.latencies_ms,
        "query_errors": querier.errors,
        "healthy_statuses": dict(healthy_statuses),
        "storm_statuses": dict(storm_statuses),
        "dropped": sum(s.dropped_total for s in stats),
        "coalesced_at_emitters": sum(s.coalesced for s in stats),
        "pacer_behind_s": max(p.behind_s for p in pacers),
        "metrics": metrics,
    }


def exact(run: dict[str, Any]) -> bool:
    """Every server's stored occurrences equal the events emitted to it."""
    stored = run["stored"]
    return all(stored.get(server, {}).get("occurrences", 0) == n for server, n in run["emitted"].items())


def summarize(run: dict[str, Any]) -> str:
    stored = run["stored"]
    dead = stored.get(DEAD, {"rows": 0, "occurrences": 0})
    healthy_rows = sum(v["rows"] for k, v in stored.items() if k != DEAD)
    lat = run["query_ms"]
    emitted = run["emitted"]
    return (
        f"  {run['mode']:12} emitted {sum(emitted.values()):,} ({emitted.get(DEAD, 0):,} to the dead server) "
        f"in {run['wall_s']:.0f} s; dead server {dead['rows']:,} rows / {dead['occurrences']:,} occurrences; "
        f"healthy servers {healthy_rows:,} rows; query p50 {statistics.median(lat):.1f} ms p99 "
        f"{percentile(lat, 99):.1f} ms ({len(lat)} queries, {run['query_errors']} errors); healthy hosts' "
        f"answers {run['healthy_statuses']}, storm hosts' {run['storm_statuses']}; emitter drops "
        f"{run['dropped']}, coalesced at emitters {run['coalesced_at_emitters']:,}; "
        f"collector {run['metrics']}"
    )


def figure(name: str, value: Any, target: str, ok: bool, method: str, **extra: Any) -> dict[str, Any]:
    return {
        "figure": name,
        "value": value,
        "target": target,
        "peer": extra.get("peer"),
        "ratio": extra.get("ratio"),
        "pass": ok,
        "method": method,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each run (default 120)")
    parser.add_argument("--quick", action="store_true", help="20 s runs")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 20.0) if args.quick else args.seconds
    print(
        f"mcpdiag storm bench: {USERS:,} users every {PERIOD_S:g} s against one dead server, {HEALTHY} "
        f"healthy servers, {seconds:g} s per run"
    )
    runs = {}
    for mode in ("baseline", "storm", "uncoalesced"):
        runs[mode] = run(mode, seconds)
        print(summarize(runs[mode]), flush=True)
    storm, off, base = runs["storm"], runs["uncoalesced"], runs["baseline"]
    rows_on = storm["stored"][DEAD]["rows"]
    rows_off = off["stored"][DEAD]["rows"]
    all_on = sum(v["rows"] for v in storm["stored"].values())
    all_off = sum(v["rows"] for v in off["stored"].values())
    p99_storm, p99_base = percentile(storm["query_ms"], 99), percentile(base["query_ms"], 99)
    refused = sum(n for status, n in storm["healthy_statuses"].items() if "503" in status)
    how = (
        f"one run each, {seconds:g} s: {USERS:,} users x 1 failure / {PERIOD_S:g} s through "
        f"{STORM_HOSTS} Emitter+HttpSink hosts, {HEALTHY} healthy servers x {HEALTHY_RATE:g} events/s "
        "through 2 hosts; create_app under uvicorn in its own process, SQLite"
    )
    figures = [
        figure(
            "storm: dead server's stored rows, coalesced / not",
            [rows_on, rows_off],
            "ratio ≤ 1/50",
            rows_on * 50 <= rows_off,
            how + "; rows counted in the SQLite file after the run",
            peer=rows_off,
            ratio=rows_on / rows_off if rows_off else None,
        ),
        figure(
            "storm: all stored rows, coalesced / not",
            [all_on, all_off],
            "",
            None,
            how,
            peer=all_off,
            ratio=all_on / all_off if all_off else None,
        ),
        figure(
            "storm: occurrences stored = failures emitted (dead server)",
            [storm["stored"][DEAD]["occurrences"], storm["emitted"][DEAD]],
            "exactly equal, every server",
            exact(storm) and exact(off) and exact(base),
            "sum(n) (each row's count) per server against the events emitted to it, in every run",
        ),
        figure(
            "storm: healthy server query p99 during / without the storm (ms)",
            [p99_storm, p99_base],
            "≤ 2x",
            p99_storm <= 2 * p99_base,
            f"GET /api/mcp/healthy-0/diagnostics?limit=50 every {QUERY_EVERY_S * 1000:.0f} ms, "
            f"{len(storm['query_ms'])} / {len(base['query_ms'])} queries; " + how,
            peer=p99_base,
            ratio=p99_storm / p99_base,
        ),
        figure(
            "storm: 503 answers to the healthy servers' hosts",
            refused,
            "0",
            refused == 0,
            "every HttpSink attempt's answer, retries included",
        ),
    ]
    for f in figures:
        verdict = "" if f["pass"] is None else ("PASS" if f["pass"] else "FAIL")
        print(f"  {f['figure']}: {f['value']}  target {f['target'] or '-'}  {verdict}")
    if args.json:
        report = {
            "bench": "storm",
            "figures": figures,
            "runs": {mode: {k: v for k, v in r.items() if k != "query_ms"} for mode, r in runs.items()},
        }
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0 if all(f["pass"] is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
