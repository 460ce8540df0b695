"""Benchmark of moving events between stores: export and import rates, and peak RSS at 100k and 1M events.

Run from the repository root: `.venv/bin/python bench/transfer_bench.py [--quick] [--json PATH]`.

For each size a SQLite store is built with raw inserts of realistic rows (the generator of
bench/store_bench.py, checked against `SQLiteEventStore.rows`). Then, each in a fresh subprocess that
reports its wall time and peak RSS (`VmHWM`):

  export   `plan_export` + `write_export` of every event to a gzipped NDJSON file (what `mcpdiag export` does)
  import   `import_file` of that file into an empty SQLite store, with the collector's redaction step: every
           line parsed, redacted, validated, staged, then committed (what `mcpdiag import` does)
  append   the peer: `SQLiteEventStore.append` of the same events, already validated (built from the file
           outside the timed region), in batches of 500 into an empty store: the store's raw append rate

Import and append run in alternating rounds (each round in the other order) so that load from other jobs
on a shared machine hits both alike; the ratio is the median of the per-round ratios. Targets: import
≥ 0.70x the append rate at the largest size; peak RSS of the export and of the import at the largest size
within 1.25x of the smallest (memory must not grow with the number of events).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bundle_bench import peak_rss_mb
from mcpdiag.api.import_jobs import collector_redaction
from mcpdiag.bundle.scanhelper import usable_cpus
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import SQLiteEventStore
from mcpdiag.store.transfer import ExportReader, ExportSelection, import_file, plan_export, write_export
from store_bench import grow, short, warm

IMPORT_TARGET = 0.70
RSS_GROWTH_TARGET = 1.25
APPEND_BATCH = 500


# -- children: one measurement each, in a fresh process -------------------------------------------------


async def child_export(db: Path, out: Path) -> dict[str, Any]:
    store = SQLiteEventStore(db)
    start = time.perf_counter()
    plan = await plan_export(store, ExportSelection())
    counted = time.perf_counter() - start
    result = await write_export(store, plan, out)
    wall = time.perf_counter() - start
    await store.close()
    return {"wall_s": wall, "count_s": counted, "events": result.events, "bytes": result.size}


async def child_import(db: Path, file: Path, workers: int) -> dict[str, Any]:
    store = SQLiteEventStore(db)
    await store.ensure_schema()
    marks: dict[str, float] = {}
    start = time.perf_counter()
    report = await import_file(
        store,
        file,
        redact=functools.partial(collector_redaction, frozenset()),
        workers=workers,
        stage_dir=db.parent,
        on_progress=lambda p: marks.setdefault(p.phase, time.perf_counter()),
    )
    wall = time.perf_counter() - start
    await store.close()
    assert report.counts.inserted == report.lines, report.summary()
    return {
        "wall_s": wall,
        "check_s": marks["importing"] - start,
        "commit_s": marks["done"] - marks["importing"],
        "events": report.counts.inserted,
    }


async def child_append(db: Path, file: Path) -> dict[str, Any]:
    store = SQLiteEventStore(db)
    await store.ensure_schema()
    reader = ExportReader(file)
    timed = 0.0
    events = 0
    while lines := reader.batch(APPEND_BATCH):
        batch = []
        for _, raw in lines:
            body = json.loads(raw or b"{}")
            body.pop("receivedAt", None)
            body.pop("expireAt", None)
            batch.append(DiagnosticEvent.model_validate(body))
        start = time.perf_counter()
        events += await store.append(batch)
        timed += time.perf_counter() - start
    reader.close()
    await store.close()
    return {"wall_s": timed, "events": events}


def run_child(kind: str, db: Path, file: Path, workers: int = 1) -> dict[str, Any]:
    """One measurement in a fresh interpreter; its figures and peak RSS."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--db",
            str(db),
            "--file",
            str(file),
            "--workers",
            str(workers),
        ],
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


# -- the parent: datasets, rounds, figures --------------------------------------------------------------

KINDS = ("import", "import-1", "append")
"""The CLI's import (checks in `workers` processes), the same in one process, and the peer."""


def measure(workdir: Path, size: int, rounds: int, workers: int, rng: random.Random) -> dict[str, Any]:
    source = workdir / f"source-{size}.db"
    start = time.perf_counter()
    grow(source, size, 0, rng, SQLiteEventStore(workdir / "unused.db"))
    mb = source.stat().st_size / 1e6
    print(f"  built {size:,} events ({mb:,.0f} MB) in {time.perf_counter() - start:.0f} s")
    warm([source])
    export_file = workdir / f"export-{size}.ndjson.gz"
    exported = run_child("export", source, export_file)
    print(
        f"  export     {exported['events'] / exported['wall_s']:>9,.0f} events/s  "
        f"{exported['wall_s']:6.1f} s  "
        f"RSS {exported['rss_mb']:5.0f} MB  file {exported['bytes'] / 1e6:,.1f} MB "
        f"({exported['bytes'] / max(exported['events'], 1):.0f} B/event)"
    )
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for index in range(rounds):
        order = KINDS if index % 2 == 0 else tuple(reversed(KINDS))
        for kind in order:
            target = workdir / f"{kind}-{size}-{index}"
            target.mkdir()
            child = "append" if kind == "append" else "import"
            result = run_child(child, target / "events.db", export_file, workers if kind == "import" else 1)
            shutil.rmtree(target)
            result["rate"] = result["events"] / result["wall_s"]
            runs[kind].append(result)
            extra = (
                f"  check {result['check_s']:.1f} s + commit {result['commit_s']:.1f} s"
                if "check_s" in result
                else ""
            )
            print(
                f"  round {index + 1}/{rounds} {kind:<9} {result['rate']:>9,.0f} events/s  "
                f"RSS {result['rss_mb']:5.0f} MB{extra}"
            )
    source.unlink()
    export_file.unlink()
    out: dict[str, Any] = {"events": size, "workers": workers, "export": exported, "runs": runs}
    out["export_rate"] = exported["events"] / exported["wall_s"]
    for kind in KINDS:
        out[f"{kind}_rate"] = statistics.median(r["rate"] for r in runs[kind])
    for kind in ("import", "import-1"):
        ratios = [i["rate"] / a["rate"] for i, a in zip(runs[kind], runs["append"], strict=True)]
        out[f"{kind}_ratio"] = statistics.median(ratios)
    out["import_rss_mb"] = max(r["rss_mb"] for r in runs["import"] + runs["import-1"])
    return out


