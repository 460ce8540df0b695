"""SSE fan-out: 100 open live streams (`GET /api/mcp/{server}/diagnostics/stream`) while 1,000 events/s
are ingested; delivery latency, and the collector's CPU against the same ingest with no stream open.

Run from the repository root: `.venv/bin/python bench/stream_bench.py [--quick] [--json PATH]`.

The API app (ingest and API in one process, uvicorn, SQLite) runs in its own process, as in
`bench/freshness_bench.py`. The bench emits through a host's `Emitter` → `HttpSink` at a steady rate
over 20 servers, noting each event's emit time (`attrs.seq`). Two phases of the same length, one process:

1. the peer: the ingest alone, no stream open;
2. the same ingest with `--streams` streams open, spread evenly over the 20 servers, each a support
   user's (so every event of its server reaches it), read in a separate process (so the readers' parsing
   does not slow the emitting thread); each delivery's latency is its arrival time (CLOCK_MONOTONIC,
   shared by both processes) minus its emit time — emitter batching, HTTP, the pipeline's batch writer,
   SQLite and the stream included.

The collector's CPU is the server process's user + system time (`/proc/<pid>/stat`) over each phase's
ingest. Target: delivery p99 <= 1 s. The CPU figure is reported with its ratio to the no-stream phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench.freshness_bench import ApiServer, new_emitter, percentile, wait_until  # noqa: E402

from mcpdiag.emitters import Emitter  # noqa: E402

TARGET_P99_MS = 1000.0
SERVERS = [f"fanout-{i:02d}" for i in range(20)]
TICK_S = 0.01
DRAIN_S = 5.0
SEQ = re.compile(r'"seq":\s*(\d+)')


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Pacer(threading.Thread):
    """Emits `rate` events/s for `seconds` round-robin over the servers, `attrs.seq` from `first`; notes
    each emit time."""

    def __init__(self, emitter: Emitter, rate: float, seconds: float, first: int) -> None:
        super().__init__(name="bench-pacer", daemon=True)
        self.emitter, self.rate, self.seconds, self.first = emitter, rate, seconds, first
        self.emitted: dict[int, float] = {}
        self.behind_s = 0.0

    def run(self) -> None:
        started = time.monotonic()
        total = int(self.rate * self.seconds)
        n = 0
        while n < total:
            due = min(total, int((time.monotonic() - started) * self.rate) + 1)
            while n < due:
                seq = self.first + n
                self.emitted[seq] = time.monotonic()
                self.emitter.emit(
                    "MCP_TIMEOUT",
                    server=SERVERS[seq % len(SERVERS)],
                    touchpoint="tool_call",
                    user_id=f"user-{seq % 200}",
                    attrs={"seq": seq},
                )
                n += 1
            self.behind_s = max(self.behind_s, time.monotonic() - started - n / self.rate)
            time.sleep(TICK_S)


async def _read_streams(url: str, streams: Sequence[tuple[str, str]], opened: Any, stop: Any) -> list[Any]:
    arrivals: list[tuple[int, int, float]] = []  # (stream, seq, arrival)
    ready = 0

    async def one(i: int, server: str, token: str, client: httpx.AsyncClient) -> None:
        nonlocal ready
        path = f"/api/mcp/{server}/diagnostics/stream"
        async with client.stream("GET", path, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status_code == 200, (response.status_code, await response.aread())
            ready += 1
            if ready == len(streams):
                opened.set()
            async for line in response.aiter_lines():
                if line.startswith("data:") and (found := SEQ.search(line)):
                    arrivals.append((i, int(found.group(1)), time.monotonic()))

    limits = httpx.Limits(max_connections=len(streams) + 1)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30, read=None), limits=limits) as client:
        tasks = [asyncio.create_task(one(i, s, t, client)) for i, (s, t) in enumerate(streams)]
        while not stop.is_set():
            await asyncio.sleep(0.1)
            for task in tasks:
                if task.done() and task.exception():
                    raise task.exception()  # type: ignore[misc]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return arrivals


def read_streams(url: str, streams: Sequence[tuple[str, str]], opened: Any, stop: Any, out: Any) -> None:
    """The readers' process: open every stream, note each delivery until `stop`, hand them to `out`."""
    out.put(asyncio.run(_read_streams(url, streams, opened, stop)))


def phase(server: ApiServer, emitter: Emitter, rate: float, seconds: float, first: int) -> dict[str, Any]:
    """Emit for `seconds`; the server's CPU over it, and the emit times."""
    pacer = Pacer(emitter, rate, seconds, first)
    cpu_before = cpu_s(server.process.pid)
    started = time.monotonic()
    pacer.start()
    pacer.join()
    emitter.flush(30)
    wall = time.monotonic() - started
    cpu = cpu_s(server.process.pid) - cpu_before
    return {"emitted": pacer.emitted, "cpu_s": cpu, "wall_s": wall, "behind_s": pacer.behind_s}


