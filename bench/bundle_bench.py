"""Benchmark of a full support-bundle export: wall and CPU time, peak RSS at 100k and 1M stored events.

Run from the repository root: `.venv/bin/python bench/bundle_bench.py [--quick] [--json PATH]`.

Each size gets a SQLite file built with raw inserts of realistic rows (the generator of bench/store_bench.py),
then `export_bundle` over a 7-day window (every stored event) runs in a fresh subprocess: three times for
100k (the median run is reported: this machine's speed drifts by ±20 % over minutes), once for 1M. Each run
reports its own wall time, CPU time and peak RSS (`VmHWM`), and those of the scan helper process the export
starts (its `VmHWM` sampled every 10 ms while it runs, its CPU time once it is reaped). Peak RSS is the sum
of the two peaks (an upper bound of what both held at once); the 150 MB target is checked against the
highest of the runs, the growth between sizes with the median runs. Targets: 100k events
≤ 2 s; peak RSS ≤ 150 MB; the 1M export's peak RSS within 25 % of the 100k export's (memory must not grow
with the number of events).

The peer, run in turn with the exports (each run in its own fresh process): a raw streaming ZIP of the same
lines, that is the same store walk (`Selection.batches`) written into one deflated member per server at the
exporter's compression level, with nothing sanitized, scanned or summarised. The export must reach 0.7x the
peer's rate (the ratio is the peer's wall time over the export's, of the median runs).
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
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcpdiag.store.sqlite import SQLiteEventStore
from store_bench import grow, short

WALL_TARGET_100K = 2.0
PEER_TARGET = 0.7
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


def children() -> list[int]:
    """The pids of this process's children."""
    found, me = [], os.getpid()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def hwm_mb(pid: int) -> float | None:
    """`VmHWM` of process `pid` (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class HelperWatch:
    """Samples the peak RSS of this process's children (the scan helper) in a thread: their `VmHWM` every
    10 ms, the list of children every 100 ms (a walk over /proc is not free on a two-core machine)."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids: list[int] = []
        tick = 0
        while not self._stop.wait(0.01):
            if tick % 10 == 0:
                pids = children()
            tick += 1
            for pid in pids:
                if (hwm := hwm_mb(pid)) is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), hwm)

    def __enter__(self) -> HelperWatch:
        if Path("/proc").is_dir():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def child(db: str, out: str) -> None:
    """Run one export (in the subprocess) and print its figures as JSON."""
    from mcpdiag.bundle import BundleScope, export_bundle

    async def run(watch: HelperWatch) -> dict[str, Any]:
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
        reaped = os.times()
        # CPU time (every thread of the process, and the helper) next to wall time: on a busy machine wall
        # time alone says little.
        return {
            "events": result.event_count,
            "wall_s": wall,
            "cpu_s": cpu,
            "helper_cpu_s": reaped.children_user + reaped.children_system,
            "scanned_by": getattr(result, "scanned_by", "exporter"),
            "load": os.getloadavg()[0],
            "bundle_mb": result.size / 1e6,
        }

    with HelperWatch() as watch:
        figures = asyncio.run(run(watch))
    figures["exporter_rss_mb"] = peak_rss_mb()
    figures["helper_rss_mb"] = max(watch.peaks.values(), default=0.0)
    figures["peak_rss_mb"] = figures["exporter_rss_mb"] + figures["helper_rss_mb"]
    print(json.dumps(figures))


def raw_zip(db: str, out: str) -> None:
    """The peer (in the subprocess): the same lines, streamed into a ZIP as they are; prints its figures."""
    import zipfile

    from mcpdiag.bundle import BundleScope
    from mcpdiag.bundle.exporter import COMPRESS_LEVEL, FLUSH_LINES
    from mcpdiag.bundle.selection import member_name, select

    async def run() -> dict[str, Any]:
        store = SQLiteEventStore(db)
        scope = BundleScope.parse(since="7d")
        start, cpu = time.perf_counter(), time.process_time()
        path = Path(out) / "peer.zip"
        events = 0
        with (
            path.open("wb") as raw,
            zipfile.ZipFile(
                raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL, allowZip64=True
            ) as zf,
        ):
            selection = await select(store, scope)
            taken: set[str] = set()
            for server in selection.servers:
                with zf.open(member_name(server, taken), "w", force_zip64=True) as member:
                    async for batch in selection.batches(store, scope, server, FLUSH_LINES):
                        member.write(("\n".join(batch) + "\n").encode())
                        events += len(batch)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        await store.close()
        size = path.stat().st_size
        path.unlink()
        return {"events": events, "wall_s": wall, "cpu_s": cpu, "bundle_mb": size / 1e6}

    print(json.dumps(asyncio.run(run())))