def figures(results: dict[int, dict[str, Any]], quick: bool) -> list[dict[str, Any]]:
    sizes = sorted(results)
    largest = sizes[-1]
    out: list[dict[str, Any]] = []
    for size in sizes:
        r = results[size]
        rounds = len(r["runs"]["append"])
        out.append(
            _figure(
                f"export @{short(size)} (events/s)",
                r["export_rate"],
                f"plan_export + write_export of {size:,} events (counts, then every line, gzip level 6) in a "
                f"fresh process; {r['export']['bytes'] / size:.0f} B/event on disk",
            )
        )
        for kind, label in (("import", f"{r['workers']} check workers"), ("import-1", "checks in-process")):
            primary = kind == "import" and size == largest
            ok = r[f"{kind}_ratio"] >= IMPORT_TARGET
            out.append(
                _figure(
                    f"import @{short(size)}, {label} (events/s)",
                    r[f"{kind}_rate"],
                    f"median of {rounds} round(s) alternating with the peer: import_file (parse, redact, "
                    "validate, stage, commit) into a fresh SQLite store; peer = SQLiteEventStore.append of "
                    f"the same events, already validated, batches of {APPEND_BATCH}; ratio: median per round",
                    target=f"≥ {IMPORT_TARGET:.2f}x append" if primary else "",
                    peer=r["append_rate"],
                    ratio=r[f"{kind}_ratio"],
                    ok=ok if primary else None,
                )
            )
    for kind in ("export", "import"):
        values = [
            results[s]["export"]["rss_mb"] if kind == "export" else results[s]["import_rss_mb"] for s in sizes
        ]
        growth = values[-1] / values[0] if len(values) > 1 else None
        out.append(
            _figure(
                f"{kind} peak RSS {' / '.join('@' + short(s) for s in sizes)} (MB)",
                values,
                f"VmHWM of the {kind}ing process (the highest of its runs; check workers not included), "
                "fresh interpreter per run",
                target=f"@{short(largest)} ≤ {RSS_GROWTH_TARGET}x @{short(sizes[0])}",
                peer=values[0],
                ratio=growth,
                ok=None if growth is None or quick else growth <= RSS_GROWTH_TARGET,
            )
        )
    return out


def _figure(
    name: str,
    value: Any,
    method: str,
    *,
    target: str = "",
    peer: float | None = None,
    ratio: float | None = None,
    ok: bool | None = None,
) -> dict[str, Any]:
    return {
        "figure": name,
        "value": value,
        "target": target,
        "peer": peer,
        "ratio": ratio,
        "pass": ok,
        "method": method,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20k and 100k events, one round")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--rounds", type=int, default=0, help="import/append rounds at each size")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--child", choices=("export", "import", "append"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--workers", type=int, default=0, help="check workers of the import (default: CPUs, ≤ 4)"
    )
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "import":
            result = asyncio.run(child_import(args.db, args.file, args.workers or 1))
        else:
            work = {"export": child_export, "append": child_append}[args.child]
            result = asyncio.run(work(args.db, args.file))
        print(json.dumps({**result, "rss_mb": peak_rss_mb()}))
        return 0
    sizes = [20_000, 100_000] if args.quick else [100_000, 1_000_000]
    rounds = args.rounds or (1 if args.quick else 2)
    # `mcpdiag import` checks in-process on two CPUs or fewer; measure the workers anyway (at least 2).
    workers = args.workers or max(2, min(usable_cpus() - 1, 4))
    mode = "quick" if args.quick else "full"
    print(f"mcpdiag transfer bench ({mode}): Python {platform.python_version()}, {platform.machine()}")
    started = time.perf_counter()
    rng = random.Random(args.seed)
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="mcpdiag-transfer-bench-") as tmp:
        for size in sizes:
            print(f"\n[{short(size)}] export, {rounds} round(s): import ({workers} workers), import, append")
            results[size] = measure(Path(tmp), size, rounds, workers, rng)
    found = figures(results, args.quick)
    print()
    for f in found:
        value = f["value"]
        shown = " / ".join(f"{v:,.0f}" for v in value) if isinstance(value, list) else f"{value:,.0f}"
        verdict = "" if f["pass"] is None else ("PASS" if f["pass"] else "FAIL")
        ratio = "" if f["ratio"] is None else f" ratio {f['ratio']:.2f}"
        print(f"  {f['figure']:<40} {shown:>16}  {f['target']}{ratio} {verdict}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        report = {
            "bench": "transfer",
            "mode": mode,
            "figures": found,
            "results": {str(k): v for k, v in results.items()},
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.quick:
        return 0
    return 0 if all(f["pass"] is not False for f in found) else 1


if __name__ == "__main__":
    sys.exit(main())
