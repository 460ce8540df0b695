"""The text engine of redaction: which rules run on a text, the edits they and the known secrets call for
(in the text as written and in its decoded layers), and how the kept edits are applied.

`Redactor.text` (in `redact`) repeats one pass of this engine until nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from mcpdiag.emitters import redact_assign
from mcpdiag.emitters.redact_rules import CLI_RULES, PAIR_RULES, PLACEHOLDER_RE, TOKEN_RULES, URL_RULES, Edit
from mcpdiag.emitters.redact_views import ESCAPE_MARKERS, MAX_DEPTH, View, decode


class _Rule(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def gate(self) -> frozenset[str]: ...
    def edits(self, text: str, low: str, present: frozenset[str], out: list[Edit]) -> None: ...


class _Assignment:
    name = redact_assign.NAME
    gate = redact_assign.GATE

    def edits(self, text: str, low: str, present: frozenset[str], out: list[Edit]) -> None:
        redact_assign.edits(text, low, present, out)


# Order matters: specific formats first so each secret is counted under its own name, generic ones last.
_RULES: tuple[_Rule, ...] = (*TOKEN_RULES, *URL_RULES, *CLI_RULES, *PAIR_RULES, _Assignment())

RULE_NAMES = ("known_secret", "secret_key", *dict.fromkeys(rule.name for rule in _RULES))
_LITERALS = tuple(sorted(frozenset(ESCAPE_MARKERS).union(*(rule.gate for rule in _RULES))))
GATE_LITERALS: tuple[str, ...] = _LITERALS
"""Lowercase substrings of which every rule's match contains one, and so does every secret field name and
every text that needs decoding (`%`, `\\`, `&`): a text whose lowercased form holds none of them (and no known
secret) is never changed by `Redactor.text`."""
ESCAPES = frozenset(ESCAPE_MARKERS)
# Each `_` is tested from behind: one literal the engine skips to (an alternation of prefixes would be tried
# at every character).
_UNDERSCORE_TOKENS = re.compile(
    r"_(?:(?<=gh[pousr]_)|(?<=github_pat_)|(?<=[sr]k_)(?=live_|test_)|(?<=whsec_))"
)
_RANK = {name: rank for rank, name in enumerate(RULE_NAMES)}


def present_literals(low: str) -> frozenset[str]:
    """The gate literals that the lowercased text `low` holds."""
    present = [literal for literal in _LITERALS if literal in low]
    # `_` is in most texts (codes, snake_case): it gates the underscore tokens only when one may be there.
    if "_" in present and _UNDERSCORE_TOKENS.search(low) is None:
        present.remove("_")
    return frozenset(present)


# What can form each literal: its own characters; for `_`, those of the underscore tokens it stands for.
_FORMS = {literal: literal + ("ghpousr_ithubatklivestwhc" if literal == "_" else "") for literal in _LITERALS}


@lru_cache(maxsize=1024)
def _formed(chars: frozenset[str]) -> frozenset[str]:
    """The literals that decoded `chars` may have formed (a superset: the rules then search the text)."""
    lowered = {char.lower() for char in chars}
    return frozenset(literal for literal, form in _FORMS.items() if not lowered.isdisjoint(form))


def holds_any(text: str, needles: tuple[str, ...]) -> bool:
    """Whether `text` holds one of `needles`."""
    # A plain loop: faster than any() over a generator for the few needles there are.
    for needle in needles:  # noqa: SIM110
        if needle in text:
            return True
    return False


@lru_cache(maxsize=1024)
def _active(present: frozenset[str]) -> tuple[_Rule, ...]:
    """The rules whose gate `present` meets, in their order (a few literal sets recur: remembered)."""
    return tuple(rule for rule in _RULES if not rule.gate.isdisjoint(present))


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


def decoded_edits(text: str, present: frozenset[str], needles: tuple[str, ...]) -> list[Edit]:
    """The edits that the decoded layers of `text` (whose literals are `present`) call for, in `text`'s
    own positions."""
    found: list[Edit] = []
    view = decode(text)
    for _ in range(MAX_DEPTH):
        if view is None:
            break
        layer = view.text
        edits = known_edits(layer, needles) if needles else []
        low = layer.lower()
        # A literal the layer holds and its parent does not holds a decoded character: no rescan needed.
        present = present | _formed(view.chars)
        if present:
            edits = rule_edits(layer, low, present, edits)
        if edits:
            found = _merge(found, [_lift(view, edit) for edit in edits])
        if not view.nested or ESCAPES.isdisjoint(present):
            break
        view = decode(layer, view)
    return found


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
