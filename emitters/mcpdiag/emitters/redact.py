"""Redaction: strip secrets from event text and fields before an event leaves the process that made it.

One engine serves every component (the emitter, the collector's intake, the bundle sanitizer and its leak
scan): `Redactor.text` for a string and `Redactor.value`, the one walk over an event or any JSON-like value.
`redact_engine` matches text as it is and then as it reads once decoded (`redact_views`: percent-escapes,
JSON escapes, HTML references, nested layers), against the format rules (`redact_rules`) and the names that
introduce a secret (`redact_assign`). The walk redacts keys like any other text, hides the value of a key
that names a secret (`redact_keys`; a count under a name such as `oauth` is data), and remembers the
strings it found clean (bounded, never a string that held a secret), so repeated strings cost a set lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from mcpdiag.emitters import redact_engine
from mcpdiag.emitters.redact_engine import (
    BASE64_FINDER,
    ESCAPES,
    GATE_LITERALS,
    RULE_NAMES,
    apply_edits,
    decoded_edits,
    holds_any,
    known_edits,
    needs_work,
    rule_edits,
)
from mcpdiag.emitters.redact_keys import (
    HEADERS,
    PAIR_NAME_KEYS,
    PAIR_VALUE_KEYS,
    is_count_key,
    is_secret_key,
    pair_name,
)
from mcpdiag.emitters.redact_rules import PLACEHOLDER_RE, scheme_end
from mcpdiag.emitters.redact_scan import Scanner
from mcpdiag.emitters.redact_views import base64_forms

MIN_KNOWN_SECRET = 4
CACHE_STRINGS = 8192
"""How many clean strings a redactor remembers (then it forgets them all and starts over)."""
CACHE_CHARS = 1024
"""Longer strings are rarely repeated: always scanned, never remembered (the default; see `Redactor`)."""
OFFLOAD_CHARS = 64 * 1024
"""From this size on, `Redactor.atext` and `Redactor.avalue` redact in a worker thread."""
_MAX_PASSES = 6
_MAX_FAST_DEPTH = 8
_MAX_PLAIN_KEY = 256
_PAIR_KEYS = PAIR_NAME_KEYS | PAIR_VALUE_KEYS


MIN_ENCODED_SECRET = 8
"""Known secrets this long or longer are also looked for in base64 (a shorter one's forms match by chance)."""
_URLSAFE = str.maketrans("+/", "-_")


def encoded_forms(secret: str) -> set[str]:
    """What base64 (standard or URL-safe) of a text holding `secret` holds, at every offset: replaced, they
    leave at most the bits of the secret's first and last byte around it."""
    if len(secret) < MIN_ENCODED_SECRET:
        return set()
    forms = base64_forms(secret_bytes(secret))
    return forms | {form.translate(_URLSAFE) for form in forms}


def known_forms(secret: str) -> set[str]:
    """What a known secret is looked for as: as it is, percent-encoded (its bytes, `secret_bytes`) and in
    base64 (`encoded_forms`). The bundle's needles add its JSON escapes."""
    return {secret, quote(secret_bytes(secret), safe=""), *encoded_forms(secret)}


def secret_bytes(secret: str) -> bytes:
    """The bytes a known secret stands for, which its percent-escapes and base64 encode: UTF-8, where a byte
    that was not (read from the environment or a file, `surrogateescape`) is that byte again, and any other
    lone surrogate is written as UTF-8 would write it were it allowed."""
    try:
        return secret.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return secret.encode("utf-8", "surrogatepass")


class Redactor:
    """Redacts text, events and any JSON-like value; built once from the known secrets and reused.

    `cache_chars`: the longest string the walk remembers as clean (the server side, which sees the same
    details again and again, remembers longer ones than an emitter inside a host). `engine`: the candidate
    scan's engine (`redact_scan.ENGINES`; None: the fastest that runs here, `redact_engine.ENGINE`).
    """

    __slots__ = ("_cache_chars", "_clean", "_needles", "_plain_keys", "_scan", "engine")

    def __init__(
        self, known_secrets: Iterable[str] = (), *, cache_chars: int = CACHE_CHARS, engine: str | None = None
    ) -> None:
        stripped = {s.strip() for s in known_secrets if isinstance(s, str)}
        kept = {s for s in stripped if len(s) >= MIN_KNOWN_SECRET}
        needles: set[str] = set().union(*map(known_forms, kept))
        self._needles = tuple(sorted(needles, key=lambda s: (-len(s), s)))
        self._cache_chars = cache_chars
        scanner: Scanner = redact_engine.DEFAULT_SCANNER if engine is None else redact_engine.scanner(engine)
        self._scan = scanner.present
        self.engine = scanner.name
        """The engine of the candidate scan this redactor runs."""
        # Strings the walk found clean. Shared by the threads that use this redactor: set lookups, adds and
        # clears are atomic, and a race costs only a rescan.
        self._clean: set[str] = set()
        # Keys that name nothing and hold no candidate (`_plain_key`): most keys of most events.
        self._plain_keys: set[str] = set()

    # --- text -----------------------------------------------------------------------------------------

    def text(self, text: str, counts: dict[str, int] | None = None) -> str:
        """Redact one string, adding how often each rule fired to `counts`."""
        # One candidate scan: most texts hold none of the literals (nor a known secret) and leave here.
        present = self._scan(text)
        needles = self._needles
        if not (present and needs_work(present)) and not (needles and holds_any(text, needles)):
            return text
        if counts is None:
            counts = {}
        low = text.lower()
        # Matches can overlap or expose one another ('token= "secret": "…"'): repeat until nothing changes,
        # which is also what makes a second call a no-op.
        for _ in range(_MAX_PASSES):
            edits = known_edits(text, needles) if needles else []
            if present:
                edits = rule_edits(text, low, present, edits)
            if not edits and not ESCAPES.isdisjoint(present):
                edits = decoded_edits(text, present, needles, self._scan)
            if not edits:
                break
            text = apply_edits(text, edits, counts)
            present = self._scan(text)
            if not needles and not (present and needs_work(present)):
                break  # what is left holds no candidate: another pass would find nothing
            low = text.lower()
        return text

    def might_contain_secret(self, text: str) -> bool:
        """Whether `text` could hold something to redact: False guarantees `self.text(text)` returns it as is.

        The redactor's own gate (a known secret, or one of `GATE_LITERALS` in the lowercased text), without
        running any rule: cheap enough to pre-check text in bulk and redact only what passes.
        """
        if holds_any(text, self._needles):
            return True
        present = self._scan(text)
        return bool(present) and needs_work(present)

    def find_leaks(self, text: str) -> list[str]:
        """Names of the rules that would fire on `text` (never the secret itself)."""
        counts: dict[str, int] = {}
        self.text(text, counts)
        return list(counts)

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
            if type(value) is dict and (copied := self._plain_copy(value, counts)) is not None:
                return copied
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

    def _plain_copy(self, mapping: dict[Any, Any], counts: dict[str, int]) -> dict[Any, Any] | None:
        """The walk of a mapping whose keys are all plain (`_plain_key`) and whose values are strings,
        numbers, flags, None or such mappings: a copy, its strings redacted, with one scan proving most of
        them clean at once. None for any other mapping (a list, a secret-looking key: the walk decides)."""
        slots: list[tuple[dict[Any, Any], Any]] = []
        plain = self._plain_keys

        def copy(node: dict[Any, Any], depth: int) -> dict[Any, Any] | None:
            out: dict[Any, Any] = {}
            for key, item in node.items():
                if key not in plain and not (type(key) is str and self._plain_key(key)):
                    return None
                kind = type(item)
                if kind is str:
                    slots.append((out, key))
                elif kind is dict:
                    if depth >= _MAX_FAST_DEPTH or (item := copy(item, depth + 1)) is None:
                        return None
                elif item is not None and kind is not int and kind is not float and kind is not bool:
                    return None
                out[key] = item
            return out

        copied = copy(mapping, 0)
        if copied is None or not slots:
            return copied
        # One scan for the lot: only when the joined text holds a candidate (perhaps across two strings) is
        # each string redacted on its own, as the walk does; the longest first (a detail, most often the
        # one), and then the others again at once.
        texts = [out[key] for out, key in slots]
        if not self._candidate("\n".join(texts)):
            self._remember(texts)
            return copied
        longest = max(range(len(slots)), key=lambda i: len(slots[i][0][slots[i][1]]))
        out, key = slots.pop(longest)
        out[key] = self.string(out[key], counts)
        rest = [out[key] for out, key in slots]
        if self._candidate("\n".join(rest)):
            for out, key in slots:
                out[key] = self.string(out[key], counts)
        else:
            self._remember(rest)
        return copied

    def _remember(self, texts: list[str]) -> None:
        """Remember `texts`, found clean, as the walk remembers what it finds clean."""
        clean = self._clean
        if len(clean) + len(texts) >= CACHE_STRINGS:
            clean.clear()
        clean.update(text for text in texts if len(text) <= self._cache_chars)

    def _candidate(self, text: str) -> bool:
        """Whether `text` holds anything the redactor would look at twice (a rule's candidate, an escape, a
        known secret): False guarantees `self.text(text)` returns it as is."""
        present = self._scan(text)
        return bool(present and needs_work(present)) or bool(self._needles and holds_any(text, self._needles))

    def _plain_key(self, key: str) -> bool:
        """Whether the walk treats `key` as text that stays as it is and names nothing (remembered)."""
        if len(key) > _MAX_PLAIN_KEY or is_secret_key(key) or key.lower() in _PAIR_KEYS:
            return False
        fired: dict[str, int] = {}
        if self.text(key, fired) != key or fired:
            return False
        if len(self._plain_keys) >= CACHE_STRINGS:
            self._plain_keys.clear()
        self._plain_keys.add(key)
        return True

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


DEFAULT_REDACTOR = Redactor()
"""The redactor of the rules alone (no known secrets), shared."""


def _redactor(known_secrets: Iterable[str]) -> Redactor:
    secrets = tuple(known_secrets)
    return Redactor(secrets) if secrets else DEFAULT_REDACTOR


def redact_text_counted(
    text: str, *, known_secrets: Iterable[str] = (), counts: dict[str, int] | None = None
) -> str:
    """Redact secrets in `text`, adding how often each rule fired to `counts`."""
    return _redactor(known_secrets).text(text, counts)


def redact_text(text: str, *, known_secrets: Iterable[str] = ()) -> str:
    """Redact secrets in `text`, replacing each with `[REDACTED:<rule>]`."""
    return _redactor(known_secrets).text(text)


QUOTED_CHARS = 40
"""The longest value a message quotes back (`quoted`)."""


def quoted(value: object, *, limit: int = QUOTED_CHARS) -> str:
    """`value` as a message that refuses it may quote it (`got 'tomorrow'`): redacted by every rule (it is
    the caller's data, not our prose, which `LogRedaction.prose` spares the assignment rule), in quotes; a
    value longer than `limit` is not shown at all, only its length: a cut could leave part of a secret no
    rule recognises any more."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        return f"a value of {len(text):,} characters"
    return repr(redact_text(text)) if isinstance(value, str) else redact_text(text)


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
    "BASE64_FINDER",
    "CACHE_CHARS",
    "CACHE_STRINGS",
    "GATE_LITERALS",
    "MIN_KNOWN_SECRET",
    "OFFLOAD_CHARS",
    "QUOTED_CHARS",
    "RULE_NAMES",
    "Redactor",
    "encoded_forms",
    "find_leaks",
    "is_secret_key",
    "known_forms",
    "quoted",
    "redact_event",
    "redact_text",
    "redact_text_async",
    "redact_text_counted",
    "secret_bytes",
]
