"""The text engine of redaction: which rules run on a text, the edits they and the known secrets call for
(in the text as written and in its decoded layers), and how the kept edits are applied.

Every rule names the lowercase literals one of which each of its matches holds (its gate) and those every
text it matches holds besides (`requires`): the candidate scan (`redact_scan`, one pass) says which
literals a text holds, and only the rules they let through run, each from its first candidate on. A text
that holds none (most text) costs the scan alone. `Redactor.text` (in `redact`) repeats one pass of this
engine until nothing changes.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Protocol

from mcpdiag.emitters import redact_assign
from mcpdiag.emitters.redact_rules import (
    CANDIDATE_TAGS,
    CANDIDATES,
    CLI_RULES,
    PAIR_RULES,
    PLACEHOLDER_RE,
    QUERY_PATTERN,
    QUERY_TAGS,
    TOKEN_RULES,
    URL_RULES,
    Edit,
)
from mcpdiag.emitters.redact_scan import LiteralFinder, Scanner, build, literal_finder, run_finder
from mcpdiag.emitters.redact_views import (
    BASE64_CHARS,
    BASE64_MIN,
    ESCAPE_MARKERS,
    ESCAPE_PATTERNS,
    MAX_DEPTH,
    View,
    base64_forms,
    base64_text,
    decode,
)


class _Rule(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def gate(self) -> frozenset[str]: ...
    @property
    def requires(self) -> tuple[frozenset[str], ...]: ...
    def edits(self, text: str, low: str, present: frozenset[str], out: list[Edit]) -> None: ...


class _Assignment:
    name = redact_assign.NAME
    gate = redact_assign.GATE
    requires: tuple[frozenset[str], ...] = ()

    def edits(self, text: str, low: str, present: frozenset[str], out: list[Edit]) -> None:
        redact_assign.edits(text, low, present, out)


ENCODED = "encoded_secret"
BASE64_TAG = "ctx:base64"
"""The scan tag of base64 that may say what a rule looks for: Hyperscan reports it where one of `BASE64_FORMS`
or wrapped base64 is (`BASE64_WRAPPED`), the stdlib engine where a run may be (`BASE64_SEARCH`); its literal
is empty, so it is in no `GATE_LITERALS`."""
# The tail of an escape that a run read as it is starts with (`\n`, `\u0022`, `\U0001F600`, `%3D`): a decoded
# layer would see the run after it (`redact_views`), and the layer is not read for base64 alone
# (`layer_worth`). After a backslash: how many characters the escape has beyond it (1 for `\n` and the rest).
_ESCAPE_TAILS = {"u": 5, "x": 3, "U": 9}


class _Encoded:
    """The `encoded_secret` rule: a run of base64 whose text, decoded, holds what any rule would redact
    (`config=<base64 of "token=ghp_…">`) is replaced whole. What a run says is decoded only to be judged,
    never remapped. A run is read from each of its first four characters (a few glued in front of it,
    `v1<base64>`, shift where the encoding starts), and from where an escape before it ends (`\\n` or
    `\\u0022` + base64 in a JSON string, `%3D` + base64), which is also where its replacement starts, so
    that the escape stays whole."""

    name = ENCODED
    gate = frozenset({BASE64_TAG})
    requires: tuple[frozenset[str], ...] = ()

    def edits(self, text: str, low: str, present: frozenset[str], out: list[Edit]) -> None:
        if _READING.get():
            return  # text decoded from a run: base64 is read one level deep (each level could fan out 5x)
        done = 0
        for start, end in RUNS.runs(text):
            if start < done:
                continue  # the same characters as a run of the other alphabet, already replaced
            before = text[start - 1] if start else ""
            tail = _ESCAPE_TAILS.get(text[start], 1) if before == "\\" else 2 if before == "%" else 0
            if _secret_run(text[start:end], tail):
                out.append((min(start + tail, end), end, f"[REDACTED:{ENCODED}]", ENCODED, -1, -1))
                done = end


_VERDICTS: dict[tuple[str, int], bool] = {}
"""Runs already judged (`_secret_run`): the same few recur (identifiers, paths), the more so in the stdlib
engine, which reads every run. Bounded; runs of `_VERDICT_CHARS` or more are judged every time."""
_VERDICTS_MAX = 4096
_VERDICT_CHARS = 256


def _secret_run(body: str, tail: int) -> bool:
    """Whether a run of base64, read from any of its first four characters or after the escape tail before
    it, says one of `BASE64_WORDS` and holds a secret."""
    key = (body, tail)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = any(
            len(body) - skip >= BASE64_MIN and _says_secret(base64_text(body[skip:]))
            for skip in dict.fromkeys((0, 1, 2, 3, tail))
        )
        if len(body) < _VERDICT_CHARS:
            if len(_VERDICTS) >= _VERDICTS_MAX:
                _VERDICTS.clear()
            _VERDICTS[key] = verdict
    return verdict


def _says_secret(said: str) -> bool:
    """Whether decoded text holds one of `BASE64_WORDS` (as spelled there) and a secret. Bytes that do not
    read as text (an id, a hash, a compressed blob) say a word by chance (`PWD=` in one ULID of a million,
    which redaction then made an invalid id): there only a provider's token format counts."""
    if not _SAYS_WORD(said):
        return False
    if not reads_as_text(said):
        return any(_token_in(rule, said) for rule in TOKEN_RULES)
    reading = _READING.set(True)
    try:
        return holds_secret(said)
    finally:
        _READING.reset(reading)


