"""Redaction: strip secrets from event text and fields before an event leaves the process that made it."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

MIN_KNOWN_SECRET = 4
_NEXT_PAIR = re.compile(r"[ \t]*:")
_MAX_PASSES = 4

_PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z_]+\]")

# A key's last segment is secret when it equals or ends with a word ("oauth", "csrftoken") or is the word
# plus a short suffix ("sessionid", "secrets"). A bare prefix is not enough, so "author" and "tokenizer" stay.
_KEY_WORDS = (
    "password", "passwd", "pwd", "secret", "token", "apikey", "auth", "authorization", "credential",
    "cookie", "session", "signature", "privatekey", "accesskey",
)  # fmt: skip
# In free text "auth", "session" and "cookie" are ordinary words ("OAuth: flow timed out"); an unquoted
# `name: value` pair only counts with the unambiguous words. Quoted (JSON-like) keys use the full list.
_TEXT_WORDS = (
    "password", "passwd", "pwd", "secret", "token", "apikey", "authorization", "credential", "privatekey",
    "accesskey",
)  # fmt: skip
_KEY_PHRASES = frozenset({"api_key", "private_key", "client_secret", "secret_key", "access_key"})
_WORD_SUFFIXES = frozenset({"s", "id", "key", "value"})
# Counters in LLM usage stats ("max_tokens", "input_tokens") are not secrets.
_COUNTERS = frozenset({"tokens", "sessions"})
# A generic last word ("authorizationHeader", "password_value") defers to the word before it.
_CARRIERS = frozenset(
    {"header", "headers", "value", "val", "data", "str", "string", "raw", "b64", "base64", "encoded", "hex"}
)
_QUERY_NAMES = frozenset({"key", "code", "sig"})
_NULLISH = frozenset({"null", "none", "true", "false", "nil"})

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")


def _normalize_key(key: str) -> str:
    return _NON_ALNUM_RE.sub("_", _CAMEL_RE.sub("_", key).lower()).strip("_")


def _is_secret_name(key: str, words: tuple[str, ...]) -> bool:
    parts = _normalize_key(key).split("_")
    if len(parts) > 1 and parts[-1] in _CARRIERS:
        parts.pop()
    last = parts[-1]
    if "_".join(parts[-2:]) in _KEY_PHRASES:
        return True
    if last in _COUNTERS:
        return False
    return any(last.endswith(w) or (last.startswith(w) and last[len(w) :] in _WORD_SUFFIXES) for w in words)


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a field name says its value is a secret (`password`, `X-Api-Key`, `clientSecret`, ...)."""
    return _is_secret_name(key, _KEY_WORDS)


@lru_cache(maxsize=4096)
def _is_secret_text_name(key: str) -> bool:
    return _is_secret_name(key, _TEXT_WORDS)


_TOKEN_MARKS = frozenset("0123456789_~+/=")


def _looks_like_token(value: str) -> bool:
    # Prose after "Bearer" is letters ("the Bearer scheme"); tokens carry digits or symbols, or are long.
    return len(value) >= 8 and (len(value) >= 20 or not _TOKEN_MARKS.isdisjoint(value))


def _is_basic_credential(value: str) -> bool:
    # Real Basic credentials are base64("user:password"); "Basic authentication" does not decode to that.
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(value) >= 8 and b":" in decoded


# Render: the replacement for a match, or None to leave it as it is.
_Render = Callable[[re.Match[str], str], str | None]


def _around(match: re.Match[str], placeholder: str) -> str:
    groups = match.groupdict()
    return (groups.get("pre") or "") + placeholder + (groups.get("post") or "")


def _when(accept: Callable[[re.Match[str]], bool]) -> _Render:
    return lambda match, placeholder: _around(match, placeholder) if accept(match) else None


def _named_key(match: re.Match[str]) -> bool:
    key = match["key"]
    return is_secret_key(key) if match["kq"] else _is_secret_text_name(key)


