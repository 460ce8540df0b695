"""Ingest throughput: the in-process pipeline against raw `EventStore.append`, and `POST /v1/events`.

    .venv/bin/python bench/ingest_bench.py [--events 100000] [--rounds 5] [--json PATH]

Figures, all into a fresh SQLite file each:
  raw append      `SQLiteEventStore.append` of ready events in batches of 500, in order (the peer)
  pipeline        the same events through `IngestPipeline.submit` (queue → batch writer → append),
                  8 concurrent producers of 500-event requests taken in the same order; ratio against
                  raw append (target ≥ 0.8)
  pipeline+checks wire dicts through `EventValidator.check` (redact + validate) and the pipeline
  HTTP            `POST /v1/events` over loopback to a collector in its own process (uvicorn),
                  batches of 500, 4 concurrent clients; plus the latency of a lone 1-event request

Raw append and the pipeline run in alternating rounds (each round in a different order) so that load from
other jobs on a shared machine hits both alike; the ratio is the median of the per-round ratios, and
every round's figures are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for part in ("emitters", "collector", "."):
    sys.path.insert(0, str(ROOT / part))

import httpx  # noqa: E402
from bench.store_bench import make_event  # noqa: E402

from mcpdiag.collector import EventValidator, IngestPipeline, Spool  # noqa: E402
from mcpdiag.emitters import DiagnosticEvent, format_ts  # noqa: E402
from mcpdiag.store import SQLiteEventStore, utc_now  # noqa: E402

BATCH = 500
TARGET = 20_000


def build_events(count: int) -> list[DiagnosticEvent]:
    now, rng = utc_now(), random.Random(count)
    return [make_event(rng, now - timedelta(milliseconds=count - i)) for i in range(count)]


async def raw_append(events: list[DiagnosticEvent], directory: Path) -> float:
    store = SQLiteEventStore(directory / "raw.db")
    await store.ensure_schema()
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        await store.append(events[i : i + BATCH])
    elapsed = time.perf_counter() - started
    await store.close()
    return len(events) / elapsed


async def pipeline_rate(events: list[Any], directory: Path, name: str, *, check: bool) -> tuple[float, float]:
    """Events/s through the pipeline, and the mean number of events per store write."""
    store = SQLiteEventStore(directory / f"{name}.db")
    await store.ensure_schema()
    pipeline = IngestPipeline(store, Spool(directory / f"{name}-spool", max_bytes=1 << 30))
    validator = EventValidator(["bench-known-secret"])
    await pipeline.start()
    # In order, like the raw peer: popping from the end would insert the batches newest first, which
    # splits B-tree pages in the middle and makes SQLite itself slower, whatever the pipeline does.
    requests = deque(events[i : i + BATCH] for i in range(0, len(events), BATCH))

    async def producer() -> None:
        while requests:
            request = requests.popleft()
            ready = validator.check(request).events if check else request
            await pipeline.submit(ready)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(8)))
    elapsed = time.perf_counter() - started
    await pipeline.stop()
    await store.close()
    registry = pipeline.metrics.registry
    writes = registry.get_sample_value("mcpdiag_batch_events_count") or 1.0
    written = registry.get_sample_value("mcpdiag_batch_events_sum") or 0.0
    return len(events) / elapsed, written / writes


async def in_process_rounds(
    events: list[DiagnosticEvent], directory: Path, rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """Raw append and pipeline rates of each round, and the pipeline's mean batch size per round."""
    raw: list[float] = []
    piped: list[float] = []
    sizes: list[float] = []
    for round_ in range(rounds):
        for which in ("raw", "pipeline") if round_ % 2 == 0 else ("pipeline", "raw"):
            place = directory / f"{which}-{round_}"
            place.mkdir()
            if which == "raw":
                raw.append(await raw_append(events, place))
            else:
                rate, size = await pipeline_rate(events, place, "pipeline", check=False)
                piped.append(rate)
                sizes.append(size)
            shutil.rmtree(place)
    return raw, piped, sizes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch_collector(directory: Path, key: str, port: int) -> subprocess.Popen[bytes]:
    """The standalone collector in its own process, configured through the environment."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("emitters", "collector", "api", "ui")),
        "MCPDIAG_STORE_URL": f"sqlite:///{directory / 'http.db'}",
        "MCPDIAG_SPOOL_DIR": str(directory / "http-spool"),
        "MCPDIAG_INGEST_KEYS": key,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "mcpdiag.collector.app:create_collector_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=directory)


async def http_rate(wire: list[dict[str, Any]], directory: Path) -> tuple[float, float, float]:
    key = secrets.token_hex(16)
    port = free_port()
    server = launch_collector(directory, key, port)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": key}, timeout=60
        ) as client:
            for _ in range(200):
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            latencies = []
            for event in wire[:50]:
                started = time.perf_counter()
                response = await client.post("/v1/events", json={"events": [event]})
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 202, response.text
            batches = [wire[i : i + BATCH] for i in range(50, len(wire), BATCH)]
            total = sum(len(b) for b in batches)

            async def sender() -> None:
                while batches:
                    response = await client.post("/v1/events", json={"events": batches.pop()})
                    assert response.status_code == 202, response.text

            before = await batch_totals(client)
            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(4)))
            elapsed = time.perf_counter() - started
            after = await batch_totals(client)
    finally:
        server.terminate()
        server.wait(10)
    mean_batch = (after[0] - before[0]) / max(after[1] - before[1], 1)
    return total / elapsed, statistics.median(latencies), mean_batch


async def batch_totals(client: httpx.AsyncClient) -> tuple[float, float]:
    """Events written to the store and the number of writes so far, from the collector's `/metrics`."""
    samples = {
        name: float(value)
        for name, _, value in (
            line.partition(" ") for line in (await client.get("/metrics")).text.splitlines()
        )
        if name.startswith("mcpdiag_batch_events_")
    }
    return samples.get("mcpdiag_batch_events_sum", 0.0), samples.get("mcpdiag_batch_events_count", 0.0)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def main(count: int, rounds: int, json_path: str | None = None) -> None:
    events = build_events(count)
    now = format_ts(utc_now())
    wire = [{**event.to_wire(), "ts": now} for event in events]
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="mcpdiag-ingest-bench-") as tmp:
        directory = Path(tmp)
        raws, pipes, sizes = await in_process_rounds(events, directory, rounds)
        checked, _ = await pipeline_rate(wire, directory, "checked", check=True)
        http, lone, http_batch = await http_rate(wire[: min(len(wire), 50_050)], directory)
    raw, piped = statistics.median(raws), statistics.median(pipes)
    ratio = statistics.median(p / r for p, r in zip(pipes, raws, strict=True))
    print(f"events: {count}, batch {BATCH}, cpus {os.cpu_count()}, load average {load_before} → {load()}")
    print(f"raw EventStore.append (SQLite)      {raw:>10,.0f} events/s  (median of {rounds} rounds)")
    print(
        f"in-process pipeline → SQLite        {piped:>10,.0f} events/s  ratio {ratio:.2f} (target ≥ 0.80), "
        f"{'meets' if piped >= TARGET else 'below'} {TARGET:,}/s"
    )
    for i, (r, p, size) in enumerate(zip(raws, pipes, sizes, strict=True)):
        print(
            f"  round {i + 1}: raw {r:>8,.0f}  pipeline {p:>8,.0f}  ratio {p / r:.2f}  mean batch {size:.0f}"
        )
    print(f"pipeline + redact/validate          {checked:>10,.0f} events/s")
    print(
        f"POST /v1/events over loopback       {http:>10,.0f} events/s  (batches of {BATCH}, 4 clients; "
        f"mean store write {http_batch:.0f} events)"
    )
    print(f"lone 1-event POST latency (median)  {lone * 1000:>10.1f} ms")
    if json_path:
        how = f"{count:,} events, batches of {BATCH}, fresh SQLite file"
        figures = [
            {
                "figure": "pipeline → SQLite (events/s)",
                "value": piped,
                "target": f"≥ 0.80x raw, ≥ {TARGET:,}/s",
                "peer": raw,
                "ratio": ratio,
                "pass": ratio >= 0.8 and piped >= TARGET,
                "method": f"median of {rounds} alternating rounds, {how}, 8 producers; "
                "peer = raw EventStore.append; ratio = median of per-round ratios",
            },
            {
                "figure": "pipeline + redact/validate (events/s)",
                "value": checked,
                "target": "",
                "peer": None,
                "ratio": None,
                "pass": None,
                "method": f"one run, {how}, wire dicts through EventValidator.check",
            },
            {
                "figure": "POST /v1/events over loopback (events/s)",
                "value": http,
                "target": "",
                "peer": None,
                "ratio": None,
                "pass": None,
                "method": f"one run, collector in its own process, 4 clients, batches of {BATCH}",
            },
            {
                "figure": "lone 1-event POST latency (ms)",
                "value": lone * 1000,
                "target": "",
                "peer": None,
                "ratio": None,
                "pass": None,
                "method": "median of 50 sequential requests",
            },
        ]
        report = {"bench": "ingest", "events": count, "rounds": rounds, "figures": figures}
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        await asyncio.to_thread(Path(json_path).write_text, text)
        print(f"wrote {json_path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating raw/pipeline rounds")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.rounds, arguments.json))
