"""Redaction throughput on a generated realistic corpus, next to one regex pass over the same texts.

    .venv/bin/python bench/redact_bench.py [--texts 20000] [--rounds 7] [--quick] [--json PATH]

The corpus (`redact_corpus.corpus`: ordinary event text, about 8 % holding a secret of a format the
redactor knows, a few long inputs) is generated at run time. Figures, all in the same run:

  redact_text      `mcpdiag.emitters.redact.redact_text` over every text, with the engine it picks
                   (the accelerated candidate scan when installed) and with the pure-Python engine
  peer             one stdlib `re` pass (`sub`) of 8 provider token formats over every text: the target is
                   redact_text ≥ 1x its throughput; the same pattern in RE2 (`google-re2`) when installed
  candidate scans  finding which gate literals a text holds, per engine measured (stdlib substring tests,
                   one stdlib alternation, pyahocorasick, Hyperscan, RE2): what chose the engine
  Redactor.value   the walk over realistic wire events (details from the corpus), with its cache

Each round times every contender once over the whole corpus, in an order that turns from round to round
(a busy shared machine slows all alike); a rate is the median over rounds, a ratio the median of the
per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "emitters"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcpdiag.emitters import redact_engine  # noqa: E402
from mcpdiag.emitters.redact import Redactor, redact_text  # noqa: E402
from redact_corpus import corpus  # noqa: E402

PEER_FORMATS = [
    r"ghp_[A-Za-z0-9]{36}",
    r"glpat-[\w-]{20,}",
    r"xox[abposr]-[A-Za-z0-9-]{10,}",
    r"AKIA[A-Z0-9]{16}",
    r"sk_live_[A-Za-z0-9]{16,}",
    r"AIza[\w-]{35}",
    r"eyJ[\w-]{5,}\.[\w-]*\.[\w-]*",
    r"sk-[\w-]{20,}",
]
PEER = "|".join(PEER_FORMATS)
TARGET = 1.0


def _scanners(literals: tuple[str, ...]) -> dict[str, Callable[[str], object]]:
    """Ways to find which of `literals` (lowercase) a text holds, one per engine that is installed."""
    out: dict[str, Callable[[str], object]] = {
        "stdlib substring tests": lambda text: [lit for lit in literals if lit in text.lower()],
    }
    alternation = "|".join(map(re.escape, sorted(literals, key=len, reverse=True)))
    stdlib = re.compile(alternation)
    out["stdlib one alternation"] = lambda text: set(stdlib.findall(text.lower()))
    try:
        import ahocorasick

        automaton = ahocorasick.Automaton()
        for lit in literals:
            automaton.add_word(lit, lit)
        automaton.make_automaton()
        out["pyahocorasick"] = lambda text: {lit for _, lit in automaton.iter(text.lower())}
    except ImportError:
        pass
    try:
        import hyperscan

        db = hyperscan.Database()
        flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
        db.compile(
            expressions=[re.escape(lit).encode() for lit in literals],
            ids=list(range(len(literals))),
            elements=len(literals),
            flags=[flags] * len(literals),
        )
        scratch = hyperscan.Scratch(db)
        found: set[int] = set()

        def on_match(index: int, start: int, end: int, flags: int, context: object) -> None:
            found.add(index)

        def scan(text: str) -> object:
            found.clear()
            db.scan(text.encode(), match_event_handler=on_match, scratch=scratch)
            return found

        out["hyperscan"] = scan
    except ImportError:
        pass
    try:
        import re2

        compiled = re2.compile(alternation)
        out["re2 one alternation"] = lambda text: set(compiled.findall(text.lower()))
    except ImportError:
        pass
    return out


def _pass(fn: Callable[[str], object], texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - started


def _events(texts: list[str]) -> list[dict[str, Any]]:
    """Wire events whose details are the corpus's texts (cut to the detail limit)."""
    return [
        {
            "id": f"01J{i:023d}",
            "ts": "2026-11-21T10:41:00.000Z",
            "server": "github",
            "code": "MCP_CONNECTION_REFUSED",
            "touchpoint": "connect",
            "severity": "error",
            "messageSafe": "github is not accepting connections right now; try again in a moment.",
            "detail": text[:4096],
            "traceId": f"{i:032x}",
            "attrs": {"signal": "errno", "exception": "httpx2.ConnectError", "errno": 111},
            "source": {"service": "chat-app", "host": "web-1", "version": "1.4.2"},
        }
        for i, text in enumerate(texts)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="5,000 texts, 3 rounds")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    count, rounds = (5000, 3) if args.quick else (args.texts, args.rounds)
    texts = corpus(count, args.seed)
    size = sum(len(text.encode()) for text in texts)
    long_texts = sum(len(text) >= 16 * 1024 for text in texts)
    changed = sum(redact_text(text) != text for text in texts)
    pure = Redactor(engine="stdlib") if "engine" in Redactor.__init__.__code__.co_varnames else None
    contenders: dict[str, Callable[[str], object]] = {"redact_text": redact_text}
    if pure is not None:
        contenders["redact_text, pure-Python engine"] = pure.text
    peer = re.compile(PEER)
    contenders["peer: one stdlib re pass"] = lambda text: peer.sub("[REDACTED]", text)
    try:
        import re2

        peer2 = re2.compile(PEER)
        contenders["peer: the same pattern in RE2"] = lambda text: peer2.sub("[REDACTED]", text)
    except ImportError:
        pass
    literals = tuple(
        lit for lit in getattr(redact_engine, "SCAN_LITERALS", redact_engine.GATE_LITERALS) if lit
    )
    scans = {f"candidate scan: {name}": fn for name, fn in _scanners(literals).items()}
    contenders.update(scans)
    walker = Redactor(cache_chars=256)
    events = _events(texts[: max(1, count // 4)])
    event_bytes = sum(len(json.dumps(event)) for event in events)

    times: dict[str, list[float]] = {name: [] for name in [*contenders, "Redactor.value (events)"]}
    names = list(times)
    load_before = os.getloadavg()
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "Redactor.value (events)":
                started = time.perf_counter()
                for event in events:
                    walker.value(event, {})
                times[name].append(time.perf_counter() - started)
            else:
                times[name].append(_pass(contenders[name], texts))
    load_after = os.getloadavg()

    def rate(name: str, total: int = size) -> float:
        return total / statistics.median(times[name]) / 1e6

    def ratio(name: str, peer_name: str) -> float:
        return statistics.median(p / o for o, p in zip(times[name], times[peer_name], strict=True))

    mean = size / len(texts)
    print(
        f"corpus: {len(texts):,} texts, {size / 1e6:.1f} MB, mean {mean:.0f} B, "
        f"{long_texts} of 16 KB or more, "
        f"{changed / len(texts):.1%} changed by redaction; {rounds} rounds; engine "
        f"{getattr(redact_engine, 'ENGINE', 'stdlib')}; load {load_before[0]:.2f} → {load_after[0]:.2f}"
    )
    peer_name = "peer: one stdlib re pass"
    for name in names:
        total = event_bytes if name.startswith("Redactor.value") else size
        print(f"  {name:<44}{rate(name, total):>9.1f} MB/s  {ratio(name, peer_name):>6.2f}x the stdlib pass")
    ours = ratio("redact_text", peer_name)
    print(
        f"redact_text / one stdlib regex pass: {ours:.2f} (target ≥ {TARGET:.1f}): "
        f"{'PASS' if ours >= TARGET else 'FAIL'}"
    )
    if args.json:
        how = (
            f"{len(texts):,} generated texts ({size / 1e6:.1f} MB, mean {mean:.0f} B, "
            f"{changed / len(texts):.0%} "
            f"redacted, {long_texts} ≥ 16 KB), median of {rounds} rounds, turns alternate"
        )
        figures = [
            {
                "figure": "redact_text throughput (MB/s)",
                "value": rate("redact_text"),
                "target": f"≥ {TARGET:.0f}x one stdlib regex pass",
                "peer": rate(peer_name),
                "ratio": ours,
                "pass": ours >= TARGET,
                "method": f"{how}; peer = one `re.sub` of 8 token formats; engine "
                f"{getattr(redact_engine, 'ENGINE', 'stdlib')}",
            }
        ]
        for name in names:
            if name in ("redact_text", peer_name):
                continue
            total = event_bytes if name.startswith("Redactor.value") else size
            figures.append(
                {
                    "figure": f"{name} (MB/s)",
                    "value": rate(name, total),
                    "target": "",
                    "peer": rate(peer_name),
                    "ratio": ratio(name, peer_name),
                    "pass": None,
                    "method": how
                    + ("; wire events, details from the corpus" if total == event_bytes else ""),
                }
            )
        report = {"bench": "redact", "figures": figures, "load": [load_before, load_after]}
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
