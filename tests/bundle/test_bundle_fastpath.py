"""The exporter's shortcuts give exactly what the full treatment gives: sanitizing stored JSON lines, the leak
scan's line selection, and the aggregates' bulk counting."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest

from mcpdiag.bundle.aggregate import BundleStats, event_fields, hour_key
from mcpdiag.bundle.gates import PAIR_NAME_SPELLINGS
from mcpdiag.bundle.leakscan import LeakScanner, _json_line
from mcpdiag.bundle.sanitize import EventSanitizer
from mcpdiag.emitters.redact_keys import PAIR_NAME_KEYS

SECRET = "hunter2-" + "x7Qz" * 3
PIECES = [
    "oauth", "session", "Authenticate", "MCP_AUTH_REQUIRED", "x", "", "é", "İ", "\u212a", "tools", "key",
    "Bearer required", "Bearer abcdefgh12345678", "token: ", "token=abc123", "authorization:",
    "awssecretkey: ",
    "A" * 40, "user@", "?a=b", "?sig=zz", "secretary", "password", "apiKey", "null", "123", "\\", '"', "\n",
    "https://u:pw@host/x", "sk-" + "a1" * 12, SECRET, "-----BEGIN PRIVATE KEY-----", "Authorization",
    "X-Api-Key", "%3D", "&quot;", "ghp_" + "a1" * 18,
]  # fmt: skip
# Spliced into lines to break them: odd quotes, a rule spanning quotes, raw control characters.
BREAKS = ['"', '" "', '"awssecretkey: "' + "A" * 40, '"authorization: "x', '"oauth":"zz"', '\t"', '"\x01']
KEYS = [
    "detail",
    "attrs",
    "name",
    "msg",
    "tools",
    "max_tokens",
    "oauth",
    "sessions",
    "author",
    "password",
    "apiKey",
    "value",
    "Name",
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.5:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
    if roll < 0.6:
        return rng.choice([None, True, 1, 2.5, 1e16])
    if roll < 0.75 and depth < 2:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if depth < 2:
        return {rng.choice(KEYS + PIECES[:12]): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return "plain"


def _event(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "id": f"01M7FHGQS81Y6CDDWDG217T{n:03d}",
        "ts": f"2026-11-{15 + n % 3}T{n % 24:02d}:04:38.824Z",
        "server": rng.choice(["github", "oauth", "a b"]),
        "code": rng.choice(["MCP_TIMEOUT", "MCP_AUTH_REQUIRED", "MCP_CONNECTED", "MCP_NEW_THING"]),
        "severity": rng.choice(["info", "warning", "error"]),
        "touchpoint": rng.choice(["oauth", "tool_call"]),
        "detail": _value(rng) if rng.random() < 0.8 else None,
        "attrs": {rng.choice(KEYS + PIECES): _value(rng) for _ in range(rng.randint(0, 3))},
    }


@pytest.mark.parametrize("seed", range(6))
def test_sanitizing_json_lines_equals_sanitizing_parsed_events(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        include_detail = rng.random() < 0.7
        known = rng.choice([(), (SECRET,)])
        texts = [
            json.dumps(_event(rng, n), ensure_ascii=rng.random() < 0.2, separators=(",", ":"))
            for n in range(30)
        ]
        fast = EventSanitizer(known, include_detail=include_detail).json_lines(texts)
        full = EventSanitizer(known, include_detail=include_detail).lines([json.loads(t) for t in texts])
        assert len(fast.lines) == len(fast.keys) == len(fast.stamps) == len(full)
        total: Counter[str] = Counter()
        for i, (want_doc, want_line, want_counts) in enumerate(full):
            fields = event_fields(want_doc)
            assert (fast.keys[i], fast.stamps[i]) == (hour_key(fields), fields[4])
            line = fast.lines[i]
            assert json.loads(line) == json.loads(want_line) == want_doc and "\n" not in line
            total.update(want_counts)
        assert fast.redactions == dict(total)


def test_clean_lines_are_written_as_stored() -> None:
    texts = [
        json.dumps({"id": str(n), "server": "s", "touchpoint": "oauth", "detail": "Authenticate to continue"})
        for n in range(5)
    ]
    batch = EventSanitizer(()).json_lines(texts)
    assert batch.lines == texts and batch.redactions == {}
    # As a key, a secret-looking name is redacted even where the same word is harmless as a value.
    keyed = EventSanitizer(()).json_lines(['{"touchpoint":"oauth","attrs":{"oauth":"abcdef123456"}}'])
    assert json.loads(keyed.lines[0])["attrs"]["oauth"] == "[REDACTED:secret_key]"
    assert keyed.redactions == {"secret_key": 1}


@pytest.mark.parametrize("seed", range(6))
def test_leak_scan_line_selection_finds_what_the_full_gate_finds(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(40):
        known = rng.choice([(), (SECRET,)])
        texts = [json.dumps(_event(rng, n), ensure_ascii=False, separators=(",", ":")) for n in range(20)]
        clean = EventSanitizer(known).json_lines(texts).lines
        # Broken lines: a rule can match across the quotes of what would be separate strings in valid JSON
        # (odd quotes, raw control characters in strings).
        broken = [t[: rng.randint(0, len(t))] + rng.choice(BREAKS) + rng.choice(texts) for t in texts[:4]]
        for lines in (clean, clean + broken, texts):
            fast, full = LeakScanner(known), LeakScanner(known)

            def first(scanner: LeakScanner, indexes: list[int], lines: list[str] = lines) -> Any:
                found = ((i, _json_line(lines[i], scanner)) for i in indexes)
                return next(((i, rule) for i, rule in found if rule is not None), None)

            assert first(fast, fast.suspects(lines)) == first(full, full.gate.flagged(lines))


def test_counting_in_bulk_equals_counting_one_by_one() -> None:
    rng = random.Random(7)
    events: list[dict[str, Any]] = [_event(rng, n) for n in range(300)]
    events[10]["ts"] = ""
    events[20]["server"] = 17
    del events[30]["touchpoint"]
    one, bulk = BundleStats(), BundleStats()
    for event in events:
        one.add(event)
    for part in (events[:150], events[150:]):
        rows = [event_fields(e) for e in part]
        bulk.add_batch([hour_key(r) for r in rows], [r[4] for r in rows])
    assert bulk.total == 300
    assert bulk.summary() == one.summary()
    assert bulk.failures == one.failures and bulk.by_hour == one.by_hour and bulk.total == one.total
    # Oldest first (how a server's events are exported) takes the tally-in-bulk path: same result.
    ordered = sorted((e for e in events if isinstance(e.get("ts"), str) and e["ts"]), key=lambda e: e["ts"])
    one, bulk = BundleStats(), BundleStats()
    for event in ordered:
        one.add(event)
    for start in range(0, len(ordered), 64):
        rows = [event_fields(e) for e in ordered[start : start + 64]]
        bulk.add_batch([hour_key(r) for r in rows], [r[4] for r in rows])
    assert bulk.summary() == one.summary() and bulk.failures == one.failures


def test_occurrences_read_from_stored_lines_equal_those_of_the_parsed_events() -> None:
    """The head-and-tail shortcut reads `count`, `firstTs` and `lastTs` as parsing the line would: stored
    lines with and without a count, attrs that mimic the tail, and lines stored before `count` existed."""
    from datetime import timedelta

    from mcpdiag.bundle.aggregate import occurrences
    from tests.factories import NOW, make_event

    events = []
    for n in range(40):
        ts = NOW - timedelta(minutes=n)
        fields: dict[str, Any] = {"attrs": {"count": n, "lastTs": "x"} if n % 5 == 0 else {"n": n}}
        if n % 3 == 0:
            fields |= {"count": n + 2, "first_ts": ts - timedelta(seconds=n), "last_ts": ts}
        events.append(make_event(ts=ts, user_id=f"u{n}", **fields))
    texts = [event.model_dump_json(by_alias=True) for event in events]
    texts += [text.split(',"count":', 1)[0] + "}" for text in texts[:4]]  # as stored before `count`
    texts.append(texts[0].replace('"attrs":{"count":0', '"attrs":{"x":1},"a":{"count":0'))
    batch = EventSanitizer(()).json_lines(texts)
    assert batch.lines == texts
    expected = [occurrences(json.loads(text)) for text in texts]
    assert list(zip(batch.counts, batch.spans, strict=True)) == expected
    assert sum(batch.counts) == sum(e.count for e in events) + 4 + events[0].count


def test_the_pair_name_spellings_are_every_string_that_lowercases_to_a_pair_name() -> None:
    """The set lookup `_pairs` does instead of lowercasing every segment: the same answer for any string.
    Complete because the Kelvin sign is the only non-ASCII character that lowercases to an ASCII letter."""
    to_ascii = [c for c in range(0x80, 0x110000) if (low := chr(c).lower()).isascii() and low.isalpha()]
    assert to_ascii == [0x212A]
    rng = random.Random(7)
    letters = sorted({*"".join(PAIR_NAME_KEYS), *"".join(PAIR_NAME_KEYS).upper(), "\u212a", "İ", "x", "é"})
    samples = [*PAIR_NAME_SPELLINGS, *PAIR_NAME_KEYS, "", "names", "keys", "İey"]
    samples += ["".join(rng.choices(letters, k=rng.randint(1, 7))) for _ in range(20_000)]
    for segment in samples:
        assert (segment in PAIR_NAME_SPELLINGS) == (segment.lower() in PAIR_NAME_KEYS), segment
