"""How text is read for matching: the one normalisation every redaction and leak check applies.

Rules match the text as it is, then the text decoded one layer at a time: percent-escapes (`%3D`, ASCII
only), JSON and Python string escapes (`\\"`, `\\u0022`, `\\x22`, `\\n`) and HTML character references
(`&quot;`, `&#34;`). Each layer is a `View` that maps its positions back to the text it came from, so a
secret found in a decoded layer (a token after `%3D`, a key inside JSON inside a JSON string, a URL encoded
twice) is replaced in the original text and the escapes around it stay as they were.

Base64 is read run by run instead (`base64_runs`, `base64_text`): a decoded run maps back to no position of
its own, so a run whose text holds a secret is replaced whole (the `encoded_secret` rule, `redact_engine`).
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left
from collections.abc import Callable

MAX_DEPTH = 4
"""Layers decoded at most: a URL encoded twice inside JSON inside a JSON string is four."""
ESCAPE_MARKERS = ("%", "\\", "&")
"""A text holding none of these has nothing to decode."""
ESCAPE_PATTERNS = {
    "%": r"%[0-7][0-9a-f]",
    "\\": r"\\(?:u[0-9a-f]{4}|x[0-9a-f]{2}|[\"\\/'bfnrt])",
    "&": r"&(?:#[0-9]{1,7}|#x[0-9a-f]{1,6}|quot|apos|amp|lt|gt);",
}
"""Each marker where it starts an escape this module decodes (Hyperscan syntax, caseless: an over-read)."""

_ESCAPE_TEXTS = {
    "%": r"%[0-7][0-9A-Fa-f]",
    "\\": r"\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[\"\\/'bfnrt])",
    "&": r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|quot|apos|amp|lt|gt);",
}
_ESCAPE_TEXT = "|".join(_ESCAPE_TEXTS.values())
_ESCAPE = re.compile(_ESCAPE_TEXT)
# Split on escapes, keeping them: the text between escapes and the escapes alternate, all in C.
_SPLIT = re.compile(f"({_ESCAPE_TEXT})")
# The same for the escapes of some markers only: one that starts with a literal is found much faster.
_BY_MARKERS = {
    frozenset(markers): re.compile(f"({'|'.join(_ESCAPE_TEXTS[m] for m in markers)})")
    for markers in ("%", "\\", "&", "%\\", "%&", "\\&")
}
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ENTITIES = {"quot": '"', "apos": "'", "amp": "&", "lt": "<", "gt": ">"}
_NESTING = frozenset("%\\&#;")
# The escapes that need no arithmetic, by their text: most of what texts hold (`%20`, `\n`, `\"`, `&quot;`).
_TABLE = {
    **{f"%{code:02X}": chr(code) for code in range(128)},
    **{f"%{code:02x}": chr(code) for code in range(128)},
    **{"\\" + key: value for key, value in _SIMPLE.items()},
    **{f"&{name};": value for name, value in _ENTITIES.items()},
}


def _char(escape: str) -> str:
    """The character an escape stands for (itself when it stands for none: a code point past Unicode)."""
    found = _TABLE.get(escape)
    if found is not None:
        return found
    if escape[0] == "%":
        return chr(int(escape[1:], 16))
    if escape[0] == "\\":
        return chr(int(escape[2:], 16))
    code = int(escape[3:-1], 16) if escape[2] in "xX" else int(escape[2:-1])
    return chr(code) if code <= 0x10FFFF else escape


def _nested(chars: frozenset[str]) -> bool:
    # An escape left in the decoded text is made of decoded characters: `%`, `\\` or `&` start one, a
    # letter, digit, `#` or `;` can complete one (`%3%44` is `%3D` once decoded).
    return not _NESTING.isdisjoint(chars) or any(char.isalnum() for char in chars)


def _markers(text: str) -> frozenset[str]:
    return frozenset(marker for marker in ESCAPE_MARKERS if marker in text)


class View:
    """A text decoded one layer from its parent (the original text when `parent` is None).

    The map back to the parent's positions is built on first use: most layers hold no secret and are never
    asked where anything came from.
    """

    __slots__ = ("_parts", "_shifts", "_source", "_starts", "chars", "nested", "parent", "text")

    def __init__(
        self,
        text: str,
        parts: list[str] | None,
        parent: View | None,
        chars: frozenset[str],
        *,
        nested: bool,
        source: str = "",
    ) -> None:
        self.text = text
        self.parent = parent
        self.chars = chars
        """The characters decoding produced: anything this text holds that its parent does not holds one."""
        self.nested = nested
        """Whether another layer may hide below (a decoded character can start or complete an escape)."""
        self._parts = parts
        """The parent's text split on its escapes, kept alternating; None: split `source` when first asked."""
        self._source = source
        self._starts: list[int] | None = None
        self._shifts: list[int] = []

    def up(self, pos: int) -> int:
        """The position in the parent's text of position `pos` of this text."""
        if self._starts is None:
            self._build()
        assert self._starts is not None
        count = bisect_left(self._starts, pos)
        return pos + (self._shifts[count - 1] if count else 0)

    def origin(self, pos: int) -> int:
        """The position in the original text of position `pos` of this text."""
        view: View | None = self
        while view is not None:
            pos = view.up(pos)
            view = view.parent
        return pos

    def _build(self) -> None:
        # Where each decoded escape sits in `text`, and how many characters longer the parent is after it.
        parts = self._parts
        if parts is None:
            parts = _BY_MARKERS[_BACKSLASH].split(self._source)
        starts: list[int] = []
        shifts = self._shifts
        length = shift = 0
        for index in range(0, len(parts) - 1, 2):
            length += len(parts[index])
            escape = parts[index + 1]
            char = _char(escape)
            if char is not escape:
                starts.append(length)
                shift += len(escape) - 1
                shifts.append(shift)
            length += len(char)
        self._starts = starts


