"""Latency of the fleet reads at 1M events: `GET /api/mcp/{server}/problems` and `GET /api/overview`.

Run from the repository root: `.venv/bin/python bench/problems_bench.py [--quick] [--json PATH]`.

One SQLite file filled through `SQLiteEventStore.append` (so the hourly rollups those reads answer from are
the store's own) with `bench/store_bench.py`'s realistic events (20 servers, 200 users, 30 % server-wide,
eight codes) spread over the last 7 days, served by the real API app (`create_app`: JWT, RBAC, response
models) and called in-process (the ASGI app directly, as `bench/api_bench.py` does). Calls of every kind
take turns, one of each per round, so machine noise hits them alike:

* problems of a random server for a plain user (their own and server-wide rows), and for support;
* the Overview for support over 24 hours (25 buckets) and 7 days (29 buckets), as the page asks;
* the peer: the diagnostics page of 50 for a plain user (what `bench/api_bench.py` measures), same app,
  same file, same run.

Target: p99 <= 50 ms in-process at 1M events for each fleet read; the ratio is its p99 over the peer's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from bench.api_bench import AsgiClient, load  # noqa: E402
from bench.store_bench import SERVERS, USERS, make_event, percentile  # noqa: E402

from mcpdiag.api import ApiSettings, create_app  # noqa: E402
from mcpdiag.collector import CollectorSettings  # noqa: E402
from mcpdiag.store import SQLiteEventStore  # noqa: E402

P99_TARGET_MS = 50.0
SPREAD = timedelta(days=7)
BATCH = 500
WARMUP_ROUNDS = 10
PEER = "diagnostics page (user)"

Call = Callable[[random.Random], tuple[str, dict[str, Any], str]]
"""A kind of call: from the rng, (path, params, token name)."""


async def fill(path: Path, total: int, rng: random.Random) -> float:
    """`total` events appended through the store (rollups included), oldest first; seconds taken."""
    store = SQLiteEventStore(path)
    await store.ensure_schema()
    now = datetime.now(UTC) - timedelta(minutes=1)
    spread_ms = SPREAD // timedelta(milliseconds=1)
    offsets = sorted((rng.randrange(spread_ms) for _ in range(total)), reverse=True)
    started = time.perf_counter()
    for i in range(0, total, BATCH):
        batch = [make_event(rng, now - timedelta(milliseconds=ms)) for ms in offsets[i : i + BATCH]]
        assert await store.append(batch) == len(batch)
        if i and i % 200_000 == 0:
            print(f"  … {i:,} events")
    await store.close()
    with sqlite3.connect(path) as conn:
        (rows,) = conn.execute("SELECT COUNT(*) FROM hourly").fetchone()
    elapsed = time.perf_counter() - started
    print(f"  stored {total:,} events ({rows:,} hourly rollup rows) in {elapsed:.0f} s")
    return elapsed


def kinds() -> dict[str, Call]:
    def since(hours: int) -> str:
        return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()

    return {
        "problems (user)": lambda r: (f"/api/mcp/{r.choice(SERVERS)}/problems", {}, r.choice(USERS)),
        "problems (support)": lambda r: (f"/api/mcp/{r.choice(SERVERS)}/problems", {}, "support"),
        "overview 24 h (support)": lambda r: ("/api/overview", {"from": since(24), "buckets": 25}, "support"),
        "overview 7 d (support)": lambda r: ("/api/overview", {"from": since(168), "buckets": 29}, "support"),
        PEER: lambda r: (f"/api/mcp/{r.choice(SERVERS)}/diagnostics", {"limit": 50}, r.choice(USERS)),
    }


async def sample(db: Path, workdir: Path, rounds: int, rng: random.Random) -> dict[str, list[float]]:
    secret = secrets.token_urlsafe(48)
    exp = int(time.time()) + 86_400
    tokens = {u: jwt.encode({"sub": u, "exp": exp, "mcp_servers": "*"}, secret) for u in USERS}
    tokens["support"] = jwt.encode({"sub": "sam", "exp": exp, "roles": ["support"]}, secret)
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=secret),
        CollectorSettings(
            _env_file=None,
            store_url=f"sqlite:///{db}",
            spool_dir=workdir / "spool",
            ingest_keys=frozenset({secrets.token_hex(16)}),
            purge_interval_s=86_400,
        ),
    )
    calls = kinds()
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    async with app.router.lifespan_context(app):
        client = AsgiClient(app)
        for n in range(WARMUP_ROUNDS + rounds):
            order = list(calls.items())
            rng.shuffle(order)
            for name, call in order:
                path, params, who = call(rng)
                headers = {"Authorization": f"Bearer {tokens[who]}"}
                start = time.perf_counter()
                response = await client.get(path, params=params, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                assert response.status_code == 200, (path, response.status_code, response.content[:300])
                body = response.json()
                assert body.get("items") or body.get("servers"), (path, body)
                if n >= WARMUP_ROUNDS:
                    latencies[name].append(elapsed)
    return latencies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100k events, fewer rounds")
    parser.add_argument("--events", type=int, default=0, help="stored events (default 1M, quick 100k)")
    parser.add_argument("--rounds", type=int, default=0, help="calls of each kind (default 50, quick 30)")
    parser.add_argument("--seed", type=int, default=20261201, help="random seed of the generated data")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    total = args.events or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (30 if args.quick else 50)
    rng = random.Random(args.seed)
    print(
        f"mcpdiag problems/overview bench: {total:,} events, {rounds} calls of each kind; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; load average before: {load()}"
    )
    with tempfile.TemporaryDirectory(prefix="mcpdiag-problems-bench-") as tmp:
        db = Path(tmp) / "events.db"
        fill_s = asyncio.run(fill(db, total, rng))
        latencies = asyncio.run(sample(db, Path(tmp), rounds, rng))
    rows = {
        name: {"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "max_ms": max(lat)}
        for name, lat in latencies.items()
    }
    peer = rows[PEER]["p99_ms"]
    size = f"{total // 1_000_000}M" if total % 1_000_000 == 0 else f"{total // 1000}k"
    method = (
        f"{rounds} in-process calls of each kind after {WARMUP_ROUNDS} warm-up rounds, kinds shuffled per "
        f"round; {total:,} events over 7 days appended through the store (its rollups), create_app "
        "(JWT, RBAC, response model) called as ASGI; peer: a user's diagnostics page of 50, same run"
    )
    figures = []
    ok = True
    for name, row in rows.items():
        print(
            f"  {name:<26} p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
            f"max {row['max_ms']:7.2f} ms"
        )
        fleet = name != PEER
        passed = row["p99_ms"] <= P99_TARGET_MS if fleet and total >= 1_000_000 else None
        ok = ok and passed is not False
        figures.append(
            {
                "figure": f"{name} @{size} in-process p50/p99 (ms)",
                "value": [row["p50_ms"], row["p99_ms"]],
                "target": f"p99 ≤ {P99_TARGET_MS:.0f} ms @1M" if fleet else "",
                "peer": peer if fleet else None,
                "ratio": row["p99_ms"] / peer if fleet else None,
                "pass": passed,
                "method": method,
            }
        )
    print(f"  load average after: {load()}")
    if args.json:
        report = {"bench": "problems", "figures": figures, "run": {"events": total, "fill_s": fill_s}}
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