def export_once(db: Path, out: Path, *, peer: bool = False) -> dict[str, Any]:
    """Export `db` (or, `peer`, zip its lines raw) in a fresh Python process; its figures."""
    mode = "--peer" if peer else "--child"
    proc = subprocess.run(
        [sys.executable, __file__, mode, str(db), str(out)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"export failed:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(db: Path, out: Path, runs: int) -> dict[str, Any]:
    """The figures of the median run (by wall time) of `runs` exports of `db`, with every run's wall time
    and the highest peak RSS of any run (`peak_rss_max_mb`, what the 150 MB target is checked against)."""
    exports, peers = [], []
    for _ in range(runs):
        exports.append(export_once(db, out))
        peers.append(export_once(db, out, peer=True))
    done = sorted(exports, key=lambda r: float(r["wall_s"]))
    figures = dict(done[len(done) // 2])
    peer = sorted(peers, key=lambda r: float(r["wall_s"]))[len(peers) // 2]
    figures["peer_wall_s"] = peer["wall_s"]
    figures["peer_walls_s"] = sorted(r["wall_s"] for r in peers)
    figures["peer_ratio"] = peer["wall_s"] / figures["wall_s"]
    figures["walls_s"] = [r["wall_s"] for r in done]
    figures["peak_rss_max_mb"] = max(float(r["peak_rss_mb"]) for r in done)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10k and 100k events instead of 100k and 1M")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--child", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--peer", nargs=2, metavar=("DB", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--runs",
        type=int,
        choices=range(1, 12),
        default=3,
        metavar="N",
        help="exports of 100k events or fewer, the median run reported (1-11, default 3)",
    )
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.peer:
        raw_zip(*args.peer)
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
            runs = args.runs if size <= 100_000 else 1
            r = results[size] = measure(db, work, runs)
            spread = f" (median of {runs}: {', '.join(f'{w:.2f}' for w in r['walls_s'])})" if runs > 1 else ""
            print(
                f"  {short(size):>5} export: {r['wall_s']:6.2f} s{spread} (CPU {r['cpu_s']:.2f} s + helper "
                f"{r['helper_cpu_s']:.2f} s, scan by {r['scanned_by']}, load {r['load']:.2f}), "
                f"peak RSS {r['peak_rss_mb']:6.1f} MB ({r['exporter_rss_mb']:.1f} + helper "
                f"{r['helper_rss_mb']:.1f}), "
                f"bundle {r['bundle_mb']:.1f} MB, {r['events']:,} events, "
                f"{r['events'] / r['wall_s']:,.0f} events/s; raw zip peer {r['peer_wall_s']:.2f} s, "
                f"ratio {r['peer_ratio']:.2f}"
            )
    small, large = results[sizes[0]], results[sizes[-1]]
    hundred_k = results.get(100_000)
    checks = {
        "100k wall ≤ 2 s": None if hundred_k is None else hundred_k["wall_s"] <= WALL_TARGET_100K,
        "100k ≥ 0.7x raw zip": None if hundred_k is None else hundred_k["peer_ratio"] >= PEER_TARGET,
        "peak RSS ≤ 150 MB": all(r["peak_rss_max_mb"] <= RSS_TARGET_MB for r in results.values()),
        # Judged from 100k up (not with --quick): below that the bounded caches are still filling.
        f"{short(sizes[-1])} RSS ≤ 1.25x {short(sizes[0])}": None
        if args.quick
        else large["peak_rss_mb"] <= small["peak_rss_mb"] * RSS_GROWTH_TARGET,
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