def _quoted_assignment(match: re.Match[str], placeholder: str) -> str | None:
    if not _named_key(match):
        return None
    # 'token= "secret": "…"': a quoted secret key name followed by ':' starts the next pair, not a value.
    if _NEXT_PAIR.match(match.string, match.end()) and is_secret_key(match["value"]):
        return None
    return _around(match, placeholder)


def _bare_assignment(match: re.Match[str], placeholder: str) -> str | None:
    value, rest = match["value"], ""
    if match["kq"]:
        # After a quoted key (JSON, a Python repr) a bracket closes the container rather than the value.
        end = len(value.rstrip(")]}"))
        value, rest = value[:end], value[end:]
    if not value or value.lower() in _NULLISH or not _named_key(match):
        return None
    # A quoted JSON key with a bare value (a number): quote the placeholder so the JSON stays valid.
    return match["pre"] + (f'"{placeholder}"' if match["kq"] == '"' else placeholder) + rest


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    # Every text the pattern matches contains one of these lowercase literals and, when there is one, a match
    # of `refine` in its lowercased form: cheap tests that skip the pattern on most texts.
    gate: frozenset[str]
    refine: re.Pattern[str] | None
    pattern: re.Pattern[str]
    render: _Render

    def apply(self, text: str, lowered: str, present: frozenset[str], counts: dict[str, int]) -> str:
        if self.gate.isdisjoint(present) or (self.refine and self.refine.search(lowered) is None):
            return text
        placeholder = f"[REDACTED:{self.name}]"
        hits, pos, done = 0, 0, 0
        parts: list[str] = []
        while (match := self.pattern.search(text, pos)) is not None:
            out = self.render(match, placeholder)
            if out is None:
                # A rejected candidate may overlap a real one ('token= "secret": "…"'): resume inside it.
                pos = match.start() + 1
                continue
            parts += (text[done : match.start()], out)
            hits += 1
            done = match.end()
            pos = max(done, match.start() + 1)
        if not hits:
            return text
        counts[self.name] = counts.get(self.name, 0) + hits
        return "".join(parts) + text[done:]


_SCHEMES = r"(?i:bearer|basic|digest|token|negotiate|ntlm|dpop|aws4-hmac-sha256)"
# Every value pattern refuses a value that is already a placeholder: this is what makes redaction idempotent.
_GUARD = rf"(?![ \t]*(?:{_SCHEMES}[ \t]+)?\[REDACTED:)"
_MARKERS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "session", "signature")
_HINT = rf"(?=[\w.-]*?(?i:{'|'.join(_MARKERS)}))"
_KEY_GATE = rf"(?:{'|'.join(_MARKERS)})[^\s:=]*[ \t]*[:=]"
_HEADERS = (
    r"(?i:(?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token|x-access-token"
    r"|private-token|x-amz-security-token|x-goog-api-key)"
)
# A quoted key needs no boundary before its quote: the value before it may end right there (`a'secret':b`).
_KEY = r"(?P<kq>[\"']|(?<![\w./-]))" + _HINT + r"(?P<key>[A-Za-z_][\w.-]*+)(?P=kq)[ \t]*[:=][ \t]*"
_URL = r"\b[A-Za-z][A-Za-z0-9+.-]*://"


def _rule(
    name: str, gate: Iterable[str], pattern: str, render: _Render = _around, refine: str | None = None
) -> _Rule:
    return _Rule(name, frozenset(gate), re.compile(refine) if refine else None, re.compile(pattern), render)


