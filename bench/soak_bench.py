"""Soak: minutes of steady ingest plus concurrent queries against the API app; memory, latency, errors.

Run from the repository root: `.venv/bin/python bench/soak_bench.py [--seconds 300] [--json PATH]`
(`--quick` = 30 s). Not part of CI.

The harness of `bench/freshness_bench.py`: the API app (`create_app`, uvicorn, SQLite) in its own process;
this process emits `--rate` events/s (default 3,000) through `--hosts` real `Emitter` → `HttpSink` pairs
(default 3, as if from three host processes; each ships its batches one at a time), and 10
concurrent query clients make `--qps` requests/s in all (default 50): a user-scoped page of a server's
diagnostics (half of them also fetching the next page with its cursor) or a server's 1 h summary,
each with its own user's token. Sampled every 5 s: the server process's `VmRSS`.

Verdicts: RSS growth after warm-up (the first third, at most 60 s) <= 10 % (median of the last three samples
against the median of the first three after warm-up); query p99 stable (the last window's p99 <= 2x the
first window's after warm-up; windows of 60 s, or a quarter of the run when it is short); zero errors
(a non-200 answer, a failed request, an event the emitter dropped or the collector rejected).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from freshness_bench import LOAD_SERVERS, ApiServer, Pacer, new_emitter, percentile

RSS_GROWTH_TARGET = 0.10
P99_STABILITY = 2.0
CLIENTS = 10
RSS_EVERY_S = 5.0


@dataclass
class Observations:
    queries: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since start, latency ms) of each successful query."""
    errors: list[str] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since start, MB)."""


async def query_client(
    server: ApiServer,
    tokens: list[str],
    qps: float,
    until: float,
    started: float,
    seed: int,
    seen: Observations,
) -> None:
    """One client at `qps` requests/s on an absolute schedule (a slow answer does not lower the rate)."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        n = 0
        while (now := time.monotonic()) < until:
            n += 1
            await asyncio.sleep(max(0.0, started + n / qps - now))
            headers = {"authorization": f"Bearer {rng.choice(tokens)}"}
            target = f"load-{rng.randrange(LOAD_SERVERS)}"
            kind = rng.random()
            path = f"/api/mcp/{target}/summary" if kind < 0.2 else f"/api/mcp/{target}/diagnostics"
            params: dict[str, Any] = {"window": "1h"} if kind < 0.2 else {"limit": 50}
            for _ in range(2 if kind > 0.6 else 1):
                began = time.monotonic()
                try:
                    response = await client.get(path, params=params, headers=headers)
                except httpx.HTTPError as exc:
                    seen.errors.append(f"query {path}: {type(exc).__name__}")
                    break
                if response.status_code != 200:
                    seen.errors.append(f"query {path}: HTTP {response.status_code} {response.text[:120]}")
                    break
                seen.queries.append((began - started, (time.monotonic() - began) * 1000))
                cursor = response.json().get("nextCursor")
                if not cursor:
                    break
                params = {"limit": 50, "cursor": cursor}


async def sample_rss(server: ApiServer, until: float, started: float, seen: Observations) -> None:
    while (now := time.monotonic()) < until:
        seen.rss.append((now - started, server.rss_mb()))
        await asyncio.sleep(RSS_EVERY_S)
    seen.rss.append((time.monotonic() - started, server.rss_mb()))


async def drive(server: ApiServer, seconds: float, qps: float, seen: Observations) -> None:
    tokens = [server.token(f"user-{i}", roles=()) for i in range(200)]
    started = time.monotonic()
    until = started + seconds
    await asyncio.gather(
        sample_rss(server, until, started, seen),
        *(query_client(server, tokens, qps / CLIENTS, until, started, i, seen) for i in range(CLIENTS)),
    )