def decode(
    text: str,
    parent: View | None = None,
    *,
    want: Callable[[frozenset[str], bool], bool] | None = None,
    markers: frozenset[str] | None = None,
) -> View | None:
    """`text` with one layer of escapes decoded, or None when it holds none (or when `want`, told the
    characters decoding produces and whether another layer may hide below, says the layer is not worth
    reading). `markers`: the `ESCAPE_MARKERS` that start every escape `text` holds, when known."""
    if markers is None:
        markers = _markers(text)
    if not markers:
        return None
    if markers == _BACKSLASH and _only_simple(text):
        return _replaced(text, parent, want)
    split = _BY_MARKERS.get(markers, _SPLIT)
    # One pass: the text between escapes and the escapes alternate (a search for them first, then the split,
    # read every long text twice).
    parts = split.split(text)
    if len(parts) == 1:
        return None
    escapes = parts[1::2]
    # Texts repeat few distinct escapes (`\\n`, `%20`): each is worked out once.
    table = {escape: _char(escape) for escape in set(escapes)}
    chars = frozenset(char for escape, char in table.items() if char is not escape)
    if not chars:
        return None
    nested = _nested(chars)
    if want is not None and not want(chars, nested):
        return None
    pieces = parts[:]
    pieces[1::2] = map(table.__getitem__, escapes)
    return View("".join(pieces), parts, parent, chars, nested=nested)


_BACKSLASH = frozenset("\\")
_PAIR = "\\\\"
_STAND_IN = "\x00"
_ONE_CHAR = tuple((f"\\{key}", value) for key, value in _SIMPLE.items() if key != "\\")


def _only_simple(text: str) -> bool:
    """Whether every escape of `text` (one that holds backslash escapes only) is `\\` and a character:
    no `\\u`, no `\\x`, nothing that needs arithmetic (and no NUL, which `_replaced` lends itself)."""
    return "\\u" not in text and "\\x" not in text and _STAND_IN not in text


def _replaced(
    text: str, parent: View | None, want: Callable[[frozenset[str], bool], bool] | None
) -> View | None:
    """`decode` of a text whose escapes are all `\\` and one character (`_only_simple`), by replacement.

    JSON in a JSON string (`{\\"id\\": 1, \\"title\\": \\"…\\"}`) is mostly such escapes, and a long one was
    most of what redaction cost: the split into pieces and their join read it in Python-sized steps, a
    replacement in C. The same text: the escaped backslashes first (each pair is one escape, read from the
    left as the split reads them), held by a stand-in no other replacement can touch; then each
    one-character escape, none of which makes a backslash. The map back to the parent is worked out by the
    split, only when a secret is found here (`View.up`).
    """
    decoded = text.replace(_PAIR, _STAND_IN)
    found: set[str] = set()
    if len(decoded) != len(text):
        found.add("\\")
    for escape, char in _ONE_CHAR:
        if escape in decoded:
            decoded = decoded.replace(escape, char)
            found.add(char)
    if not found:
        return None
    if "\\" in found:
        decoded = decoded.replace(_STAND_IN, "\\")
    chars = frozenset(found)
    nested = _nested(chars)
    if want is not None and not want(chars, nested):
        return None
    return View(decoded, None, parent, chars, nested=nested, source=text)


