"""Latency of `GET /api/mcp/{server}/diagnostics` (a user-scoped page of 50) at 10k, 100k and 1M events.

Run from the repository root: `.venv/bin/python bench/api_bench.py [--quick] [--json PATH]`.

The same SQLite files as `bench/store_bench.py` (realistic events over 20 servers and 200 users, 30 %
server-wide), served by the real API app (`create_app`: JWT verification, RBAC, parameter checks,
response model, request-id middleware) two ways: in-process, by calling the ASGI app directly (no client
library in the timing: httpx's ASGI transport alone adds ~0.5 ms of per-request import probing), and over
loopback HTTP through uvicorn with an httpx keep-alive client. Every call is a plain user (HS256 token,
servers claim `*`) reading a random server; ~20 % of calls fetch the next page with the cursor of an
earlier first page. Sizes are sampled in interleaved blocks so machine noise hits all alike.

Targets: in-process p99 <= 10 ms at 1M events; p99 at 1M <= 2x p99 at 10k (both modes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
for part in ("emitters", "collector", "api", "."):
    sys.path.insert(0, str(ROOT / part))

import httpx  # noqa: E402
import jwt  # noqa: E402
from bench.store_bench import SERVERS, USERS, build_datasets, interleave, percentile, warm  # noqa: E402

from mcpdiag.api import ApiSettings, create_app  # noqa: E402
from mcpdiag.cli.serving import serving  # noqa: E402
from mcpdiag.collector import CollectorSettings  # noqa: E402

PAGE_LIMIT = 50
SECOND_PAGE_SHARE = 0.2
WARMUP_CALLS = 30
P99_TARGET_MS = 10.0
P99_GROWTH_TARGET = 2.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class AsgiClient:
    """The smallest in-process HTTP client: one ASGI call per request, the body collected in memory."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(self, path: str, *, params: dict[str, Any], headers: dict[str, str]) -> AsgiResponse:
        query = urlencode(params).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("api", 80),
            "state": {},
        }
        status, chunks = 0, []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return AsgiResponse(status, b"".join(chunks))


@dataclass(slots=True)
class AsgiResponse:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(slots=True)
class Sampler:
    """Timed diagnostics calls of one app and one mode (in-process or loopback)."""

    client: httpx.AsyncClient | AsgiClient
    tokens: dict[str, str]
    rng: random.Random
    cursors: list[tuple[str, str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    second_pages: int = 0

    async def run(self, calls: int, *, record: bool = True) -> None:
        for _ in range(calls):
            second = bool(self.cursors) and self.rng.random() < SECOND_PAGE_SHARE
            if second:
                user, server, cursor = self.cursors.pop(self.rng.randrange(len(self.cursors)))
                params = {"limit": PAGE_LIMIT, "cursor": cursor}
            else:
                user, server = self.rng.choice(USERS), self.rng.choice(SERVERS)
                params = {"limit": PAGE_LIMIT}
            headers = {"Authorization": f"Bearer {self.tokens[user]}"}
            start = time.perf_counter()
            response = await self.client.get(f"/api/mcp/{server}/diagnostics", params=params, headers=headers)
            elapsed = time.perf_counter() - start
            body = response.json()
            assert response.status_code == 200 and body["items"], (response.status_code, body)
            assert all(item["userId"] in (user, None) and "detail" not in item for item in body["items"])
            if not second and body["nextCursor"]:
                self.cursors.append((user, server, body["nextCursor"]))
            if record:
                self.latencies.append(elapsed * 1000)
                self.second_pages += second


@contextlib.asynccontextmanager
async def running_app(
    db: Path, workdir: Path, secret: str, mode: str
) -> AsyncIterator[httpx.AsyncClient | AsgiClient]:
    """The API app on `db`, reachable in-process (`asgi`) or over loopback uvicorn (`http`)."""
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=secret),
        CollectorSettings(
            _env_file=None,
            store_url=f"sqlite:///{db}",
            spool_dir=workdir / f"spool-{db.stem}-{mode}",
            ingest_keys=frozenset({secrets.token_hex(16)}),
            purge_interval_s=86_400,
        ),
    )
    if mode == "asgi":
        async with app.router.lifespan_context(app):
            yield AsgiClient(app)
    else:
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
            yield client


async def bench(workdir: Path, sizes: Sequence[int], samples: int, rng: random.Random) -> dict[str, Any]:
    files = build_datasets(workdir, sizes, rng)
    warm(list(files.values()))
    secret = secrets.token_urlsafe(48)
    now = int(time.time())
    tokens = {
        user: jwt.encode({"sub": user, "exp": now + 86_400, "mcp_servers": "*"}, secret, algorithm="HS256")
        for user in USERS
    }
    results: dict[str, Any] = {}
    for mode in ("asgi", "http"):
        async with contextlib.AsyncExitStack() as stack:
            samplers = {}
            for size in sizes:
                client = await stack.enter_async_context(running_app(files[size], workdir, secret, mode))
                samplers[size] = Sampler(client, tokens, rng)
            await interleave(list(samplers.values()), samples, warmup=WARMUP_CALLS)
        results[mode] = {}
        for size, sampler in samplers.items():
            lat = sampler.latencies
            row = {
                "p50_ms": percentile(lat, 50),
                "p99_ms": percentile(lat, 99),
                "max_ms": max(lat),
                "samples": len(lat),
                "second_pages": sampler.second_pages,
            }
            results[mode][size] = row
            print(
                f"  {mode:<4} {size:>9,} events  p50 {row['p50_ms']:5.2f} ms  p99 {row['p99_ms']:5.2f} ms  "
                f"max {row['max_ms']:6.2f} ms | {len(lat)} calls, {sampler.second_pages} 2nd pages"
            )
    return results


def short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def verdicts(results: dict[str, Any], sizes: Sequence[int]) -> list[tuple[str, float, str, bool]]:
    small, large = sizes[0], sizes[-1]
    out = [
        (
            f"in-process p99 at {short(large)}",
            results["asgi"][large]["p99_ms"],
            f"<= {P99_TARGET_MS:.0f} ms",
            results["asgi"][large]["p99_ms"] <= P99_TARGET_MS,
        )
    ]
    for mode, name in (("asgi", "in-process"), ("http", "loopback")):
        ratio = results[mode][large]["p99_ms"] / results[mode][small]["p99_ms"]
        out.append(
            (f"{name} p99 {short(large)} / {short(small)}", ratio, f"<= {P99_GROWTH_TARGET:.0f}x", ratio <= 2)
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10k and 100k only, fewer samples")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--samples", type=int, default=0, help="calls per size and mode (default 500)")
    parser.add_argument("--seed", type=int, default=20261121, help="random seed of the generated data")
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    samples = args.samples or (200 if args.quick else 500)
    print(
        f"mcpdiag API bench ({'quick' if args.quick else 'full'}): Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.machine()}; load average before: {load()}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mcpdiag-api-bench-") as tmp:
        results = asyncio.run(bench(Path(tmp), sizes, samples, random.Random(args.seed)))
    print("\n| figure | value | target | verdict |\n|---|---|---|---|")
    checks = verdicts(results, sizes)
    for name, value, target, ok in checks:
        shown = f"{value:.2f} ms" if "ms" in target else f"{value:.2f}x"
        print(f"| {name} | {shown} | {target} | {'pass' if ok else 'FAIL'} |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average after: {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"bench": "api", "results": results}, indent=2) + "\n")
    return 0 if args.quick or all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
