"""Redaction work grows linearly with its input, whatever the input repeats: every gate literal, key word,
separator, quote, escape and placeholder, alone or mixed, at 1 KB to 256 KB.

Work is compared, not timed: the CPU time of one input against the CPU time of the same input four times as
long, both measured in this thread (`time.thread_time`, the best of three), so that a slow or busy machine
slows both alike. Linear work grows about 4 times; the quadratic patterns this guards against grew 16 times
(322 KB of `"key" * N` took 54 s). The factor allowed is 10.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpdiag.emitters import Redactor
from mcpdiag.emitters.redact import GATE_LITERALS
from mcpdiag.emitters.redact_rules import TOKEN_RULES

FACTOR = 10.0
KB = 1024

WORDS = [
    "key", "token", "password", "pass", "secret", "auth", "session", "cookie", "signature", "apiKey",
    "Authorization", "Bearer", "Basic", "credential", "private_key", "client_secret", "sig", "code", "name",
    "value", "mysql", "sshpass", "curl", "hooks.slack.com/services/", "-----BEGIN PRIVATE KEY-----",
    "[REDACTED:jwt]", "eyJ", "AKIA", "AIza", "ghp_", "sk-", "xoxb-", "https://", "a.", "http://u:",
]  # fmt: skip
SEPARATORS = [
    *" \t\n=:;,&?#@/<>[]{}()\"'\\%-_.+",
    "%3D", "%25", '\\"', "\\\\", "\\u0022", "&quot;", "&#", "--", "-p", "-u", ": ", '="', '":"',
]  # fmt: skip
ATOMS = sorted({*GATE_LITERALS, *(lit.upper() for lit in GATE_LITERALS), *WORDS, *SEPARATORS})

# Inputs that were quadratic, or would be with a careless pattern: each is repeated to the size.
KNOWN = [
    "key", "token", "pass=", "passport=", "?keyx=aaaa", "a.", "a.a@", "http://x:", "Bearer Bearer ",
    "-----BEGIN ", '"token": "', "'secret': '", 'password="', "<password>", "<password><![CDATA[", "&key=",
    "#token=", "%", "%3", "%25", "\\", '\\\\"', "\\u00", "&quot;", '"name": "Authorization", "value": "',
    '["token", "', "mysql ", "sshpass ", "curl -u a", "--token ", "-p", "hooks.slack.com/services/",
    "eyJaaaaa.", "eyJ_", "eyJgho_", "ghp_", "[REDACTED:x]", "token=[REDACTED:a]", "x" * 50 + "=",
    "aws_secret_access_key=",
    # Base64: one run that says candidates again and again, the same nested in itself, runs one short of
    # being read, and the two alphabets taking turns.
    base64.b64encode(b"token=" * 3).decode(), base64.b64encode(base64.b64encode(b"password=" * 4)).decode(),
    "A" * 15 + " ", "Ab+/" * 3 + "a-b_", "QUFB=", "a" * 15 + "%2B",
    # Base64 three deep: each level read from five starts would fan out 5x, were it read below the first.
    base64.b64encode(base64.b64encode(base64.b64encode(b"token=" * 4))).decode() + "\n",
    # Base64 wrapped over many lines (a PEM blob, `base64` output in a log): every line began a run read
    # through every line after it, in both alphabets, broken as written or escaped in JSON.
    "A" * 64 + "\n", "A" * 64 + "\\n", "A" * 76 + "\r\n", "A" * 64 + "\\r\\n", "QUFB" * 16 + "\n",
    "A" * 16 + "\n", "_" * 16 + "\n", "a" * 64 + "\r\n",
]  # fmt: skip


def _cost(work: Callable[[str], Any], text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        work(text)
        best = min(best, time.thread_time() - start)
    return best


def _growth(work: Callable[[str], Any], unit: str, size: int) -> tuple[float, float]:
    small = unit * (size // len(unit) + 1)
    return _cost(work, small), _cost(work, small * 4)


def _assert_linear(work: Callable[[str], Any], unit: str, size: int) -> None:
    small, large = _growth(work, unit, size)
    # A floor of 1 ms: below it, scheduler and cache noise are a large share of the small run.
    assert large <= FACTOR * max(small, 1e-3), (
        f"{unit!r} x {size // KB} KB: {small * 1e3:.1f} ms, x4: {large * 1e3:.1f} ms"
    )


REDACTOR = Redactor(["kn0wn-secret-value"])


def _text(text: str) -> str:
    return REDACTOR.text(text)


def _event(text: str) -> Any:
    return REDACTOR.value({"tool": text, "detail": text, "attrs": {text: text, "list": [text]}}, {})


@pytest.mark.parametrize("unit", KNOWN)
def test_known_adversarial_repetitions_are_linear_in_text_and_events(unit: str) -> None:
    for size in (4 * KB, 64 * KB):
        _assert_linear(_text, unit, size)
    _assert_linear(_event, unit, 16 * KB)


# What can join a token's prefix to the text around it: a prefix glued to itself again and again by one of
# these is a run of candidates, each of which a rule may read to the run's end (`eyJ_` was quadratic: a
# JWT's body takes `_` and `-`, and every `eyJ` after one was read to the end of the run again).
JOINERS = ("", "_", "-", ".", "0", "=", "/")
SPELLED = ("eyJ", "AIza", "AKIA", "GHP_", "Glpat-", "XOXB-", "SK-")
GLUED = sorted({lit + joiner for lit in (*GATE_LITERALS, *SPELLED) for joiner in JOINERS})


def test_every_gate_literal_glued_to_itself_by_a_joiner_is_linear() -> None:
    slow = []
    for unit in GLUED:
        small, large = _growth(_text, unit, 16 * KB)
        if large > FACTOR * max(small, 1e-3):
            slow.append(f"{unit!r}: {small * 1e3:.1f} ms, x4: {large * 1e3:.1f} ms")
    assert not slow, slow


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=6).map("".join))
def test_any_repeated_mix_of_literals_words_separators_and_escapes_is_linear(unit: str) -> None:
    _assert_linear(_text, unit, 64 * KB)


@pytest.mark.parametrize("size", [1 * KB, 16 * KB, 64 * KB])
def test_mixed_realistic_noise_is_linear(size: int) -> None:
    unit = 'key=a "token": [x, <password>p</password> Bearer ab%3D ghp_ \\"pass\\": &quot; '
    _assert_linear(_text, unit, size)


# Characters whose lowercase is one ASCII letter (the Kelvin sign is `k`): where they stand, the lowercased
# text the rules search differs from the text they read. A marker spelled with one once sent the assignment
# rule's search back to where it started, forever; the sweep runs in a child process so that a hang fails.
_SWEEP = """
from mcpdiag.emitters import Redactor
from mcpdiag.emitters.redact_assign import SITES
folded = [c for c in map(chr, range(0x80, 0x30000)) if len(c.lower()) == 1 and c.lower().isascii()]
assert folded, "no character lowercases to ASCII"
redactor = Redactor([])
for marker in SITES:
    for at in range(len(marker)):
        for c in folded:
            if marker[at] == c.lower():
                word = marker[:at] + c + marker[at + 1 :]
                for text in (word + "=abcdef123456", "x " + word + ": y " + word, "--" + word + " v"):
                    redactor.text(text)