def run(rate: float, seconds: float, streams: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mcpdiag-stream-bench-") as tmp:
        server = ApiServer(Path(tmp))
        ctx = mp.get_context("spawn")
        reader = None
        try:
            emitter = new_emitter(server)
            for name in SERVERS:  # a stream opens only on a server with stored events
                emitter.emit("MCP_CONNECTED", server=name, touchpoint="lifecycle", attrs={"seq": -1})
            emitter.flush(30)
            admin = {"Authorization": f"Bearer {server.token()}"}

            def listed() -> int:
                answer = httpx.get(server.url + "/api/mcp/connection/status", headers=admin)
                return len(answer.json()["connectionStatus"])

            assert wait_until(lambda: listed() >= len(SERVERS), 30), "the servers were not stored"

            alone = phase(server, emitter, rate, seconds, first=0)
            print(f"  no streams: {len(alone['emitted']):,} events, server CPU {alone['cpu_s']:.2f} s")

            tokens = [
                (SERVERS[i % len(SERVERS)], server.token(f"watcher-{i}", roles=("support",)))
                for i in range(streams)
            ]
            opened, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
            reader = ctx.Process(target=read_streams, args=(server.url, tokens, opened, stop, out))
            reader.start()
            assert opened.wait(60), "the streams did not open"
            time.sleep(1.0)  # every stream past its first read
            watched = phase(server, emitter, rate, seconds, first=10_000_000)
            time.sleep(DRAIN_S)
            stop.set()
            arrivals = out.get(timeout=60)
            reader.join(30)
            stats = emitter.stats()
            emitter.close(10)
        finally:
            if reader is not None and reader.is_alive():
                reader.terminate()
            server.stop()
    emitted = watched["emitted"]
    per_server = len(tokens) // len(SERVERS)
    watchers = {name: sum(1 for s, _ in tokens if s == name) for name in SERVERS}
    expected = sum(watchers[SERVERS[seq % len(SERVERS)]] for seq in emitted)
    latencies = [(at - emitted[seq]) * 1000 for _, seq, at in arrivals if seq in emitted]
    return {
        "alone": {k: v for k, v in alone.items() if k != "emitted"} | {"events": len(alone["emitted"])},
        "watched": {k: v for k, v in watched.items() if k != "emitted"} | {"events": len(emitted)},
        "streams": len(tokens),
        "streams_per_server": per_server,
        "expected": expected,
        "delivered": len(latencies),
        "latencies_ms": latencies,
        "dropped": stats.dropped_total,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    parser.add_argument("--streams", type=int, default=100, help="open streams (default 100)")
    parser.add_argument("--quick", action="store_true", help="8 s phases instead of 20 s")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, 8.0) if args.quick else args.seconds
    print(
        f"mcpdiag stream bench: {args.streams} streams, {args.rate:,.0f} events/s, 2 phases of {seconds:g} s"
    )
    r = run(args.rate, seconds, args.streams)
    lat = r["latencies_ms"]
    if not lat:
        raise SystemExit("no event reached a stream")
    p50, p99 = statistics.median(lat), percentile(lat, 99)
    complete = r["delivered"] == r["expected"] and r["dropped"] == 0
    ok = p99 <= TARGET_P99_MS and complete

    def per_k(phase: dict[str, Any]) -> float:
        return float(phase["cpu_s"]) / int(phase["events"]) * 1000

    cpu_alone, cpu_watched = per_k(r["alone"]), per_k(r["watched"])
    print(
        f"  delivery emit → stream: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(lat):.0f} ms; "
        f"{r['delivered']:,} of {r['expected']:,} deliveries, {r['dropped']} dropped by the emitter  "
        f"{'PASS' if ok else 'FAIL'}"
    )
    print(
        f"  server CPU per 1,000 events: {cpu_watched * 1000:.0f} ms with {r['streams']} streams, "
        f"{cpu_alone * 1000:.0f} ms without ({cpu_watched / cpu_alone:.2f}x)"
    )
    how = (
        f"one run: {r['streams']} support streams over 20 servers ({r['streams_per_server']} each) read in "
        f"another process; {args.rate:,.0f} events/s for {seconds:g} s through Emitter → HttpSink → the "
        "API app in its own process (uvicorn, SQLite)"
    )
    figures = [
        {
            "figure": f"SSE delivery emit→stream, {r['streams']} streams @{args.rate:,.0f}/s p50/p99 (ms)",
            "value": [p50, p99],
            "target": f"p99 ≤ {TARGET_P99_MS:.0f} ms, every delivery",
            "peer": None,
            "ratio": None,
            "pass": ok,
            "method": f"{how}; {r['delivered']:,} of {r['expected']:,} deliveries",
        },
        {
            "figure": f"collector CPU per 1k events, {r['streams']} streams vs none (ms)",
            "value": cpu_watched * 1000,
            "target": "",
            "peer": cpu_alone * 1000,
            "ratio": cpu_watched / cpu_alone,
            "pass": None,
            "method": f"{how}; server process utime+stime over each phase's ingest, peer phase first",
        },
    ]
    if args.json:
        run_info = {k: v for k, v in r.items() if k != "latencies_ms"}
        report = {"bench": "stream", "figures": figures, "run": run_info}
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