NOT_TEXT_SHARE = 0.1
"""The share of control, format and separator characters (space, tab and line breaks aside) above which
decoded bytes are not text: random bytes hold about a quarter, text none."""


def reads_as_text(said: str) -> bool:
    """Whether decoded base64 reads as text (`NOT_TEXT_SHARE`)."""
    odd = sum(1 for char in said if unicodedata.category(char)[0] in "CZ" and char not in " \t\n\r")
    return odd <= NOT_TEXT_SHARE * len(said)


def _token_in(rule: _Rule, text: str) -> bool:
    found: list[Edit] = []
    rule.edits(text, text.lower(), frozenset(), found)
    return bool(found)


def _says_word_by_loop(said: str) -> bool:
    """Whether `said` holds one of `BASE64_WORDS`, by a substring test per word (lowercase first)."""
    low = said.lower()
    return any(word in low and holds_any(said, spellings) for word, spellings in _WORD_SPELLINGS.items())


_READING: ContextVar[bool] = ContextVar("mcpdiag_reading_base64", default=False)
"""Set while text decoded from base64 is judged: the `encoded_secret` rule does not run there."""


# Order matters: specific formats first so each secret is counted under its own name, generic ones last.
_RULES: tuple[_Rule, ...] = (*TOKEN_RULES, *URL_RULES, *CLI_RULES, *PAIR_RULES, _Assignment(), _Encoded())

RULE_NAMES = ("known_secret", "secret_key", *dict.fromkeys(rule.name for rule in _RULES))
ESCAPES = frozenset(f"esc:{marker}" for marker in ESCAPE_MARKERS)
"""The tags of the escapes `redact_views` decodes: a text holding none has no decoded layer."""
_PATTERNS: dict[str, tuple[str, str | tuple[str, ...], str]] = {
    **{f"esc:{marker}": (marker, pattern, marker) for marker, pattern in ESCAPE_PATTERNS.items()},
    **{
        tag: (marker, redact_assign.SITE_PATTERN.format(m=marker), marker)
        for marker, tag in redact_assign.SITES.items()
    },
    **{tag: (word, QUERY_PATTERN.format(m=word), word) for word, tag in QUERY_TAGS.items()},
    **{CANDIDATE_TAGS[name]: spec for name, spec in CANDIDATES.items()},
}


_MIXED_CASE = {"aiza": "AIza", "eyj": "eyJ"}
"""Gate literals whose secrets spell them in mixed case (Google API keys, JWTs)."""


def _spellings(word: str) -> set[str]:
    """`word` (lowercase) as text writes it: lowercase, uppercase, capitalized (`apiKey`, `API_KEY`), and the
    mixed case of a provider's prefix (`AIza`)."""
    return {word, word.upper(), word.capitalize()} | ({_MIXED_CASE[word]} if word in _MIXED_CASE else set())


BASE64_WORDS: tuple[str, ...] = tuple(
    sorted(
        spelling
        for word in {
            _PATTERNS.get(tag, (tag,))[0] for rule in _RULES if rule.name != ENCODED for tag in rule.gate
        }
        if len(word.encode()) >= 3
        for spelling in _spellings(word)
    )
)
"""What base64 must say for the `encoded_secret` rule to read it: the gate literals of every other rule of
three bytes or more (shorter ones leave no trace of their own in base64), as `_spellings` writes them."""
_WORD_SPELLINGS: dict[str, tuple[str, ...]] = {}
for _spelling in BASE64_WORDS:
    _WORD_SPELLINGS[_spelling.lower()] = (*_WORD_SPELLINGS.get(_spelling.lower(), ()), _spelling)
