"""Cost of `redact_text` and `Redactor.event` on realistic texts, next to one stdlib regex pass over each.

    .venv/bin/python bench/redact_bench.py [--rounds 7] [--json PATH]

Each text of the corpus (what emitters and the collector see: catalog messages, classifier details,
tracebacks, HTTP details with and without credentials, JSON bodies with escapes, Windows paths, URLs) is
redacted in groups of calls timed with `perf_counter_ns`; a figure is the median over rounds of the per-call
cost (µs). The peer is one `re.search` of a simple linear pattern (`[A-Za-z0-9]{40}`) over the same text:
issue 22 will ask redaction to cost no more than a small multiple of it. Secrets are generated at run time.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "emitters"))

from mcpdiag.emitters.redact import Redactor  # noqa: E402

PEER = re.compile(r"[A-Za-z0-9]{40}")


def corpus() -> dict[str, str]:
    """Named texts, clean ones first (the common case) and then ones that hold a secret."""
    token = secrets.token_urlsafe(30)
    traceback = "\n".join(
        f'  File "/usr/lib/python3.12/site-packages/httpx2/_transports/default.py", line {100 + i}, in '
        f"handle_async_request\n    resp = await self._pool.handle_async_request(req)"
        for i in range(12)
    )
    clean = {
        "catalog message": "github is not accepting connections right now; try again in a moment.",
        "classifier detail": (
            "MCP_CONNECTION_REFUSED by errno (touchpoint=connect, transport=streamable-http)\n"
            "  httpx2.ConnectError: [Errno 111] Connection refused\n"
            "  ConnectionRefusedError: [Errno 111] Connection refused\n"
            "http: POST https://mcp.example.com/mcp -> no response"
        ),
        "traceback 1.5 KB": "Traceback (most recent call last):\n" + traceback,
        "http detail 401": (
            "MCP_AUTH_REQUIRED by http_status (touchpoint=connect)\n"
            "  httpx2.HTTPStatusError: 401 Unauthorized\n"
            'http: POST https://mcp.example.com/mcp -> 401; www-authenticate: Bearer realm="mcp", '
            'error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/'
            'oauth-protected-resource"'
        ),
        "json body (escaped)": json.dumps(
            {"error": {"code": -32603, "message": "Internal error", "data": {"trace": traceback[:400]}}}
        ),
        "windows path": r"spawn failed: C:\Users\alice\AppData\Local\Programs\mcp\server.exe (errno 2)",
        "url with query": "GET https://api.example.com/v1/search?q=mcp%20server&page=2&limit=10 -> 200",
        "stderr tail 4 KB": "\n".join(
            f"2026-11-21T10:41:{i % 60:02d}.123Z INFO worker {i}: processed batch of 500 items in 12 ms"
            for i in range(56)
        )[:4096],
    }
    secret = {
        "bearer header": f"GET /mcp -> 401\nAuthorization: Bearer {token}\nAccept: text/event-stream",
        "query token": f"GET https://api.example.com/cb?code={token}&state=xyz -> 302",
        "json secret": json.dumps({"client_id": "app", "client_secret": token, "scope": "read"}),
        "percent-encoded": f"redirect to https://x.example.com/cb?next=%2Fhome%3Ftoken%3D{token}",
    }
    return {**{f"clean: {k}": v for k, v in clean.items()}, **{f"secret: {k}": v for k, v in secret.items()}}


def per_call(fn: Callable[[], object], rounds: int) -> float:
    """Median over `rounds` of the per-call cost in µs (each round: enough calls for ~20 ms)."""
    fn()
    start = time.perf_counter_ns()
    calls = 0
    while time.perf_counter_ns() - start < 5_000_000:
        fn()
        calls += 1
    group = max(10, calls * 4)
    costs = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(group):
            fn()
        costs.append((time.perf_counter_ns() - start) / group / 1000)
    return statistics.median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    redactor = Redactor([secrets.token_hex(12)])
    report: dict[str, dict[str, float]] = {}
    print(f"{'text':<34}{'chars':>7}{'redact_text µs':>16}{'one regex µs':>14}{'ratio':>8}")
    for name, text in corpus().items():
        ours = per_call(lambda text=text: redactor.text(text), args.rounds)  # type: ignore[misc]
        peer = per_call(lambda text=text: PEER.search(text), args.rounds)  # type: ignore[misc]
        report[name] = {"chars": len(text), "redact_us": ours, "regex_us": peer, "ratio": ours / peer}
        print(f"{name:<34}{len(text):>7}{ours:>16.2f}{peer:>14.2f}{ours / peer:>8.1f}")
    event = {
        "server": "github",
        "code": "MCP_CONNECTION_REFUSED",
        "touchpoint": "connect",
        "severity": "error",
        "messageSafe": corpus()["clean: catalog message"],
        "detail": corpus()["clean: classifier detail"],
        "attrs": {"signal": "errno", "exception": "httpx2.ConnectError", "errno": 111},
        "source": {"service": "chat-app", "host": "web-1", "version": "1.4.2"},
    }
    cost = per_call(lambda: redactor.event(event), args.rounds)
    report["event (clean)"] = {"redact_us": cost}
    print(f"{'Redactor.event, clean event':<34}{'':>7}{cost:>16.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