# Order matters: specific formats first so each secret is counted under its own name, generic ones last.
_RULES = (
    _rule(
        "private_key",
        ("-----begin",),
        r"(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    _rule("jwt", ("eyj",), r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}(?:\.[A-Za-z0-9_-]*){2,4}"),
    _rule("aws_access_key_id", ("akia", "asia"), r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    _rule(
        "aws_secret_access_key",
        ("aws",),
        r"(?P<pre>(?<![A-Za-z0-9])(?i:aws[_-]?secret[_-]?(?:access[_-]?)?key)[\"']?[ \t]*[:=][ \t]*[\"']?)"
        r"[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
    ),
    _rule(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    ),
    _rule("slack_token", ("xox",), r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"),
    _rule("stripe_key", ("k_live_", "k_test_"), r"(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    _rule("google_api_key", ("aiza",), r"(?<![\w-])AIza[A-Za-z0-9_-]{35,}"),
    _rule("anthropic_key", ("sk-ant-",), r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}"),
    _rule("openai_key", ("sk-",), r"(?<![\w-])sk-[A-Za-z0-9_-]{20,}"),
    # The greedy value backtracks to the last "@", so an unencoded "@" in the password is covered too.
    _rule("url_password", ("@",), rf"(?P<pre>{_URL}[^\s/?#@:\[\]]*:)(?!\[REDACTED:)[^\s/?#\"'<>]+(?=@)"),
    _rule("url_userinfo", ("@",), rf"(?P<pre>{_URL})[A-Za-z0-9._~%!$&'()*+,;=-]{{16,}}(?=@)"),
    _rule(
        "bearer",
        ("bearer",),
        # `name="..."` is an auth-param (`Bearer resource_metadata="..."`), not a token; so is `name=`
        # before a placeholder, which a second pass must leave alone.
        r"(?P<pre>\b(?i:bearer)[ \t]+)(?P<value>[\w.~+/-]+(?:=+(?![\"']|\[REDACTED:))?)(?![\w.~+/=-])",
        _when(lambda m: _looks_like_token(m["value"])),
    ),
    _rule(
        "basic",
        ("basic",),
        r"(?P<pre>\b(?i:basic)[ \t]+)(?P<value>[A-Za-z0-9+/]+(?:=+(?![\"']|\[REDACTED:))?)(?![A-Za-z0-9+/=])",
        _when(lambda m: _is_basic_credential(m["value"])),
    ),
    _rule(
        "query_param",
        (*_MARKERS, "sig=", "code="),
        rf"(?P<pre>[?&](?:amp;)?(?=[\w.-]*?(?i:{'|'.join(_MARKERS)}|sig|code))(?P<name>[A-Za-z_][\w.-]*+)=)"
        rf"{_GUARD}[^&#\s\"'<>]+",
        _when(lambda m: m["name"].lower() in _QUERY_NAMES or is_secret_key(m["name"])),
        r"[?&]",
    ),
    _rule(
        "assignment",
        ("authorization", "cookie", "api-key", "-token"),
        rf"(?P<pre>(?<![\w-]){_HEADERS}[ \t]*:[ \t]*(?:{_SCHEMES}[ \t]+)?){_GUARD}\S(?:[^\r\n]*\S)?",
        refine=r"(?:authorization|cookie|api-key|-token)[ \t]*:",
    ),
    _rule(
        "assignment",
        _MARKERS,
        rf"(?P<pre>{_KEY}(?P<q>[\"'])){_GUARD}(?P<value>(?:\\.|(?!(?P=q))[^\\\r\n])+)(?P<post>(?P=q))",
        _quoted_assignment,
        _KEY_GATE,
    ),
    _rule(
        "assignment",
        _MARKERS,
        rf"(?P<pre>{_KEY}){_GUARD}(?P<value>[^\s,;&\"']+)",
        _bare_assignment,
        _KEY_GATE,
    ),
)

RULE_NAMES = ("known_secret", "secret_key", *dict.fromkeys(rule.name for rule in _RULES))

_LITERALS = tuple(sorted(frozenset().union(*(rule.gate for rule in _RULES))))
GATE_LITERALS: tuple[str, ...] = _LITERALS
"""Lowercase substrings of which every rule's match contains one, and so does every secret field name: a text
whose lowercased form holds none of them (and no known secret) is never changed by `Redactor.text`."""


class Redactor:
    """Redacts text and events; built once from the known secrets and reused."""

    __slots__ = ("_needles",)

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        stripped = {s.strip() for s in known_secrets if isinstance(s, str)}
        kept = {s for s in stripped if len(s) >= MIN_KNOWN_SECRET}
        needles = kept | {quote(s, safe="") for s in kept}
        self._needles = tuple(sorted(needles, key=lambda s: (-len(s), s)))

    def text(self, text: str, counts: dict[str, int] | None = None) -> str:
        """Redact one string, adding how often each rule fired to `counts`."""
        if counts is None:
            counts = {}
        if self._needles:
            text = self._known(text, counts)
        # Substring tests on the lowercased text are far faster than any case-insensitive regex: most
        # messages contain none of the literals and leave here in a few microseconds.
        lowered = text.lower()
        present = frozenset(literal for literal in _LITERALS if literal in lowered)
        if not present:
            return text
        # Matches can overlap ('token= "secret": "…"'): a redaction may expose another one, so repeat until
        # nothing changes, which is also what makes a second call a no-op.
        for _ in range(_MAX_PASSES):
            before = text
            for rule in _RULES:
                text = rule.apply(text, lowered, present, counts)
            if text == before:
                break
            lowered = text.lower()
            present = frozenset(literal for literal in _LITERALS if literal in lowered)
        return text

    def might_contain_secret(self, text: str) -> bool:
        """Whether `text` could hold something to redact: False guarantees `self.text(text)` returns it as is.

        The redactor's own gate (a known secret, or one of `GATE_LITERALS` in the lowercased text), without
        running any rule: cheap enough to pre-check text in bulk and redact only what passes.
        """
        if any(needle in text for needle in self._needles):
            return True
        lowered = text.lower()
        return any(literal in lowered for literal in _LITERALS)

    def event(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """Return a redacted deep copy of an event and the count of redactions per rule."""
        counts: dict[str, int] = {}
        return self._mapping(event, counts), counts

    def find_leaks(self, text: str) -> list[str]:
        """Names of the rules that would fire on `text` (never the secret itself)."""
        counts: dict[str, int] = {}
        self.text(text, counts)
        return list(counts)

    def _known(self, text: str, counts: dict[str, int]) -> str:
        present = [needle for needle in self._needles if needle in text]
        if not present:
            return text
        spans: list[tuple[int, int]] = []
        for needle in present:
            start = text.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = text.find(needle, start + 1)
        if "[REDACTED:" in text:
            # A secret that happens to spell part of a placeholder must not shred it on a second pass.
            held = [m.span() for m in _PLACEHOLDER_RE.finditer(text)]
            spans = [(s, e) for s, e in spans if not any(s < he and hs < e for hs, he in held)]
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        if not merged:
            return text
        parts: list[str] = []
        cursor = 0
        for start, end in merged:
            parts += (text[cursor:start], "[REDACTED:known_secret]")
            cursor = end
        parts.append(text[cursor:])
        counts["known_secret"] = counts.get("known_secret", 0) + len(merged)
        return "".join(parts)

    def _mapping(self, mapping: Mapping[Any, Any], counts: dict[str, int]) -> dict[Any, Any]:
        return {
            key: self._secret(value, counts)
            if isinstance(key, str) and is_secret_key(key)
            else self._value(value, counts)
            for key, value in mapping.items()
        }

    def _value(self, value: Any, counts: dict[str, int]) -> Any:
        if isinstance(value, str):
            return self.text(value, counts)
        if isinstance(value, Mapping):
            return self._mapping(value, counts)
        if isinstance(value, list):
            return [self._value(item, counts) for item in value]
        if isinstance(value, tuple):
            return tuple(self._value(item, counts) for item in value)
        return value

    def _secret(self, value: Any, counts: dict[str, int]) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and (not value or _PLACEHOLDER_RE.fullmatch(value)):
            return value
        known = isinstance(value, str) and any(needle in value for needle in self._needles)
        rule = "known_secret" if known else "secret_key"
        counts[rule] = counts.get(rule, 0) + 1
        return f"[REDACTED:{rule}]"


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


def redact_event(
    event: Mapping[str, Any], *, known_secrets: Iterable[str] = ()
) -> tuple[dict[str, Any], dict[str, int]]:
    """Return a redacted deep copy of `event` and how many redactions each rule made."""
    return _redactor(known_secrets).event(event)


def find_leaks(text: str, *, known_secrets: Iterable[str] = ()) -> list[str]:
    """Names of the rules that would fire on `text`, in the order they apply; never the secret itself."""
    return _redactor(known_secrets).find_leaks(text)