BASE64_FORMS: tuple[str, ...] = tuple(
    sorted(
        set().union(
            *(base64_forms(word, encoding) for word in BASE64_WORDS for encoding in ("utf-8", "utf-16-le"))
        )
    )
)
"""The base64 of `BASE64_WORDS` (in UTF-8 and in UTF-16) at each offset: what the scan looks for, as written
(case matters)."""
BASE64_WRAPPED = r"[A-Za-z0-9+/]{64}(?:\r?\n|\\n)[A-Za-z0-9+/]"
"""A whole line of wrapped base64 and the next (`base64` wraps at 76, PEM at 64), where a word's form may be
split across the break (Hyperscan and Python syntax alike)."""
BASE64_SEARCH = f"[A-Za-z0-9+/_-]{{{BASE64_MIN}}}"
"""Where the stdlib engine reports `BASE64_TAG`: wherever a run may be (the forms one by one cost more)."""
_PATTERNS[BASE64_TAG] = ("", (*map(re.escape, BASE64_FORMS), BASE64_WRAPPED), BASE64_CHARS)
_TAG_NAMES = ESCAPES.union(
    *(rule.gate for rule in _RULES), *(group for rule in _RULES for group in rule.requires)
)
_SPECS = {tag: _PATTERNS.get(tag, (tag, None, tag)) for tag in sorted(_TAG_NAMES)}
TAGS: dict[str, tuple[str, str | tuple[str, ...] | None]] = {
    tag: (literal, pattern) for tag, (literal, pattern, _) in _SPECS.items()
}
"""What the candidate scan looks for: each tag with its literal and the pattern that narrows it, if any."""
_FORMS = {tag: forms for tag, (_, _, forms) in _SPECS.items()}
_LITERAL = {tag: literal for tag, (literal, _) in TAGS.items()}
_LITERALS = tuple(sorted({_LITERAL[tag] for tag in ESCAPES.union(*(rule.gate for rule in _RULES))} - {""}))
GATE_LITERALS: tuple[str, ...] = _LITERALS
"""Lowercase substrings of which every rule's match contains one, and so does every secret field name and
every text that needs decoding (`%`, `\\`, `&`): a text whose lowercased form holds none of them, no run of
base64 that says one of them (`BASE64_FORMS`, which the `encoded_secret` rule reads) and no known secret is
never changed by `Redactor.text`."""
SCAN_LITERALS: tuple[str, ...] = tuple(sorted(set(_LITERAL.values())))
"""The literals of every tag."""
_IMPLIED = {
    tag: frozenset(other for other, literal in _LITERAL.items() if literal == tag) for tag in _LITERAL
}
_RANK = {name: rank for rank, name in enumerate(RULE_NAMES)}


def scanner(engine: str | None = None) -> Scanner:
    """A candidate scanner of `TAGS` on `engine` (None: the fastest that runs here)."""
    return build(TAGS, engine, {BASE64_TAG: BASE64_SEARCH}, {BASE64_TAG: _holds_form})


def _holds_form(text: str) -> bool:
    """Whether `text`, as written, holds one of `BASE64_FORMS` or wrapped base64 (`BASE64_FINDER`)."""
    return bool(BASE64_FINDER.ends(text))


ENGINE_VARIABLE = "MCPDIAG_REDACT_ENGINE"
"""Names the engine every redactor of the process uses by default (`stdlib` forces the pure-Python scan)."""
DEFAULT_SCANNER = scanner(os.environ.get(ENGINE_VARIABLE) or None)
ENGINE = DEFAULT_SCANNER.name
"""The candidate scan engine redactors use unless told otherwise: `hyperscan` when it runs here, `stdlib`."""
RUNS = run_finder(ENGINE)
"""How the `encoded_secret` rule finds runs of base64: with the default engine (both find the same runs)."""
BASE64_FINDER: LiteralFinder = literal_finder(BASE64_FORMS, ENGINE, (BASE64_WRAPPED,))
"""Where a text holds one of `BASE64_FORMS` or wrapped base64 (the bundle's line gate asks it of batches)."""
_WORD_FINDER: LiteralFinder = literal_finder(BASE64_WORDS, ENGINE)
_SAYS_WORD: Callable[[str], bool] = (
    (lambda said: bool(_WORD_FINDER.ends(said))) if ENGINE == "hyperscan" else _says_word_by_loop
)
"""Whether text decoded from base64 holds one of `BASE64_WORDS`: one Hyperscan pass over it (a substring test
per word cost 14 µs on a decoded file of 450 bytes), or a test per word on the stdlib engine."""


