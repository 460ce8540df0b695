"""Per-call cost of `Emitter.emit()` next to structlog, stdlib logging and OpenTelemetry logs, same run.

Each figure: calls are timed in groups of 10 with `perf_counter_ns`; the per-call cost of each group is one
sample; p50/p99 over all samples after a warm-up. Every peer writes a comparable record (the same fields)
to a sink that discards it.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable

GROUP = 10


def measure(fn: Callable[[int], object], samples: int) -> tuple[float, float]:
    """p50 and p99 per-call cost in µs of `fn(i)`."""
    for i in range(2000):
        fn(i)
    costs: list[float] = []
    clock = time.perf_counter_ns
    for s in range(samples):
        base = s * GROUP
        start = clock()
        for i in range(base, base + GROUP):
            fn(i)
        costs.append((clock() - start) / GROUP / 1000)
    costs.sort()
    return statistics.median(costs), costs[int(len(costs) * 0.99)]


def mcpdiag_emit() -> tuple[Callable[[int], object], Callable[[], None]]:
    from mcpdiag.emitters import CallableSink, Emitter

    emitter = Emitter(CallableSink(lambda batch: None), service="bench", queue_size=1_000_000)

    def call(i: int) -> object:
        return emitter.emit(
            "MCP_TOOL_ERROR", server="github", touchpoint="tool_call", user_id="alice", tool="search"
        )

    return call, lambda: emitter.close(30)


def structlog_json() -> tuple[Callable[[int], object], Callable[[], None]]:
    import io

    import structlog

    class Null(io.StringIO):
        def write(self, s: str) -> int:
            return len(s)

    logger = structlog.wrap_logger(
        structlog.PrintLogger(Null()),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
    )

    def call(i: int) -> object:
        return logger.warning(
            "MCP_TOOL_ERROR", server="github", touchpoint="tool_call", user_id="alice", tool="search"
        )

    return call, lambda: None


def stdlib_json() -> tuple[Callable[[int], object], Callable[[], None]]:
    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return json.dumps(
                {
                    "ts": self.formatTime(record),
                    "level": record.levelname,
                    "msg": record.getMessage(),
                    **record.__dict__.get("ctx", {}),
                }
            )

    class NullHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)

    logger = logging.getLogger("bench.stdlib")
    logger.propagate = False
    handler = NullHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    ctx = {"server": "github", "touchpoint": "tool_call", "user_id": "alice", "tool": "search"}

    def call(i: int) -> object:
        logger.warning("MCP_TOOL_ERROR", extra={"ctx": ctx})
        return None

    return call, lambda: None


def otel_logs() -> tuple[Callable[[int], object], Callable[[], None]]:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        LogRecordExporter,
        LogRecordExportResult,
    )

    class NoopExporter(LogRecordExporter):
        def export(self, batch: object) -> LogRecordExportResult:
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(NoopExporter(), max_queue_size=1_000_000))
    logger = provider.get_logger("bench")
    attributes = {
        "mcp.server.name": "github",
        "mcp.touchpoint": "tool_call",
        "enduser.id": "alice",
        "mcp.tool.name": "search",
    }

    def call(i: int) -> object:
        logger.emit(severity_number=SeverityNumber.WARN, body="MCP_TOOL_ERROR", attributes=attributes)
        return None

    return call, provider.shutdown


PEERS = {
    "mcpdiag emit()": mcpdiag_emit,
    "structlog JSON": structlog_json,
    "stdlib logging JSON": stdlib_json,
    "OpenTelemetry logs (batch)": otel_logs,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20_000, help="groups of 10 calls per figure")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    samples = 2000 if args.quick else args.samples
    results: dict[str, tuple[float, float]] = {}
    for name, factory in PEERS.items():
        call, done = factory()
        results[name] = measure(call, samples)
        done()
    ours = results["mcpdiag emit()"][0]
    print(f"per-call cost, {samples} samples of {GROUP} calls each (µs per call)")
    print(f"{'figure':30} {'p50':>8} {'p99':>8} {'emit/peer p50':>14}")
    for name, (p50, p99) in results.items():
        ratio = "" if name.startswith("mcpdiag") else f"{ours / p50:.2f}"
        print(f"{name:30} {p50:8.2f} {p99:8.2f} {ratio:>14}")
    checks = {
        "emit() p50 <= 3 µs": ours <= 3.0,
        "emit/structlog <= 1/3": ours <= results["structlog JSON"][0] / 3,
        "emit/OpenTelemetry <= 1/6": ours <= results["OpenTelemetry logs (batch)"][0] / 6,
    }
    for label, ok in checks.items():
        print(f"target {label}: {'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({k: {"p50_us": v[0], "p99_us": v[1]} for k, v in results.items()}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