def windows(
    queries: list[tuple[float, float]], start: float, end: float, width: float
) -> list[tuple[float, float, int]]:
    """(window start s, p99 ms, count) of each whole window of queries between `start` and `end`."""
    out = []
    edge = start
    while edge + width <= end + 1e-6:
        batch = [ms for t, ms in queries if edge <= t < edge + width]
        if batch:
            out.append((edge, percentile(batch, 99), len(batch)))
        edge += width
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0, help="duration (default 300)")
    parser.add_argument("--rate", type=float, default=3000.0, help="ingest events/s (default 3000)")
    parser.add_argument("--hosts", type=int, default=3, help="emitters sharing the rate (default 3)")
    parser.add_argument("--qps", type=float, default=50.0, help="queries/s over all clients (default 50)")
    parser.add_argument("--quick", action="store_true", help="30 s")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    seconds = 30.0 if args.quick else args.seconds
    warmup = min(60.0, seconds / 3)
    width = 60.0 if seconds >= 180 else (seconds - warmup) / 4
    print(
        f"mcpdiag soak: {args.rate:,.0f} events/s from {args.hosts} emitters + {args.qps:g} queries/s "
        f"for {seconds:g} s "
        f"(warm-up {warmup:g} s, latency windows of {width:g} s)"
    )
    seen = Observations()
    with tempfile.TemporaryDirectory(prefix="mcpdiag-soak-") as tmp:
        server = ApiServer(Path(tmp))
        try:
            emitters = [new_emitter(server) for _ in range(args.hosts)]
            # Every queried server exists before the first query (an unknown server is a 404, by design).
            for n in range(LOAD_SERVERS):
                emitters[0].emit("MCP_CONNECTED", server=f"load-{n}", touchpoint="lifecycle")
            emitters[0].flush(30)
            pacer = Pacer(emitters, args.rate, seconds, every=0)
            pacer.start()
            asyncio.run(drive(server, seconds, args.qps, seen))
            pacer.join()
            for emitter in emitters:
                if not emitter.flush(60):
                    seen.errors.append("an emitter did not drain within 60 s after the run")
                emitter.close(10)
            every = [emitter.stats() for emitter in emitters]
            stored = httpx.get(server.url + "/metrics", timeout=10).text
        finally:
            server.stop()
    for i, stats in enumerate(every):
        if stats.dropped_total or stats.rejected or stats.failed_batches:
            seen.errors.append(
                f"emitter {i}: {stats.dropped_total} dropped, {stats.rejected} rejected, "
                f"{stats.failed_batches} failed batches"
            )
    stored_count = next(
        (
            float(line.split()[-1])
            for line in stored.splitlines()
            if line.startswith("mcpdiag_events_stored_total")
        ),
        0.0,
    )

    print("  RSS of the server process:")
    step = max(1, len(seen.rss) // 12)
    for t, mb in seen.rss[::step]:
        print(f"    {t:6.0f} s  {mb:7.1f} MB")
    after = [mb for t, mb in seen.rss if t >= warmup]
    base, last = statistics.median(after[:3]), statistics.median(after[-3:])
    growth = (last - base) / base
    print(f"  RSS after warm-up: {base:.1f} → {last:.1f} MB, growth {growth * 100:+.1f} % (target ≤ +10 %)")
    per_window = windows(seen.queries, warmup, seconds, width)
    for edge, p99, count in per_window:
        print(f"  queries {edge:5.0f}-{edge + width:5.0f} s: p99 {p99:6.1f} ms over {count} requests")
    stable = bool(per_window) and per_window[-1][1] <= P99_STABILITY * per_window[0][1]
    all_ms = [ms for _, ms in seen.queries]
    print(
        f"  {len(all_ms):,} queries ({len(all_ms) / seconds:.0f}/s), p50 {statistics.median(all_ms):.1f} ms, "
        f"p99 {percentile(all_ms, 99):.1f} ms; {pacer.emitted:,} events emitted, {stored_count:,.0f} stored; "
        f"{len(seen.errors)} errors"
    )
    for error in seen.errors[:10]:
        print(f"    {error}")
    ok_rss, ok_errors = growth <= RSS_GROWTH_TARGET, not seen.errors
    print(
        f"  verdicts: RSS {'PASS' if ok_rss else 'FAIL'}, p99 stable {'PASS' if stable else 'FAIL'}, "
        f"errors {'PASS' if ok_errors else 'FAIL'}"
    )
    how = (
        f"one {seconds:g} s run at {args.rate:,.0f} events/s ({args.hosts} emitters) + {args.qps:g} "
        f"queries/s ({CLIENTS} clients)"
    )
    figures = [
        {
            "figure": "soak server RSS growth after warm-up (%)",
            "value": growth * 100,
            "target": f"≤ {RSS_GROWTH_TARGET * 100:.0f} %",
            "peer": None,
            "ratio": None,
            "pass": ok_rss,
            "method": f"{how}; VmRSS every {RSS_EVERY_S:g} s, median of last 3 vs first 3 after {warmup:g} s",
        },
        {
            "figure": "soak query p99 first/last window (ms)",
            "value": [per_window[0][1], per_window[-1][1]] if per_window else [float("nan")] * 2,
            "target": f"last ≤ {P99_STABILITY:g}x first",
            "peer": None,
            "ratio": per_window[-1][1] / per_window[0][1] if per_window else None,
            "pass": stable,
            "method": f"{how}; p99 per {width:g} s window after warm-up, {len(all_ms):,} queries",
        },
        {
            "figure": "soak errors",
            "value": len(seen.errors),
            "target": "0",
            "peer": None,
            "ratio": None,
            "pass": ok_errors,
            "method": f"{how}; non-200 answers, failed requests, emitter drops/rejections",
        },
    ]
    if args.json:
        report = {
            "bench": "soak",
            "figures": figures,
            "rss": seen.rss,
            "windows": per_window,
            "emitted": pacer.emitted,
            "stored": stored_count,
            "errors": seen.errors[:100],
        }
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok_rss and stable and ok_errors else 1


if __name__ == "__main__":
    sys.exit(main())
