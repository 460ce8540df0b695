"""Benchmark of a full support-bundle export: wall and CPU time, peak RSS at 100k and 1M stored events.

Run from the repository root: `.venv/bin/python bench/bundle_bench.py [--quick] [--json PATH]`.

Each size gets a SQLite file built with raw inserts of realistic rows (the generator of bench/store_bench.py),
then `export_bundle` over a 7-day window (every stored event) runs in a fresh subprocess, which reports its
own wall time, CPU time and peak RSS (`VmHWM`). Targets: 100k events ≤ 3 s; peak RSS ≤ 150 MB; the 1M export's
peak RSS within 25 % of the 100k export's (memory must not grow with the number of events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcpdiag.collector.sqlite_store import SQLiteEventStore
from store_bench import grow, short

WALL_TARGET_100K = 3.0
RSS_TARGET_MB = 150.0
RSS_GROWTH_TARGET = 1.25


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's `ru_maxrss` survives exec, so a child forked from a parent that had
    just built a million rows would report the parent's peak: `VmHWM` belongs to the new image only."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)


def child(db: str, out: str) -> None:
    """Run one export (in the subprocess) and print its figures as JSON."""
    from mcpdiag.api.bundle import BundleScope, export_bundle

    async def run() -> dict[str, Any]:
        store = SQLiteEventStore(db)
        start, cpu = time.perf_counter(), time.process_time()
        result = await export_bundle(
            store,
            BundleScope.parse(since="7d"),
            out_dir=out,
            settings_snapshot={"store_url": f"sqlite:///{db}"},
            app_version="bench",
        )
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        await store.close()
        result.path.unlink()
        # CPU time (every thread of the process) next to wall time: on a busy machine wall time alone
        # says little.
        return {
            "events": result.event_count,
            "wall_s": wall,
            "cpu_s": cpu,
            "load": os.getloadavg()[0],
            "bundle_mb": result.size / 1e6,
        }

    figures = asyncio.run(run())
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))


def measure(db: Path, out: Path) -> dict[str, Any]:
    """Export `db` in a fresh Python process; its figures."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(out)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"export failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10k and 100k events instead of 100k and 1M")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    print(
        f"mcpdiag bundle bench: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = random.Random(args.seed)
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mcpdiag-bundle-bench-") as tmp:
        work = Path(tmp)
        db, have = work / "events.db", 0
        checker = SQLiteEventStore(work / "unused.db")
        for size in sizes:
            start = time.perf_counter()
            grow(db, size, have, rng, checker)
            have = size
            print(f"  built {short(size)} events in {time.perf_counter() - start:.1f} s")
            r = results[size] = measure(db, work)
            print(
                f"  {short(size):>5} export: {r['wall_s']:6.2f} s (CPU {r['cpu_s']:.2f} s, "
                f"load {r['load']:.2f}), peak RSS {r['peak_rss_mb']:6.1f} MB, "
                f"bundle {r['bundle_mb']:.1f} MB, {r['events']:,} events, "
                f"{r['events'] / r['wall_s']:,.0f} events/s"
            )
    small, large = results[sizes[0]], results[sizes[-1]]
    hundred_k = results.get(100_000)
    checks = {
        "100k wall ≤ 3 s": None if hundred_k is None else hundred_k["wall_s"] <= WALL_TARGET_100K,
        "peak RSS ≤ 150 MB": all(r["peak_rss_mb"] <= RSS_TARGET_MB for r in results.values()),
        f"{short(sizes[-1])} RSS ≤ 1.25x {short(sizes[0])}": large["peak_rss_mb"]
        <= small["peak_rss_mb"] * RSS_GROWTH_TARGET,
    }
    for name, ok in checks.items():
        print(f"  {name:<24} {'n/a' if ok is None else 'PASS' if ok else 'FAIL'}")
    if args.json:
        report = {"bench": "bundle", "quick": args.quick, "results": results, "checks": checks}
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 0 if args.quick or all(ok is not False for ok in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
