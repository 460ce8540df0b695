"""Ingest throughput: the path production runs (validation and redaction) against raw `EventStore.append`.

    .venv/bin/python bench/ingest_bench.py [--events 100000] [--rounds 5] [--json PATH]

The events are realistic: the bench store's scenarios with details from the generated redaction corpus
(`redact_corpus`: ordinary event text, about 8 % holding a secret, a few long ones cut to the detail limit).
Figures, all into a fresh SQLite file each:
  raw append      `SQLiteEventStore.append` of ready (validated) events in batches of 500, in order: the peer
  checked         the same events as wire dicts, each request of 500 checked by `EventValidator.check`
                  (redact, validate) on a `CheckLane` as `POST /v1/events` does, then
                  `IngestPipeline.submit`
                  (queue → batch writer → append), 8 concurrent producers taking requests in order; ratio
                  against raw append (target ≥ 0.7)
  pipeline only   ready events straight into the pipeline (no validation, no redaction): what the pipeline
                  itself costs
  HTTP            `POST /v1/events` over loopback to a collector in its own process (uvicorn), batches of
                  500 encoded before the clock starts, 4 concurrent clients, the storm budgets off (target
                  ≥ 15,000 events/s); the same with the default budgets, where one key sending 50,000 events
                  at once is a storm (merged, each request answered when its merge window closes); plus the
                  latency of a lone 1-event request

The in-process figures run in alternating rounds (each round in a different order) so that load from other
jobs on a shared machine hits them alike; a ratio is the median of the per-round ratios, and every round's
figures are printed too.
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
for part in ("emitters", "collector", ".", "bench"):
    sys.path.insert(0, str(ROOT / part))

import httpx  # noqa: E402
from bench.redact_corpus import corpus  # noqa: E402
from bench.store_bench import make_event  # noqa: E402

from mcpdiag.collector import EventValidator, IngestPipeline, Spool  # noqa: E402
from mcpdiag.collector.lane import CheckLane  # noqa: E402
from mcpdiag.emitters import DiagnosticEvent, format_ts  # noqa: E402
from mcpdiag.emitters.event import MAX_DETAIL  # noqa: E402
from mcpdiag.store import SQLiteEventStore, utc_now  # noqa: E402

BATCH = 500
RATIO_TARGET = 0.7
HTTP_TARGET = 15_000


def build_wire(count: int) -> list[dict[str, Any]]:
    """Wire events, oldest first, each with a detail from the realistic corpus."""
    now, rng = utc_now(), random.Random(count)
    details = corpus(min(count, 20_000), seed=count)
    wire = []
    for i in range(count):
        event = make_event(rng, now - timedelta(milliseconds=count - i)).to_wire()
        event["detail"] = details[i % len(details)][:MAX_DETAIL]
        wire.append(event)
    return wire


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
    lane = CheckLane()
    await pipeline.start()
    # In order, like the raw peer: popping from the end would insert the batches newest first, which
    # splits B-tree pages in the middle and makes SQLite itself slower, whatever the pipeline does.
    requests = deque(events[i : i + BATCH] for i in range(0, len(events), BATCH))

    async def producer() -> None:
        while requests:
            request = requests.popleft()
            # As `POST /v1/events` does: the checks run on the collector's check lane, off the event loop.
            ready = (await lane.run_steps(validator.check_steps(request))).events if check else request
            await pipeline.submit(ready)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(8)))
    elapsed = time.perf_counter() - started
    await pipeline.stop()
    lane.close()
    await store.close()
    registry = pipeline.metrics.registry
    writes = registry.get_sample_value("mcpdiag_batch_events_count") or 1.0
    written = registry.get_sample_value("mcpdiag_batch_events_sum") or 0.0
    return len(events) / elapsed, written / writes


async def in_process_rounds(
    events: list[DiagnosticEvent], wire: list[dict[str, Any]], directory: Path, rounds: int
) -> dict[str, list[float]]:
    """Per round: raw append, checked and pipeline-only rates, and the checked path's mean batch size."""
    found: dict[str, list[float]] = {"raw": [], "checked": [], "pipeline": [], "batch": []}
    order = ["raw", "checked", "pipeline"]
    for round_ in range(rounds):
        shift = round_ % len(order)
        for which in order[shift:] + order[:shift]:
            place = directory / f"{which}-{round_}"
            place.mkdir()
            if which == "raw":
                found["raw"].append(await raw_append(events, place))
            elif which == "checked":
                rate, size = await pipeline_rate(wire, place, "checked", check=True)
                found["checked"].append(rate)
                found["batch"].append(size)
            else:
                found["pipeline"].append((await pipeline_rate(events, place, "pipeline", check=False))[0])
            shutil.rmtree(place)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch_collector(directory: Path, key: str, port: int, *, budgets: bool) -> subprocess.Popen[bytes]:
    """The standalone collector in its own process, configured through the environment; `budgets` False
    turns the storm budgets off (`MCPDIAG_SERVER_BUDGET_PER_S=0`, `MCPDIAG_KEY_BUDGET_PER_S=0`)."""
    name = "http" if budgets else "http-unbudgeted"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("emitters", "collector", "api", "ui")),
        "MCPDIAG_STORE_URL": f"sqlite:///{directory / (name + '.db')}",
        "MCPDIAG_SPOOL_DIR": str(directory / f"{name}-spool"),
        "MCPDIAG_INGEST_KEYS": key,
    }
    if not budgets:
        env |= {"MCPDIAG_SERVER_BUDGET_PER_S": "0", "MCPDIAG_KEY_BUDGET_PER_S": "0"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "mcpdiag.collector.app:create_collector_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=directory)


async def http_rate(
    wire: list[dict[str, Any]], directory: Path, *, budgets: bool
) -> tuple[float, float, float]:
    key = secrets.token_hex(16)
    port = free_port()
    server = launch_collector(directory, key, port, budgets=budgets)
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
            # Encoded before the clock starts: the figure is the collector's, not the client's JSON encoder.
            batches = [
                json.dumps({"events": wire[i : i + BATCH]}).encode() for i in range(50, len(wire), BATCH)
            ]
            total = len(wire) - 50
            headers = {"content-type": "application/json"}

            async def sender() -> None:
                while batches:
                    response = await client.post("/v1/events", content=batches.pop(), headers=headers)
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
    wire = build_wire(count)
    now = format_ts(utc_now())
    events = [DiagnosticEvent.model_validate(event) for event in wire]
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="mcpdiag-ingest-bench-") as tmp:
        directory = Path(tmp)
        found = await in_process_rounds(events, wire, directory, rounds)
        fresh = [{**event, "ts": now} for event in wire[: min(len(wire), 50_050)]]
        # The ingest path's capacity: the budgets off, every event stored one by one. With the default
        # budgets (1,000 events/s per key after a burst of 10,000; 10/s per server after 200) the same
        # 50,000 events at once are a storm: merged into summaries, each request answered when its merge
        # window (1 s) closes, so that figure measures the window (4 clients x 500 events a second).
        http, lone, http_batch = await http_rate(fresh, directory, budgets=False)
        stormed, _, stormed_batch = await http_rate(fresh, directory, budgets=True)
    raw, checked, piped = (statistics.median(found[k]) for k in ("raw", "checked", "pipeline"))
    ratio = statistics.median(c / r for c, r in zip(found["checked"], found["raw"], strict=True))
    pipe_ratio = statistics.median(p / r for p, r in zip(found["pipeline"], found["raw"], strict=True))
    detail = statistics.mean(len(event.get("detail") or "") for event in wire)
    print(
        f"events: {count}, batch {BATCH}, mean detail {detail:.0f} chars, cpus {os.cpu_count()}, "
        f"load average {load_before} → {load()}"
    )
    print(f"raw EventStore.append (SQLite)      {raw:>10,.0f} events/s  (median of {rounds} rounds)")
    print(
        f"validate + redact + pipeline        {checked:>10,.0f} events/s  ratio {ratio:.2f} "
        f"(target ≥ {RATIO_TARGET})"
    )
    print(f"pipeline only (no checks)           {piped:>10,.0f} events/s  ratio {pipe_ratio:.2f}")
    for i, (r, c, p, size) in enumerate(
        zip(found["raw"], found["checked"], found["pipeline"], found["batch"], strict=True)
    ):
        print(
            f"  round {i + 1}: raw {r:>8,.0f}  checked {c:>8,.0f} ({c / r:.2f})  pipeline {p:>8,.0f} "
            f"({p / r:.2f})  mean batch {size:.0f}"
        )
    print(
        f"POST /v1/events over loopback       {http:>10,.0f} events/s  (batches of {BATCH}, 4 clients; "
        f"mean store write {http_batch:.0f} events; target ≥ {HTTP_TARGET:,})"
    )
    print(
        f"  with the default storm budgets    {stormed:>10,.0f} events/s  (merged into summaries; "
        f"mean store write {stormed_batch:.0f} events)"
    )
    print(f"lone 1-event POST latency (median)  {lone * 1000:>10.1f} ms")
    if json_path:
        how = f"{count:,} realistic events (mean detail {detail:.0f} chars), batches of {BATCH}, fresh SQLite"
        rounds_how = f"median of {rounds} rounds taking turns, {how}"
        figures = [
            {
                "figure": "validate + redact + pipeline → SQLite (events/s)",
                "value": checked,
                "target": f"≥ {RATIO_TARGET}x raw append",
                "peer": raw,
                "ratio": ratio,
                "pass": ratio >= RATIO_TARGET,
                "method": f"{rounds_how}; EventValidator.check in a worker thread, 8 producers; "
                "peer = raw EventStore.append of the validated events; ratio = median of per-round ratios",
            },
            {
                "figure": "pipeline only, no checks (events/s)",
                "value": piped,
                "target": "",
                "peer": raw,
                "ratio": pipe_ratio,
                "pass": None,
                "method": f"{rounds_how}; ready events, 8 producers",
            },
            {
                "figure": "POST /v1/events over loopback (events/s)",
                "value": http,
                "target": f"≥ {HTTP_TARGET:,}/s",
                "peer": None,
                "ratio": None,
                "pass": http >= HTTP_TARGET,
                "method": f"one run, collector in its own process, storm budgets off, 4 clients, batches "
                f"of {BATCH} (bodies encoded beforehand), realistic events",
            },
            {
                "figure": "POST /v1/events over loopback, default storm budgets (events/s)",
                "value": stormed,
                "target": "",
                "peer": None,
                "ratio": None,
                "pass": None,
                "method": "as above with the default budgets: the events are merged into summaries and each "
                "request waits for its merge window (budget_merge_s)",
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
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of raw, checked and pipeline-only, taking turns"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.rounds, arguments.json))