print("ok")
"""


def test_markers_spelled_with_characters_that_lowercase_to_ascii_end() -> None:
    """On the default engine (`make test` runs this file again with MCPDIAG_REDACT_ENGINE=stdlib)."""
    done = subprocess.run(
        [sys.executable, "-c", _SWEEP], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_finding_base64_forms_in_text_that_is_not_ascii_grows_linearly() -> None:
    """Positions of forms in text that is not ASCII are mapped back to characters in one walk."""
    from mcpdiag.emitters.redact import BASE64_FINDER

    unit = "é " + base64.b64encode(b"token ").decode() + " "
    _assert_linear(BASE64_FINDER.ends, unit, 64 * KB)


def _searched(rule: Any, text: str) -> list[Any]:
    """The edits of `rule` found by its head's own search, match after match (quadratic where a run holds
    many candidates, exact by definition): the same rule without its candidate-by-candidate search."""
    out: list[Any] = []
    dataclasses.replace(rule, lead=None, run=None).edits(text, text.lower(), frozenset(), out)
    return out


RUN_RULES = [rule for rule in TOKEN_RULES if rule.lead is not None]


def test_some_rule_is_tried_candidate_by_candidate() -> None:
    assert [rule.name for rule in RUN_RULES] == ["jwt"]


def test_a_rule_tried_candidate_by_candidate_finds_what_its_search_finds() -> None:
    """Every text of up to seven pieces: candidates that fail on a short body, on too few dots, inside a run
    or after a dot, and ones that match."""
    pieces = ("eyJ", "eyJabcde", "_", ".", " ")
    texts = ["".join(p) for n in range(8) for p in itertools.product(pieces, repeat=n)]
    for rule in RUN_RULES:
        for text in texts:
            found: list[Any] = []
            rule.edits(text, text.lower(), frozenset(), found)
            assert found == _searched(rule, text), text