@lru_cache(maxsize=1024)
def _formed(chars: frozenset[str]) -> frozenset[str]:
    """The tags that decoded `chars` may have formed: those whose literal holds one (a superset: the rules
    then search the text)."""
    lowered = {char.lower() for char in chars}
    return frozenset(tag for tag, forms in _FORMS.items() if not lowered.isdisjoint(forms))


@lru_cache(maxsize=1024)
def _runs(
    tags: frozenset[str], chars: frozenset[str]
) -> tuple[frozenset[str], tuple[tuple[str, tuple[str, ...]], ...]]:
    """`tags` split into those a layer with `chars` decoded may form anywhere, and the others with the runs
    of their literal's characters that decoding does not produce (what the text must hold as it is)."""
    lowered = frozenset(char.lower() for char in chars)
    anywhere: list[str] = []
    bound: list[tuple[str, tuple[str, ...]]] = []
    for tag in sorted(tags):
        runs = tuple(
            run for run in "".join(c if c not in lowered else "\0" for c in _LITERAL[tag]).split("\0") if run
        )
        if runs:
            bound.append((tag, runs))
        else:
            anywhere.append(tag)
    return frozenset(anywhere), tuple(bound)


def _can_form(tags: frozenset[str], chars: frozenset[str], low: str) -> frozenset[str]:
    """Those of `tags` whose literal a layer decoded from `low` (a text, lowercased) with `chars` decoded can
    hold: every run of the literal's characters that decoding did not produce is in `low` as it is."""
    anywhere, bound = _runs(tags, chars)
    return anywhere.union(tag for tag, runs in bound if all(run in low for run in runs))


def layer_worth(
    chars: frozenset[str], nested: bool, present: frozenset[str], needles: tuple[str, ...], text: str
) -> bool:
    """Whether a layer decoded from `text` (which holds the tags `present`) producing
    `chars` is worth reading: a rule may run on it (what its parent held, any secret word as a candidate
    wherever it is, and what decoding can have formed), or a known secret may be spelled in it, or a layer
    below it may hold either."""
    if nested or needles:
        return True
    # A run of base64 the text holds is read there (`_Encoded`): a layer is worth it for base64 only where
    # decoding makes base64 characters (`%2B`, `\\/`, `\\u0041`), which `_formed` sees.
    held = loose(present) - _BASE64_HELD
    if runs_any(held):
        return True
    formed = _formed(chars) - held
    return runs_any(held | formed) and runs_any(held | _can_form(formed, chars, text.lower()))


_BASE64_HELD = frozenset({BASE64_TAG})


