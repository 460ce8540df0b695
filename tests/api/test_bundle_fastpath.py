"""The exporter's shortcuts give exactly what the full treatment gives: sanitizing stored JSON lines, the leak
scan's line selection, and the aggregates' bulk counting."""

from __future__ import annotations

import json
import random
import zipfile
from typing import Any

import pytest

from mcpdiag.api.bundle import LeakDetectedError, leakscan, scan_bundle
from mcpdiag.api.bundle.aggregate import BundleStats
from mcpdiag.api.bundle.leakscan import LeakScanner, _json_line
from mcpdiag.api.bundle.sanitize import EventSanitizer

SECRET = "hunter2-" + "x7Qz" * 3
PIECES = [
    "oauth", "session", "Authenticate", "MCP_AUTH_REQUIRED", "x", "", "é", "İ", "\u212a", "tools", "key",
    "Bearer required", "Bearer abcdefgh12345678", "token: ", "token=abc123", "authorization:",
    "awssecretkey: ",
    "A" * 40, "user@", "?a=b", "?sig=zz", "secretary", "password", "apiKey", "null", "123", "\\", '"', "\n",
    "https://u:pw@host/x", "sk-" + "a1" * 12, SECRET, "-----BEGIN PRIVATE KEY-----",
]  # fmt: skip
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
        for (doc, line, counts), (want_doc, want_line, want_counts) in zip(fast, full, strict=True):
            assert doc == want_doc and counts == want_counts
            assert json.loads(line) == json.loads(want_line) and "\n" not in line


def test_clean_lines_are_written_as_stored() -> None:
    texts = [
        json.dumps({"id": str(n), "server": "s", "touchpoint": "oauth", "detail": "Authenticate to continue"})
        for n in range(5)
    ]
    rows = EventSanitizer(()).json_lines(texts)
    assert [line for _, line, _ in rows] == texts and all(not counts for _, _, counts in rows)
    # As a key, a secret-looking name is redacted even where the same word is harmless as a value.
    keyed = EventSanitizer(()).json_lines(['{"touchpoint":"oauth","attrs":{"oauth":"abcdef123456"}}'])
    assert keyed[0][0]["attrs"]["oauth"] == "[REDACTED:secret_key]"


@pytest.mark.parametrize("seed", range(6))
def test_leak_scan_line_selection_finds_what_the_full_gate_finds(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(40):
        known = rng.choice([(), (SECRET,)])
        texts = [json.dumps(_event(rng, n), ensure_ascii=False, separators=(",", ":")) for n in range(20)]
        clean = [line for _, line, _ in EventSanitizer(known).json_lines(texts)]
        # Broken lines: a rule can match across the quotes of what would be separate strings in valid JSON.
        broken = [
            t[: rng.randint(0, len(t))]
            + rng.choice(['"', '" "', '"awssecretkey: "' + "A" * 40, '"authorization: "x', '"oauth":"zz"'])
            + rng.choice(texts)
            for t in texts[:4]
        ]
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
    bulk.add_many(events[:150])
    assert bulk.total == 150
    bulk.add_many(events[150:])
    assert bulk.summary() == one.summary()
    assert bulk.failures == one.failures and bulk.by_hour == one.by_hour and bulk.total == one.total


def _helper_bundle(path: Any, planted: str | None) -> list[str]:
    """A bundle with four JSON Lines members (the last one may hold `planted`); their names."""
    names = [f"events/s{n}.jsonl" for n in range(4)]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, name in enumerate(names):
            body = f'{{"server":"s{n}","detail":"fine"}}\n' * (2000 + 500 * n)
            if planted is not None and n == 0:
                body += json.dumps({"detail": f"oops {planted}"}) + "\n"
            zf.writestr(name, body)
        zf.writestr("README.md", "# bundle\n")
    return names


def _ready_helper() -> leakscan.ScanHelper:
    helper = leakscan.ScanHelper.start()
    assert helper is not None
    assert helper.ready.wait(60)
    return helper


@pytest.mark.parametrize("planted", [None, SECRET])
def test_leak_scan_helper_process_gives_the_same_verdict(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, planted: str | None
) -> None:
    """The helper process scans the larger half of the JSON Lines members: a leak there refuses the bundle."""
    monkeypatch.setattr(leakscan, "HELPER_MIN_BYTES", 0)
    path = tmp_path / "b.zip"
    _helper_bundle(path, planted)
    with zipfile.ZipFile(path) as zf:
        share = [m.filename for m in leakscan._helper_share(zf.infolist())]
    assert share and "events/s0.jsonl" not in share  # the smallest member stays here...
    helper = _ready_helper()
    if planted is None:
        assert scan_bundle(path, [SECRET], helper) == 5
    else:
        with pytest.raises(LeakDetectedError) as caught:
            scan_bundle(path, [SECRET], helper)
        assert caught.value.file == "events/s0.jsonl" and SECRET not in str(caught.value)
    assert helper.proc.poll() is not None  # always stopped and reaped
    # ...and a leak in the helper's share is reported by the helper.
    path2 = tmp_path / "c.zip"
    with zipfile.ZipFile(path2, "w") as zf:
        zf.writestr("events/big.jsonl", '{"detail":"fine"}\n' * 5000)
        zf.writestr("events/small.jsonl", '{"detail":"fine"}\n' * 4000 + json.dumps({"d": SECRET}) + "\n")
    with zipfile.ZipFile(path2) as zf:
        assert [m.filename for m in leakscan._helper_share(zf.infolist())] == ["events/small.jsonl"]
    helper = _ready_helper()
    with pytest.raises(LeakDetectedError) as caught:
        scan_bundle(path2, [SECRET], helper)
    assert caught.value.file == "events/small.jsonl"


class _BrokenHelper(leakscan.ScanHelper):
    """Takes the job, then gives no usable answer."""

    def submit(self, path: Any, secrets: Any, members: Any) -> bool:
        return True

    def result(self, expected: int) -> tuple[str, str] | None:
        raise RuntimeError("no answer")


def test_leak_scan_without_a_usable_helper_scans_everything_itself(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leakscan, "HELPER_MIN_BYTES", 0)
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("events/big.jsonl", '{"detail":"fine"}\n' * 5000)
        zf.writestr("events/small.jsonl", '{"detail":"fine"}\n' * 4000 + json.dumps({"d": SECRET}) + "\n")
    with zipfile.ZipFile(path) as zf:
        assert [m.filename for m in leakscan._helper_share(zf.infolist())] == ["events/small.jsonl"]
    broken, gone = _BrokenHelper.start(), leakscan.ScanHelper.start()
    assert isinstance(broken, _BrokenHelper) and gone is not None
    gone.proc.kill()
    assert gone.done.wait(60)
    for helper in (broken, gone):
        with pytest.raises(LeakDetectedError) as caught:
            scan_bundle(path, [SECRET], helper)
        assert caught.value.file == "events/small.jsonl"
        assert helper.proc.poll() is not None