BASE64_MIN = 16
"""The shortest run of base64 read as such (12 bytes once decoded)."""
BASE64_ALPHABETS = ("A-Za-z0-9+/", "A-Za-z0-9_-")
"""The two alphabets of base64, standard and URL-safe (a run is made of one)."""
_BASE64_RUNS = tuple(re.compile(rf"(?<![{a}])[{a}]{{{BASE64_MIN},}}={{0,2}}") for a in BASE64_ALPHABETS)
BASE64_TAILS = tuple(re.compile(rf"[{a}]*={{0,2}}") for a in BASE64_ALPHABETS)
"""The rest of a run of each alphabet, matched where its first `BASE64_MIN` characters end."""
_BREAK = r"\r?\n|\\r\\n|\\n"
_NEXT_LINES = tuple(re.compile(rf"(?:{_BREAK})([{a}]+={{0,2}})") for a in BASE64_ALPHABETS)
_BREAKS = re.compile(rf"{_BREAK}|\r|\\r")
BASE64_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789+/_-"
"""The characters a run of base64 is made of (lowercase): decoding one of them can make or join a run."""
_URLSAFE = str.maketrans("-_", "+/")


def base64_runs(text: str) -> list[tuple[int, int]]:
    """The spans of the runs of base64 in `text`: at least `BASE64_MIN` characters of one alphabet, standard
    or URL-safe, that no character of that alphabet precedes, and the padding after them. By start, the
    longer first (a run of one alphabet can overlap one of the other). Linear: each search is one class,
    and a line a run already wraps over starts none of its own (`wrapped_once`)."""
    spans: set[tuple[int, int]] = set()
    for index, pattern in enumerate(_BASE64_RUNS):
        covered = -1
        for match in pattern.finditer(text):
            covered = wrapped_once(text, match.start(), match.end(), index, covered, spans)
    return sorted(spans, key=by_start)


def wrapped_once(
    text: str, start: int, end: int, alphabet: int, covered: int, spans: set[tuple[int, int]]
) -> int:
    """Add the run at [start, end) of `alphabet`, wrapped (`wrapped`), to `spans`, unless it starts before
    `covered`, where the run found before it ends: then it is one of that run's lines, whose text (its lines
    are whole groups of four) that run's holds, and read again through every line after it, each line of a
    wrapped blob cost as much as the blob (a PEM block, 64 KB: 2.5 s). Where the runs found so far end."""
    if start < covered:
        return covered
    span = wrapped(text, start, end, alphabet)
    spans.add(span)
    return span[1]


def wrapped(text: str, start: int, end: int, alphabet: int) -> tuple[int, int]:
    """The run at [start, end) of `alphabet` (an index of `BASE64_ALPHABETS`) with the lines it wraps onto
    (`base64` wraps at 76 characters, PEM at 64): while its last line is whole groups of four, unpadded, a
    line break (as written, or `\\n` in a JSON string) and more of the alphabet continue it."""
    line = start
    while (end - line) % 4 == 0 and text[end - 1] != "=":
        more = _NEXT_LINES[alphabet].match(text, end)
        if more is None:
            break
        line, end = more.span(1)
    return start, end


def by_start(span: tuple[int, int]) -> tuple[int, int]:
    """The order of `base64_runs`: by start, the longer first."""
    return span[0], -span[1]


def base64_forms(word: str | bytes, encoding: str = "utf-8") -> set[str]:
    """What base64 of any text holding `word` (in `encoding`; bytes as they are) holds, whatever the offset
    of `word` in it: for each of the three offsets, the characters that the bytes of `word` alone decide
    (empty for a word too short)."""
    data = word if isinstance(word, bytes) else word.encode(encoding)
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data + bytes(2)).decode()
        first = -(-8 * offset // 6)  # the first character whose six bits all come from `word`
        last = (8 * (offset + len(data))) // 6  # one past the last such character
        if last > first:
            forms.add(encoded[first:last])
    return forms


def base64_text(run: str) -> str:
    """What a run of base64 (`base64_runs`, line breaks and all) says: read as UTF-16 (little-endian) where
    half its odd bytes or more are zero (PowerShell's `-EncodedCommand`), else as UTF-8, else one character
    per byte (Latin-1: text in a legacy encoding, or bytes, which no rule then fires on). A run of a length
    no encoding has loses its last character."""
    body = _BREAKS.sub("", run) if "\n" in run or "\\" in run or "\r" in run else run
    body = body.rstrip("=")
    if "-" in body or "_" in body:
        body = body.translate(_URLSAFE)
    if len(body) % 4 == 1:
        body = body[:-1]
    data = binascii.a2b_base64(body + "=" * (-len(body) % 4))
    high = data[1::2]
    if len(data) >= 4 and 2 * high.count(0) >= len(high):
        return data.decode("utf-16-le", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def has_escapes(text: str) -> bool:
    """Whether `decode(text)` would decode anything (cheap: one search)."""
    return _ESCAPE.search(text) is not None
