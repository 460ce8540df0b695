"""Run every benchmark in `bench/` and print one table: figure, value, target, peer, ratio, how measured.

Run from the repository root: `.venv/bin/python bench/run_all.py [--quick] [--only NAME ...]` (`make bench`;
`--soak-seconds N` sets the soak's length, 0 skips it). Each bench runs as its own process with `--json`;
its report lands in `bench/results/` (git-ignored) and the table is also written there as Markdown
(`bench/results/bench.md`). The exit status is non-zero when a bench failed to run or, in a full run,
missed a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
Figure = dict[str, Any]


def figure(
    name: str,
    value: Any,
    method: str,
    *,
    target: str = "",
    peer: float | None = None,
    ratio: float | None = None,
    ok: bool | None = None,
) -> Figure:
    return {
        "figure": name,
        "value": value,
        "target": target,
        "peer": peer,
        "ratio": ratio,
        "pass": ok,
        "method": method,
    }


def short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def emit_figures(report: dict[str, Any], quick: bool) -> list[Figure]:
    samples = 2000 if quick else 20_000
    how = f"p50/p99 over {samples:,} samples of 10 calls (perf_counter_ns) after warm-up, one run"
    ours = report["mcpdiag emit()"]
    out = [
        figure(
            "emit() per call p50/p99 (µs)",
            [ours["p50_us"], ours["p99_us"]],
            how,
            target="p50 ≤ 3 µs",
            ok=ours["p50_us"] <= 3.0,
        )
    ]
    targets = {"structlog JSON": 1 / 3, "OpenTelemetry logs (batch)": 1 / 6}
    for peer, row in report.items():
        if peer.startswith("mcpdiag"):
            continue
        ratio = ours["p50_us"] / row["p50_us"]
        limit = targets.get(peer)
        out.append(
            figure(
                f"emit() vs {peer} p50 (µs)",
                ours["p50_us"],
                f"{how}; same run, same fields, discarding sink",
                target=f"≤ 1/{round(1 / limit)} of peer" if limit else "",
                peer=row["p50_us"],
                ratio=ratio,
                ok=None if limit is None else ratio <= limit,
            )
        )
    return out


def emit_js_figures(report: dict[str, Any], quick: bool) -> list[Figure]:
    samples = 2000 if quick else 20_000
    how = (
        f"p50/p99 over {samples:,} samples of 20 calls (process.hrtime) after warm-up, Node; peers take "
        "turns over rounds: best round's p50, median round's p99"
    )
    ours = report["mcpdiag emit()"]
    out = [figure("Node emit() per call p50/p99 (µs)", [ours["p50_us"], ours["p99_us"]], how)]
    targets = {"pino JSON": 1 / 3}
    for peer, row in report.items():
        if peer.startswith("mcpdiag"):
            continue
        ratio = ours["p50_us"] / row["p50_us"]
        limit = targets.get(peer)
        out.append(
            figure(
                f"Node emit() vs {peer} p50 (µs)",
                ours["p50_us"],
                f"{how}; same run, same fields, discarding sink",
                target=f"≤ 1/{round(1 / limit)} of peer" if limit else "",
                peer=row["p50_us"],
                ratio=ratio,
                ok=None if limit is None else ratio <= limit,
            )
        )
    return out


def listed_figures(report: dict[str, Any], quick: bool) -> list[Figure]:
    figures: list[Figure] = report["figures"]
    return figures


def api_figures(report: dict[str, Any], quick: bool) -> list[Figure]:
    results = report["results"]
    out = []
    for mode, label, how in (
        ("asgi", "in-process", "the ASGI app called directly"),
        ("http", "loopback", "uvicorn over loopback, httpx keep-alive"),
    ):
        sizes = sorted(results[mode], key=int)
        smallest, largest = sizes[0], sizes[-1]
        for size in sizes:
            row = results[mode][size]
            f = figure(
                f"API page {label} @{short(int(size))} p50/p99 (ms)",
                [row["p50_ms"], row["p99_ms"]],
                f"{row['samples']} calls after warm-up, user-scoped page of 50 through create_app "
                f"(JWT, RBAC), {row['second_pages']} with a cursor; {how}",
            )
            if size == largest and size != smallest:
                base = results[mode][smallest]["p99_ms"]
                ratio = row["p99_ms"] / base
                ok = ratio <= 2
                target = f"p99 ≤ 2x @{short(int(smallest))}"
                if mode == "asgi":
                    target += ", p99 ≤ 10 ms"
                    ok = ok and row["p99_ms"] <= 10
                f.update(target=target, peer=base, ratio=ratio, **{"pass": ok})
            out.append(f)
    return out


def bundle_figures(report: dict[str, Any], quick: bool) -> list[Figure]:
    results = report["results"]
    sizes = sorted(results, key=int)
    out = []
    for size in sizes:
        row = results[size]
        runs = len(row.get("walls_s", [row["wall_s"]]))
        f = figure(
            f"bundle export @{short(int(size))} wall (s) / peak RSS (MB)",
            [row["wall_s"], row.get("peak_rss_max_mb", row["peak_rss_mb"])],
            f"{'median of ' + str(runs) + ' exports' if runs > 1 else 'one export'} of {row['events']:,} "
            "events (7-day window) in a fresh process; peak RSS = VmHWM of the exporter + its scan helper",
            target="RSS ≤ 150 MB",
            ok=row.get("peak_rss_max_mb", row["peak_rss_mb"]) <= 150,
        )
        if int(size) == 100_000:
            f.update(target="wall ≤ 2 s, RSS ≤ 150 MB", **{"pass": row["wall_s"] <= 2 and f["pass"]})
        if "peer_ratio" in row:
            out.append(
                figure(
                    f"bundle export @{short(int(size))} vs raw streaming zip (s)",
                    row["wall_s"],
                    f"median of {runs} exports and of {runs} raw zips of the same lines (same store walk, "
                    "one deflated member per server, same level), taking turns, each in a fresh process; "
                    "ratio = peer wall / export wall",
                    target="≥ 0.7x peer" if int(size) == 100_000 else "",
                    peer=row["peer_wall_s"],
                    ratio=row["peer_ratio"],
                    ok=row["peer_ratio"] >= 0.7 if int(size) == 100_000 else None,
                )
            )
        # Memory growth is judged from 100k up: below that the bounded caches are still filling.
        if size == sizes[-1] and len(sizes) > 1 and not quick:
            base = results[sizes[0]]["peak_rss_mb"]
            ratio = row["peak_rss_mb"] / base
            f.update(
                target=f.get("target", "") + f", RSS ≤ 1.25x @{short(int(sizes[0]))}",
                peer=base,
                ratio=ratio,
                **{"pass": f["pass"] and ratio <= 1.25},
            )
        out.append(f)
    return out


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    figures: Callable[[dict[str, Any], bool], list[Figure]]
    python: str | None = None
    """Another interpreter to run it with (relative to the root), e.g. the MCP SDK 1.x environment."""


BENCHES = (
    Bench("emit", "emit_bench.py", (), ("--quick",), emit_figures),
    Bench("emit-js", "emit_bench.mjs", (), ("--quick",), emit_js_figures),
    Bench("store", "store_bench.py", (), ("--quick",), listed_figures),
    Bench("redact", "redact_bench.py", (), ("--quick",), listed_figures),
    Bench("ingest", "ingest_bench.py", (), ("--events", "20000", "--rounds", "2"), listed_figures),
    Bench("api", "api_bench.py", (), ("--quick",), api_figures),
    Bench("bundle", "bundle_bench.py", (), ("--quick",), bundle_figures),
    Bench("freshness", "freshness_bench.py", (), ("--quick",), listed_figures),
    Bench("stream", "stream_bench.py", (), ("--quick",), listed_figures),
    Bench("problems", "problems_bench.py", (), ("--quick",), listed_figures),
    Bench("transfer", "transfer_bench.py", (), ("--quick",), listed_figures),
    Bench("soak", "soak_bench.py", (), (), listed_figures),
    Bench("storm", "storm_bench.py", (), ("--quick",), listed_figures),
    # `make test` builds .venv-mcp1 (the latest MCP SDK 1.x); the same bench on 2.x runs in this venv.
    Bench(
        "session-mcp1", "session_bench.py", (), ("--quick",), listed_figures, python=".venv-mcp1/bin/python"
    ),
    Bench("session", "session_bench.py", (), ("--quick",), listed_figures),
)


def run(bench: Bench, quick: bool, soak_seconds: float) -> tuple[list[Figure], int, float]:
    """Run one bench in its own process; its figures, exit status and wall time."""
    out = RESULTS / f"{bench.name}.json"
    out.unlink(missing_ok=True)
    args = list(bench.quick if quick else bench.full)
    if bench.name == "soak":
        args = ["--seconds", f"{soak_seconds:g}"]
    print(f"\n=== {bench.name}: {bench.script} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    python = str(ROOT / bench.python) if bench.python else sys.executable
    if not Path(python).exists():
        hint = "run `make test` (or `make .venv-mcp1/.installed-mcp1`) first"
        return [figure(f"{bench.name}: {bench.python} missing", "—", hint, ok=False)], 1, 0.0
    runner = "node" if bench.script.endswith(".mjs") else python
    try:
        status = subprocess.run(
            [runner, str(BENCH / bench.script), *args, "--json", str(out)],
            cwd=ROOT,
            timeout=3600,
        ).returncode
    except subprocess.TimeoutExpired:
        status = -1
    wall = time.perf_counter() - started
    if not out.exists():
        return (
            [figure(f"{bench.name}: did not produce figures", "—", f"exit status {status}", ok=False)],
            status,
            wall,
        )
    return bench.figures(json.loads(out.read_text()), quick), status, wall


def number(value: Any) -> str:
    if isinstance(value, list):
        return " / ".join(number(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    return str(value)


def table(figures: Sequence[Figure]) -> list[str]:
    """The figures as Markdown table lines."""
    lines = [
        "| figure | value | target | peer | ratio | verdict | how measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        verdict = "" if f["pass"] is None else ("PASS" if f["pass"] else "FAIL")
        cells = [
            f["figure"],
            number(f["value"]),
            f["target"] or "",
            "" if f["peer"] is None else number(f["peer"]),
            "" if f["ratio"] is None else f"{f['ratio']:.2f}",
            verdict,
            f["method"],
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="every bench in its quick mode (a few minutes)")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run just these")
    parser.add_argument(
        "--soak-seconds", type=float, default=None, help="soak duration (300 full, 30 quick; 0 skips it)"
    )
    args = parser.parse_args(argv)
    soak_seconds = args.soak_seconds if args.soak_seconds is not None else (30.0 if args.quick else 300.0)
    chosen = [b for b in BENCHES if (not args.only or b.name in args.only)]
    if soak_seconds <= 0:
        chosen = [b for b in chosen if b.name != "soak"]
    RESULTS.mkdir(exist_ok=True)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    figures: list[Figure] = []
    runs: list[str] = []
    failed = False
    for bench in chosen:
        found, status, wall = run(bench, args.quick, soak_seconds)
        figures += found
        runs.append(f"{bench.name} {wall:.0f} s (exit {status})")
        failed = failed or status != 0 or any(f["pass"] is False for f in found)
    mode = "quick" if args.quick else "full"
    header = [
        f"# mcpdiag benchmarks ({mode})",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {load_before} before, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after; total {time.perf_counter() - started:.0f} s",
        "",
        "Runs: " + ", ".join(runs) + ". Quick runs are smoke runs: their targets are indicative only.",
        "",
    ]
    lines = header + table(figures)
    markdown = RESULTS / "bench.md"
    markdown.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    print(f"\nwrote {markdown.relative_to(ROOT)}")
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
