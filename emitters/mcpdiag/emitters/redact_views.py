"""How text is read for matching: the one normalisation every redaction and leak check applies.

Rules match the text as it is, then the text decoded one layer at a time: percent-escapes (`%3D`, ASCII
only), JSON and Python string escapes (`\\"`, `\\u0022`, `\\x22`, `\\n`) and HTML character references
(`&quot;`, `&#34;`). Each layer is a `View` that maps its positions back to the text it came from, so a
secret found in a decoded layer (a token after `%3D`, a key inside JSON inside a JSON string, a URL encoded
twice) is replaced in the original text and the escapes around it stay as they were.
"""

from __future__ import annotations

import re
from bisect import bisect_left

MAX_DEPTH = 4
"""Layers decoded at most: a URL encoded twice inside JSON inside a JSON string is four."""
ESCAPE_MARKERS = ("%", "\\", "&")
"""A text holding none of these has nothing to decode."""

_ESCAPE = re.compile(
    r"%(?P<pct>[0-7][0-9A-Fa-f])"
    r"|\\(?:u(?P<u>[0-9A-Fa-f]{4})|x(?P<x>[0-9A-Fa-f]{2})|(?P<c>[\"\\/'bfnrt]))"
    r"|&(?:#(?P<dec>[0-9]{1,7})|#[xX](?P<hex>[0-9A-Fa-f]{1,6})|(?P<ent>quot|apos|amp|lt|gt));"
)
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ENTITIES = {"quot": '"', "apos": "'", "amp": "&", "lt": "<", "gt": ">"}


def _char(match: re.Match[str]) -> str | None:
    kind = match.lastgroup
    value = match[kind] if kind else ""
    if kind == "c":
        return _SIMPLE[value]
    if kind == "ent":
        return _ENTITIES[value]
    code = int(value, 10 if kind == "dec" else 16)
    return chr(code) if code <= 0x10FFFF else None


class View:
    """A text decoded one layer from its parent (the original text when `parent` is None)."""

    __slots__ = ("_shifts", "_starts", "parent", "text")

    def __init__(self, text: str, starts: list[int], shifts: list[int], parent: View | None) -> None:
        self.text = text
        self.parent = parent
        # Where each decoded escape sits in `text`, and how many characters longer the parent is after it.
        self._starts = starts
        self._shifts = shifts

    def up(self, pos: int) -> int:
        """The position in the parent's text of position `pos` of this text."""
        count = bisect_left(self._starts, pos)
        return pos + (self._shifts[count - 1] if count else 0)

    def origin(self, pos: int) -> int:
        """The position in the original text of position `pos` of this text."""
        view: View | None = self
        while view is not None:
            pos = view.up(pos)
            view = view.parent
        return pos


def decode(text: str, parent: View | None = None) -> View | None:
    """`text` with one layer of escapes decoded, or None when it holds none."""
    pieces: list[str] = []
    starts: list[int] = []
    shifts: list[int] = []
    last = length = shift = 0
    for match in _ESCAPE.finditer(text):
        char = _char(match)
        if char is None:
            continue
        start, end = match.span()
        pieces += (text[last:start], char)
        length += start - last
        starts.append(length)
        length += 1
        shift += end - start - 1
        shifts.append(shift)
        last = end
    if not starts:
        return None
    pieces.append(text[last:])
    return View("".join(pieces), starts, shifts, parent)


def has_escapes(text: str) -> bool:
    """Whether `decode(text)` would decode anything (cheap: one search)."""
    return _ESCAPE.search(text) is not None