def holds_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether `text` holds one of `needles`."""
    # A plain loop: faster than any() over a generator for the few needles there are.
    for needle in needles:  # noqa: SIM110
        if needle in text:
            return True
    return False


@lru_cache(maxsize=1024)
def _active(present: frozenset[str]) -> tuple[_Rule, ...]:
    """The rules whose gate `present` meets and whose required literals it holds, in their order (a few
    literal sets recur: remembered)."""
    return tuple(
        rule
        for rule in _RULES
        if not rule.gate.isdisjoint(present) and all(not group.isdisjoint(present) for group in rule.requires)
    )


def runs_any(present: frozenset[str]) -> bool:
    """Whether any rule runs on a text holding the tags `present`."""
    return bool(_active(present))


@lru_cache(maxsize=1024)
def needs_work(present: frozenset[str]) -> bool:
    """Whether a text holding the tags `present` may change: a rule runs on it, or it has escapes."""
    return runs_any(present) or not ESCAPES.isdisjoint(present)


@lru_cache(maxsize=1024)
def loose(present: frozenset[str]) -> frozenset[str]:
    """`present` with every tag whose literal one of them is (a secret word held anywhere stands for the
    secret word where it introduces a value): what a decoded layer may complete."""
    return present.union(*(_IMPLIED.get(tag, ()) for tag in present))


def _merge(kept: list[Edit], new: list[Edit]) -> list[Edit]:
    """`kept` plus the edits of `new` that overlap none of it (both sorted, neither overlapping itself)."""
    if not kept:
        return new
    out: list[Edit] = []
    i = 0
    for edit in new:
        while i < len(kept) and kept[i][1] <= edit[0]:
            out.append(kept[i])
            i += 1
        if i < len(kept) and kept[i][0] < edit[1]:
            continue
        out.append(edit)
    out += kept[i:]
    return out


def rule_edits(text: str, low: str, present: frozenset[str], kept: list[Edit]) -> list[Edit]:
    """`kept` plus the edits of every rule that `present` lets run, where they overlap nothing kept before."""
    for rule in _active(present):
        found: list[Edit] = []
        rule.edits(text, low, present, found)
        if found:
            kept = _merge(kept, found)
    return kept


def _lift(view: View, edit: Edit) -> Edit:
    start, end, replacement, rule, qs, qe = edit
    origin = view.origin
    if qs >= 0:
        qs, qe = origin(qs), origin(qe)
    return (origin(start), origin(end), replacement, rule, qs, qe)


def apply_edits(text: str, edits: Sequence[Edit], counts: dict[str, int]) -> str:
    """`text` with `edits` (sorted, not overlapping) made, adding each rule's count to `counts`."""
    parts: list[str] = []
    fired: dict[str, int] = {}
    pos = 0
    for start, end, replacement, rule, qs, qe in edits:
        if qs >= 0:
            # The quote as this text writes it (`"`, `\"`, `%22`): JSON inside a JSON string stays valid.
            replacement = replacement.replace('"', text[qs:qe])
        parts += (text[pos:start], replacement)
        pos = end
        fired[rule] = fired.get(rule, 0) + 1
    parts.append(text[pos:])
    # Counted in the order the rules apply (`find_leaks` names them so), not in the order of the text.
    for rule in sorted(fired, key=_RANK.__getitem__):
        counts[rule] = counts.get(rule, 0) + fired[rule]
    return "".join(parts)


def decoded_edits(
    text: str, present: frozenset[str], needles: tuple[str, ...], scan: Callable[[str], frozenset[str]]
) -> list[Edit]:
    """The edits that the decoded layers of `text` (whose tags are `present`, as `scan` finds them) call
    for, in `text`'s own positions."""
    found: list[Edit] = []
    source = text  # the text the next layer is decoded from

    def worth(chars: frozenset[str], nested: bool) -> bool:
        return layer_worth(chars, nested, present, needles, source)

    # The scan says which markers start the escapes the text holds (an over-read: never one too few).
    markers = frozenset(marker for marker in ESCAPE_MARKERS if f"esc:{marker}" in present)
    view = decode(text, want=worth, markers=markers)
    for _ in range(MAX_DEPTH):
        if view is None:
            break
        layer = view.text
        edits = known_edits(layer, needles) if needles else []
        present = scan(layer)
        if present:
            edits = rule_edits(layer, layer.lower(), present, edits)
        if edits:
            found = _merge(found, [_lift(view, edit) for edit in edits])
        if not view.nested or ESCAPES.isdisjoint(present):
            break
        source = layer
        view = decode(layer, view, want=worth)
    return found


def holds_secret(text: str) -> bool:
    """Whether any rule would redact something in `text` (as it is or decoded; known secrets aside)."""
    scan = DEFAULT_SCANNER.present
    present = scan(text)
    if not (present and needs_work(present)):
        return False
    if rule_edits(text, text.lower(), present, []):
        return True
    return not ESCAPES.isdisjoint(present) and bool(decoded_edits(text, present, (), scan))


def known_edits(text: str, needles: tuple[str, ...]) -> list[Edit]:
    """The spans of `text` that hold a known secret (overlapping ones merged, placeholders kept whole)."""
    present = [needle for needle in needles if needle in text]
    if not present:
        return []
    spans: list[tuple[int, int]] = []
    for needle in present:
        start = text.find(needle)
        while start != -1:
            spans.append((start, start + len(needle)))
            start = text.find(needle, start + 1)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if "[REDACTED:" in text:
        # A secret that happens to spell part of a placeholder must not shred it on a second pass.
        held = [m.span() for m in PLACEHOLDER_RE.finditer(text)]
        kept, i = [], 0
        for start, end in merged:
            while i < len(held) and held[i][1] <= start:
                i += 1
            if i == len(held) or held[i][0] >= end:
                kept.append([start, end])
        merged = kept
    return [(start, end, "[REDACTED:known_secret]", "known_secret", -1, -1) for start, end in merged]
