"""Redaction: strip secrets from event text and fields before an event leaves the process that made it.

One engine serves every component (the emitter, the collector's intake, the bundle sanitizer and its leak
scan): `Redactor.text` for a string and `Redactor.value`, the one walk over an event or any JSON-like value.
Text is matched as it is and then as it reads once decoded (`redact_views`: percent-escapes, JSON escapes,
HTML references, nested layers), against the format rules (`redact_rules`) and the names that introduce a
secret (`redact_assign`). The walk redacts keys like any other text, hides the value of a key that names a
secret (`redact_keys`; a count under a name such as `oauth` is data), and remembers the strings it found
clean (bounded, never a string that held a secret), so repeated strings cost a set lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

from mcpdiag.emitters import redact_assign
from mcpdiag.emitters.redact_keys import HEADERS, is_count_key, is_secret_key, pair_name
from mcpdiag.emitters.redact_rules import (
    CLI_RULES,
    PAIR_RULES,
    PLACEHOLDER_RE,
    TOKEN_RULES,
    URL_RULES,
    Edit,
    scheme_end,
)
from mcpdiag.emitters.redact_views import ESCAPE_MARKERS, MAX_DEPTH, View, decode

MIN_KNOWN_SECRET = 4
CACHE_STRINGS = 8192
"""How many clean strings a redactor remembers (then it forgets them all and starts over)."""
CACHE_CHARS = 1024
"""Longer strings are rarely repeated: always scanned, never remembered (the default; see `Redactor`)."""
OFFLOAD_CHARS = 64 * 1024
"""From this size on, `Redactor.atext` and `Redactor.avalue` redact in a worker thread."""
_MAX_PASSES = 6


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
_ESCAPES = frozenset(ESCAPE_MARKERS)
# Each `_` is tested from behind: one literal the engine skips to (an alternation of prefixes would be tried
# at every character).
_UNDERSCORE_TOKENS = re.compile(
    r"_(?:(?<=gh[pousr]_)|(?<=github_pat_)|(?<=[sr]k_)(?=live_|test_)|(?<=whsec_))"
)
_RANK = {name: rank for rank, name in enumerate(RULE_NAMES)}


def _present(low: str) -> frozenset[str]:
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


def _holds_any(text: str, needles: tuple[str, ...]) -> bool:
    # A plain loop: measurably faster than any() over a generator for the few needles there are.
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


def _rule_edits(text: str, low: str, present: frozenset[str], kept: list[Edit]) -> list[Edit]:
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


def _apply(text: str, edits: Sequence[Edit], counts: dict[str, int]) -> str:
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


class Redactor:
    """Redacts text, events and any JSON-like value; built once from the known secrets and reused.

    `cache_chars`: the longest string the walk remembers as clean (the server side, which sees the same
    details again and again, remembers longer ones than an emitter inside a host).
    """

    __slots__ = ("_cache_chars", "_clean", "_needles")

    def __init__(self, known_secrets: Iterable[str] = (), *, cache_chars: int = CACHE_CHARS) -> None:
        stripped = {s.strip() for s in known_secrets if isinstance(s, str)}
        kept = {s for s in stripped if len(s) >= MIN_KNOWN_SECRET}
        needles = kept | {quote(s, safe="") for s in kept}
        self._needles = tuple(sorted(needles, key=lambda s: (-len(s), s)))
        self._cache_chars = cache_chars
        # Strings the walk found clean. Shared by the threads that use this redactor: set lookups, adds and
        # clears are atomic, and a race costs only a rescan.
        self._clean: set[str] = set()

    # --- text -----------------------------------------------------------------------------------------

    def text(self, text: str, counts: dict[str, int] | None = None) -> str:
        """Redact one string, adding how often each rule fired to `counts`."""
        # Substring tests on the lowercased text are far faster than any case-insensitive regex: most
        # texts contain none of the literals (nor a known secret) and leave here in a microsecond or two.
        low = text.lower()
        present = _present(low)
        needles = self._needles
        if not present and not (needles and _holds_any(text, needles)):
            return text
        if counts is None:
            counts = {}
        # Matches can overlap or expose one another ('token= "secret": "…"'): repeat until nothing changes,
        # which is also what makes a second call a no-op.
        for _ in range(_MAX_PASSES):
            edits = self._known(text) if needles else []
            if present:
                edits = _rule_edits(text, low, present, edits)
            if not edits and not _ESCAPES.isdisjoint(present):
                edits = self._decoded(text, present)
            if not edits:
                break
            text = _apply(text, edits, counts)
            low = text.lower()
            present = _present(low)
        return text

    def might_contain_secret(self, text: str) -> bool:
        """Whether `text` could hold something to redact: False guarantees `self.text(text)` returns it as is.

        The redactor's own gate (a known secret, or one of `GATE_LITERALS` in the lowercased text), without
        running any rule: cheap enough to pre-check text in bulk and redact only what passes.
        """
        if _holds_any(text, self._needles):
            return True
        return bool(_present(text.lower()))

    def find_leaks(self, text: str) -> list[str]:
        """Names of the rules that would fire on `text` (never the secret itself)."""
        counts: dict[str, int] = {}
        self.text(text, counts)
        return list(counts)

    def _decoded(self, text: str, present: frozenset[str]) -> list[Edit]:
        """The edits that the decoded layers of `text` (whose literals are `present`) call for, in `text`'s
        own positions."""
        found: list[Edit] = []
        view = decode(text)
        for _ in range(MAX_DEPTH):
            if view is None:
                break
            layer = view.text
            edits = self._known(layer) if self._needles else []
            low = layer.lower()
            # A literal the layer holds and its parent does not holds a decoded character: no rescan needed.
            present = present | _formed(view.chars)
            if present:
                edits = _rule_edits(layer, low, present, edits)
            if edits:
                found = _merge(found, [_lift(view, edit) for edit in edits])
            if not view.nested or _ESCAPES.isdisjoint(present):
                break
            view = decode(layer, view)
        return found

    def _known(self, text: str) -> list[Edit]:
        present = [needle for needle in self._needles if needle in text]
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

    # --- the walk -------------------------------------------------------------------------------------

    def event(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """Return a redacted deep copy of an event and the count of redactions per rule."""
        counts: dict[str, int] = {}
        return self._mapping(event, counts), counts

    def value(self, value: Any, counts: dict[str, int]) -> Any:
        """A redacted copy of any JSON-like value (strings, mappings, lists, tuples; keys included), adding
        how often each rule fired to `counts`; other values are returned as they are."""
        kind = type(value)
        if kind is str:
            return self.string(value, counts)
        if value is None or kind is int or kind is float or kind is bool:
            return value
        if isinstance(value, str):
            return self.string(value, counts)
        if isinstance(value, Mapping):
            return self._mapping(value, counts)
        if isinstance(value, list | tuple):
            return self._sequence(value, counts)
        return value

    def string(self, text: str, counts: dict[str, int]) -> str:
        """`text(text, counts)`, answered from memory for a string already found clean."""
        clean = self._clean
        if text in clean:
            return text
        fired: dict[str, int] = {}
        redacted = self.text(text, fired)
        if fired:
            for rule, count in fired.items():
                counts[rule] = counts.get(rule, 0) + count
            return redacted
        if len(text) <= self._cache_chars:
            if len(clean) >= CACHE_STRINGS:
                clean.clear()
            clean.add(text)
        return text

    def first_leak(self, value: Any) -> str | None:
        """The first rule that would fire anywhere in `value` (keys included), or None when the walk would
        leave it as it is."""
        counts: dict[str, int] = {}
        self.value(value, counts)
        return next(iter(counts), None)

    def is_clean(self, value: Any) -> bool:
        """Whether the walk leaves `value` exactly as it is."""
        return self.first_leak(value) is None

    def remembered(self) -> frozenset[str]:
        """The strings this redactor currently remembers as clean."""
        return frozenset(self._clean)

    def _mapping(self, mapping: Mapping[Any, Any], counts: dict[str, int]) -> dict[Any, Any]:
        pair = pair_name(mapping)
        out: dict[Any, Any] = {}
        for key, item in mapping.items():
            if not isinstance(key, str):
                out[key] = self.value(item, counts)
                continue
            if is_secret_key(key):
                item = self._secret(key, item, counts)
            elif pair is not None and key == pair[1]:
                item = self._named(pair[0], item, counts)
            else:
                item = self.value(item, counts)
            key = self.string(key, counts)
            if key in out:
                # Two keys redacted alike (two tokens): both values stay, the later key gets a number.
                n = 2
                while f"{key} #{n}" in out:
                    n += 1
                key = f"{key} #{n}"
            out[key] = item
        return out

    def _sequence(self, items: list[Any] | tuple[Any, ...], counts: dict[str, int]) -> Any:
        if isinstance(items, tuple) and _is_pair(items) and _names_secret(items[0]):
            return (self.string(items[0], counts), self._named(items[0], items[1], counts))
        # A list of [name, value] pairs is a header list (`[["Authorization", "Bearer …"], …]`).
        pairs = bool(items) and all(isinstance(item, list | tuple) and _is_pair(item) for item in items)
        out = []
        for item in items:
            if pairs and _names_secret(item[0]):
                out.append(type(item)((self.string(item[0], counts), self._named(item[0], item[1], counts))))
            else:
                out.append(self.value(item, counts))
        return tuple(out) if isinstance(items, tuple) else out

    def _named(self, name: str, item: Any, counts: dict[str, int]) -> Any:
        """The value a name/value pair names as a secret: its auth scheme stays (`Bearer [REDACTED:…]`)."""
        if not isinstance(item, str):
            return self._secret(name, item, counts)
        redacted = self.string(item, counts)
        skip = scheme_end(redacted)
        rest = redacted[skip:]
        if not rest or PLACEHOLDER_RE.fullmatch(rest):
            return redacted
        return redacted[:skip] + self._placeholder(item, counts)

    def _secret(self, key: str, item: Any, counts: dict[str, int]) -> Any:
        """What stays of a value under a key that names a secret: nothing, a flag, a count, a placeholder."""
        if item is None or isinstance(item, bool):
            return item
        if isinstance(item, str) and (not item or PLACEHOLDER_RE.fullmatch(item)):
            return item
        if isinstance(item, int | float) and is_count_key(key):
            return item
        return self._placeholder(item, counts)

    def _placeholder(self, item: Any, counts: dict[str, int]) -> str:
        known = isinstance(item, str) and any(needle in item for needle in self._needles)
        rule = "known_secret" if known else "secret_key"
        counts[rule] = counts.get(rule, 0) + 1
        return f"[REDACTED:{rule}]"

    # --- off the event loop ---------------------------------------------------------------------------

    async def atext(self, text: str, counts: dict[str, int] | None = None) -> str:
        """`text`, in a worker thread when `text` is long (`OFFLOAD_CHARS`): for callers on an event loop."""
        if len(text) < OFFLOAD_CHARS:
            return self.text(text, counts)
        import asyncio  # only async callers pay for it

        return await asyncio.to_thread(self.text, text, counts)

    async def avalue(self, value: Any, counts: dict[str, int]) -> Any:
        """`value`, in a worker thread when its strings add up to `OFFLOAD_CHARS` or more."""
        if _weight(value, OFFLOAD_CHARS) < OFFLOAD_CHARS:
            return self.value(value, counts)
        import asyncio

        return await asyncio.to_thread(self.value, value, counts)


def _is_pair(item: Sequence[Any]) -> bool:
    return len(item) == 2 and isinstance(item[0], str)


def _names_secret(name: str) -> bool:
    return len(name) <= 128 and (name.lower() in HEADERS or is_secret_key(name))


def _weight(value: Any, limit: int) -> int:
    """The length of the strings in `value` (keys included), counted until it reaches `limit`."""
    total = 0
    stack = [value]
    while stack and total < limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list | tuple):
            stack += item
    return total


_DEFAULT = Redactor()


def _redactor(known_secrets: Iterable[str]) -> Redactor:
    secrets = tuple(known_secrets)
    return Redactor(secrets) if secrets else _DEFAULT


def redact_text_counted(
    text: str, *, known_secrets: Iterable[str] = (), counts: dict[str, int] | None = None
) -> str:
    """Redact secrets in `text`, adding how often each rule fired to `counts`."""
    return _redactor(known_secrets).text(text, counts)


def redact_text(text: str, *, known_secrets: Iterable[str] = ()) -> str:
    """Redact secrets in `text`, replacing each with `[REDACTED:<rule>]`."""
    return _redactor(known_secrets).text(text)


async def redact_text_async(text: str, *, known_secrets: Iterable[str] = ()) -> str:
    """`redact_text` for a caller on an event loop: a long text is redacted in a worker thread."""
    return await _redactor(known_secrets).atext(text)


def redact_event(
    event: Mapping[str, Any], *, known_secrets: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[str, int]]:
    """Return a redacted deep copy of `event` and how many redactions each rule made."""
    return _redactor(known_secrets).event(event)


def find_leaks(text: str, *, known_secrets: Iterable[str] = ()) -> list[str]:
    """Names of the rules that would fire on `text`, in the order they apply; never the secret itself."""
    return _redactor(known_secrets).find_leaks(text)


# `is_secret_key` has always been importable from here.
__all__ = [
    "CACHE_CHARS",
    "CACHE_STRINGS",
    "GATE_LITERALS",
    "MIN_KNOWN_SECRET",
    "OFFLOAD_CHARS",
    "RULE_NAMES",
    "Redactor",
    "find_leaks",
    "is_secret_key",
    "redact_event",
    "redact_text",
    "redact_text_async",
    "redact_text_counted",
]
