"""Text made safe for the wire: any object as a bounded `str` without raising, and no lone surrogates.

A Python `str` may hold a lone surrogate (U+D800-U+DFFF): a non-UTF-8 file name decoded with
`surrogateescape` gives `"\\udcff"`, and JSON may spell one as an escape. No UTF-8 encoder (JSON, SQLite,
BSON, protobuf) accepts it, so the emitter and the collector replace each with U+FFFD (the replacement
character) before anything is encoded, the way Go's `encoding/json` treats invalid text.
"""

from __future__ import annotations

import json
import re
import reprlib
import string
import sys

from mcpdiag.emitters.redact import DEFAULT_REDACTOR, Redactor

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOKEN_CHARS = string.ascii_letters + string.digits + "-_.~+/=%"
"""Characters a secret (token, key, base64) is made of: a cut inside a run of them may split a secret."""
_SEGMENT_CHARS = _TOKEN_CHARS.replace("/", "")
_BINARY_HEAD = 1024


class _Repr(reprlib.Repr):
    """`reprlib.Repr`, but a long item is cut at its end, at a safe place (`cut_for_redaction`).

    reprlib keeps both ends of a long item and drops its middle, which can leave pieces of a secret that
    no redaction rule recognises.
    """

    def repr_str(self, x: str, level: int) -> str:
        return repr(cut_for_redaction(x, self.maxstring))

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = repr(x)
        except Exception:
            return f"<unprintable {type_name(x)}>"
        return (
            cut_for_redaction(text, self.maxother) if type(text) is str else f"<unprintable {type_name(x)}>"
        )


_REPR = _Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 512
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 16
_REPR.maxdeque = _REPR.maxarray = 16
_CONTAINERS = (list, tuple, dict, set, frozenset)


def scrub_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD; `text` itself when it has none."""
    if text.isascii():  # O(1) in CPython: most text leaves here
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def has_surrogates(text: str) -> bool:
    """Whether `text` holds a lone surrogate (and so cannot be encoded as UTF-8)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def type_name(value: object) -> str:
    """The name of `value`'s type; never raises."""
    try:
        name = type(value).__name__
        return name if type(name) is str else "object"
    except Exception:
        return "object"


def to_text(value: object) -> str:
    """`value` as an exact `str` that encodes as UTF-8; never raises.

    Strings are copied without calling methods a subclass may override; builtin containers and bytes get a
    bounded `reprlib` form (a huge or self-containing list costs no more than a short one); other objects
    their own `str()`, or `<unprintable T>` when that raises or is not a string.
    """
    try:
        if type(value) is str:
            text = value
        elif isinstance(value, str):
            text = str.__str__(value)
        elif isinstance(value, bytes | bytearray | memoryview):
            text = _REPR.repr(bytes(value[:_BINARY_HEAD]))
        elif isinstance(value, _CONTAINERS):
            text = _REPR.repr(value)
        else:
            text = str(value)
            if type(text) is not str:
                text = str.__str__(text)
    except Exception:
        return f"<unprintable {type_name(value)}>"
    return scrub_surrogates(text)


WORD_ENDS = (" ", "\n", "\t", ",", ";")
"""Where a cut through prose may fall: no secret holds one of these (a registered secret may hold any other
character, `!` and `@` as much as a token's)."""


def word_cut(text: str, limit: int, redactor: Redactor | None = None) -> str:
    """The start of `text`, at most `limit` characters, redacted (by `redactor`, else the rules alone) and
    cut at its last word end (`WORD_ENDS`).

    Text is cut wherever pieces of it are put together first (an exception's message, a tool's error, a
    response body in `detail`). A cut can drop what makes a secret one: the name after a value
    (`{"value": …, "name": "Authorization"}`), a closing quote, the rest of a secret holding a space. So a
    text to cut is redacted whole first, and the cut, at a word end, never splits a placeholder or a word
    either. A text without a word end in its first `limit` characters keeps nothing.
    """
    if len(text) <= limit:
        return text
    text = _redacted(text, limit, redactor)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: max(cut.rfind(end) for end in WORD_ENDS)] if any(end in cut for end in WORD_ENDS) else ""


def clip(text: str, limit: int, redactor: Redactor | None = None) -> str:
    """`text` in at most `limit` characters, redacted and cut at a word end (`word_cut`), and marked with an
    ellipsis when cut."""
    if len(text) <= limit:
        return text
    text = _redacted(text, limit, redactor)
    return text if len(text) <= limit else word_cut(text, limit - 1, redactor) + "…"


def _redacted(text: str, limit: int, redactor: Redactor | None) -> str:
    """`text` redacted for a cut at `limit`: what lies far past the cut is cut first (`cut_for_redaction`,
    four times the limit), so that a huge text costs no more than its start."""
    return (redactor or DEFAULT_REDACTOR).text(cut_for_redaction(text, 4 * limit))


def token_cut(text: str, limit: int) -> str:
    """The start of `text`, at most `limit` characters, without the run of token characters a cut went
    through, back to a `/` (a URL's or a name's last segment: cut, it could be the head of a token)."""
    return text if len(text) <= limit else text[:limit].rstrip(_SEGMENT_CHARS)


def cut_for_redaction(text: str, limit: int) -> str:
    """At most about `limit` characters of `text` to redact, never ending inside something secret-shaped.

    Redacting a huge string costs CPU for text that is cut away anyway; but a cut through the middle of a
    token leaves a prefix no rule recognises. So the trailing run of token characters is dropped with the
    cut: whatever is kept is whole, and the redactor judges it whole.
    """
    if len(text) <= limit:
        return text
    return text[:limit].rstrip(_TOKEN_CHARS) + "…"


def json_problem(exc: ValueError) -> str:
    """What a JSON parser's `ValueError` says is wrong, in words for whoever sent the JSON: its own message
    (`Expecting ',' delimiter: line 1 column 9 (char 8)`), or for Python's bound on an integer's digits, that
    bound (its message tells the reader to raise a limit in `sys`, which means nothing to a sender)."""
    if isinstance(exc, json.JSONDecodeError):
        return str(exc)
    if "integer string conversion" in str(exc):
        return f"a number has more than {sys.get_int_max_str_digits():,} digits"
    return "it does not parse"
