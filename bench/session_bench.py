"""Wall time of `open_session` connect + `list_tools` + close next to the raw MCP SDK doing the same.

Runs on whichever SDK line the interpreter has (`bench/run_all.py` runs it with `.venv-mcp1`'s Python for
1.x and the main venv's for 2.x). The server is the zoo's real MCP server (1.x FastMCP or 2.x MCPServer) in a
process of its own on loopback. Each round connects once the raw way and once through `open_session`, in
alternating order, so both see the same machine load; the figure is the ratio of the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "emitters")]

from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from mcpdiag.emitters import CallableSink, Emitter  # noqa: E402
from mcpdiag.emitters.mcp import SDK_LINE, SDK_VERSION, open_session  # noqa: E402
from mcpdiag.emitters.mcp.sdk import http, seconds  # noqa: E402
from tests.e2e.servers import SERVER_FILE, free_port, wait_for_port  # noqa: E402


async def raw(url: str) -> float:
    """Connect, initialize, list tools and close with the SDK alone; seconds."""
    started = time.perf_counter()
    async with http.AsyncClient(timeout=http.Timeout(10.0, read=30.0)) as client:  # noqa: SIM117
        async with streamable_http_client(url, http_client=client) as (read, write, *_):
            async with ClientSession(read, write, read_timeout_seconds=seconds(30.0)) as session:
                await session.initialize()
                await session.list_tools()
    return time.perf_counter() - started


async def ours(url: str, emitter: Emitter) -> float:
    """The same through `open_session` (hooks, classification, lifecycle events); seconds."""
    started = time.perf_counter()
    async with open_session("bench", emitter=emitter, url=url, timeout=10.0, read_timeout=30.0) as session:
        await session.list_tools()
    return time.perf_counter() - started


async def measure(url: str, rounds: int) -> dict[str, list[float]]:
    emitter = Emitter(CallableSink(lambda batch: None), service="bench")
    times: dict[str, list[float]] = {"raw": [], "open_session": []}
    for _ in range(3):  # warm-up: imports, connection setup paths, the server's first sessions
        await raw(url)
        await ours(url, emitter)
    for i in range(rounds):
        order = ("raw", "open_session") if i % 2 == 0 else ("open_session", "raw")
        for name in order:
            times[name].append(await (raw(url) if name == "raw" else ours(url, emitter)))
    emitter.close(5)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (15 if args.quick else 60)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, SERVER_FILE, "http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        times = asyncio.run(measure(f"http://127.0.0.1:{port}/mcp", rounds))
    finally:
        server.kill()
        server.wait(5)
    raw_ms = statistics.median(times["raw"]) * 1000
    ours_ms = statistics.median(times["open_session"]) * 1000
    ratio = ours_ms / raw_ms
    figures = [
        {
            "figure": f"open_session connect+list_tools vs raw SDK, mcp {SDK_VERSION} (ms)",
            "value": round(ours_ms, 2),
            "target": "ratio ≤ 1.1",
            "peer": round(raw_ms, 2),
            "ratio": ratio,
            "pass": ratio <= 1.1,
            "method": f"median wall of {rounds} alternating rounds each after 3 warm-ups, same run; connect, "
            f"initialize, list_tools, close against the zoo's real {SDK_LINE}.x server in its own process on "
            "loopback",
        }
    ]
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps({"figures": figures, "times_s": times}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
