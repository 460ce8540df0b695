"""Field names that say their value is a secret (`password`, `X-Api-Key`, `clientSecret`, ...), and the few
shapes that name a secret with a value instead (name/value pairs, header lists).

A name is judged by its last segments once split into words (`clientSecret` → `client_secret`): it is secret
when its last word equals or ends with a secret word (`oauth`, `csrftoken`), or is the word plus a short
suffix (`sessionid`, `secrets`), or when its last two words spell one (`passWord`, `api_key`). A bare prefix
is not enough, so `author` and `tokenizer` stay ordinary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# Words whose values are credentials: a number under them is a secret too (a PIN, a numeric password).
CREDENTIAL_WORDS = (
    "password", "passwd", "pwd", "passphrase", "passcode", "secret", "apikey", "credential", "privatekey",
    "accesskey",
)  # fmt: skip
# Words that name a kind of thing (a sign-in, a session, a cookie): their string values are secrets, but a
# number under them is a count (`{"oauth": 3}`), and in free text they are ordinary words ("OAuth: flow
# timed out"), so an unquoted `name: value` pair only counts with the credential words and these two.
CONTEXT_WORDS = ("token", "auth", "authorization", "cookie", "session", "signature")
KEY_WORDS = CREDENTIAL_WORDS + CONTEXT_WORDS
TEXT_WORDS = (*CREDENTIAL_WORDS, "token", "authorization", "signature")
_EQUALS_WORDS = ("signature",)
# Only as a whole last word: `pass=` is a password, `bypass` and `compass` are not.
_EXACT_WORDS = frozenset({"pass"})
_KEY_PHRASES = frozenset({
    "api_key", "private_key", "client_secret", "secret_key", "access_key", "account_key", "shared_key",
    "master_key", "signing_key", "encryption_key", "client_key", "app_key", "subscription_key",
    "shared_access_key", "sas_token", "auth_key",
})  # fmt: skip
_WORD_SUFFIXES = frozenset({"s", "id", "key", "value"})
# Counters in LLM usage stats ("max_tokens", "input_tokens") are not secrets.
_COUNTERS = frozenset({"tokens", "sessions"})
# A generic last word ("authorizationHeader", "password_value") defers to the word before it.
_CARRIERS = frozenset(
    {"header", "headers", "value", "val", "data", "str", "string", "raw", "b64", "base64", "encoded", "hex"}
)
_MAX_CACHED = 256

KEY_MARKERS = ("pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "session", "sig")
"""Lowercase pieces one of which every secret name holds (`passwd`, `apikey`, `oauth`, `signature`, every
phrase): a text without any of them names no secret."""
if not all(any(m in w for m in KEY_MARKERS) for w in (*KEY_WORDS, *_EXACT_WORDS, *_KEY_PHRASES)):
    raise RuntimeError("a secret word holds none of KEY_MARKERS")

HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token",
    "x-access-token", "private-token", "x-amz-security-token", "x-goog-api-key",
})  # fmt: skip
"""Header names whose whole value (up to the end of the line) is a credential, an auth scheme aside."""
PAIR_NAME_KEYS = frozenset({"name", "key", "header", "field"})
"""Keys that hold a name in a name/value pair (HAR headers, Kubernetes env, Postman variables)."""
PAIR_VALUE_KEYS = frozenset({"value", "val"})
"""Keys that hold the value a name/value pair names."""

_PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z_]+\]")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")


def normalize_key(key: str) -> str:
    """`clientSecret`, `Client-Secret`, `CLIENT_SECRET` → `client_secret`."""
    return _NON_ALNUM_RE.sub("_", _CAMEL_RE.sub("_", key).lower()).strip("_")


def _words(key: str) -> list[str]:
    if "[REDACTED:" in key:
        # A key redacted before (`[REDACTED:github_token]`) is named by what replaced it, not a secret word.
        key = _PLACEHOLDER_RE.sub(" redacted ", key)
    # Only the last words decide: a long key is cut (keys past 256 characters are never cached).
    parts = normalize_key(key[-_MAX_CACHED:]).split("_")
    if len(parts) > 1 and parts[-1] in _CARRIERS:
        parts.pop()
    return parts


def _secret_word(parts: list[str], words: tuple[str, ...]) -> str | None:
    """The secret word the last words of a key spell, or None."""
    last = parts[-1]
    if "_".join(parts[-2:]) in _KEY_PHRASES or "_".join(parts[-3:]) in _KEY_PHRASES:
        return "credential"
    if last in _COUNTERS:
        return None
    if last in _EXACT_WORDS:
        return "password"
    for word in words:
        if last.endswith(word) or (last.startswith(word) and last[len(word) :] in _WORD_SUFFIXES):
            return word
    # Two words spelling one (`pass_word`, `api_keys`): exactly the word, or its plural.
    joined = "".join(parts[-2:])
    if len(parts) > 1 and (joined in words or (joined[-1:] == "s" and joined[:-1] in words)):
        return joined.removesuffix("s")
    return None


@lru_cache(maxsize=4096)
def _key_word(key: str) -> str | None:
    return _secret_word(_words(key), KEY_WORDS)


@lru_cache(maxsize=4096)
def _text_word(key: str) -> str | None:
    return _secret_word(_words(key), TEXT_WORDS)


def is_secret_key(key: str) -> bool:
    """Whether a field name says its value is a secret (`password`, `X-Api-Key`, `clientSecret`, ...)."""
    return (_key_word(key) if len(key) <= _MAX_CACHED else _secret_word(_words(key), KEY_WORDS)) is not None


def is_secret_text_name(key: str) -> bool:
    """Whether an unquoted name in free text (`token: …`, `--password x`) introduces a secret."""
    return (_text_word(key) if len(key) <= _MAX_CACHED else _secret_word(_words(key), TEXT_WORDS)) is not None


def is_count_key(key: str) -> bool:
    """Whether a number under this (secret-looking) key is a count rather than a secret: a kind-of-thing
    word (`oauth`, `session`, `token`) or the plural of any secret word (`passwords`, `api_keys`)."""
    parts = _words(key)
    word = _secret_word(parts, KEY_WORDS)
    if word is None or word in CONTEXT_WORDS:
        return True
    return parts[-1].endswith("s") and not parts[-1].endswith("ss")


def needs_equals(key: str) -> bool:
    """Whether a free-text name introduces a secret only with `=`: `pass` and `signature` followed by `:`
    are a verdict and a description (`tests pass: 12`, `signature: invalid`), `pass=` assigns a password."""
    last = _words(key)[-1]
    return last in _EXACT_WORDS or last.removesuffix("s").endswith(_EQUALS_WORDS)


def pair_name(mapping: Mapping[Any, Any]) -> tuple[str, str] | None:
    """For a small mapping shaped as a name/value pair whose name is a secret (`{"name": "Authorization",
    "value": …}`): (the name, the key of its value); else None."""
    if not 2 <= len(mapping) <= 8:
        return None
    name: str | None = None
    value_key: str | None = None
    for key, item in mapping.items():
        if not isinstance(key, str):
            continue
        lowered = key.lower()
        if lowered in PAIR_NAME_KEYS and isinstance(item, str) and len(item) <= 128:
            name = item
        elif lowered in PAIR_VALUE_KEYS:
            value_key = key
    if name is None or value_key is None or not (name.lower() in HEADERS or is_secret_key(name)):
        return None
    return name, value_key
