"""The patterns `mcpdiag bundle redact --pattern` removes: compiled by RE2, whose matching time is linear in
the text whatever the pattern (no backtracking), so a hostile pattern cannot cost unbounded CPU.

RE2 has no backreferences, lookaround, atomic groups, possessive quantifiers, recursion and the other PCRE
extensions: such a pattern is refused with RE2's reason and the feature it used (a malformed one with RE2's
reason alone), and so is what RE2 would read otherwise than Python's syntax says (`_meant_otherwise`: a
count `{,n}`, a two-digit backreference `\\10`). So are a pattern
that matches the empty string (it would "redact" between every two characters), one over
`MAX_PATTERN_CHARS`, repetition counts over 1000 (RE2's own bound) and programs over `MAX_PROGRAM_BYTES`
(RE2's memory budget). A match never reaches into a placeholder (`[REDACTED:rule]`) already in the text,
so redacting twice changes nothing the second time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import re2

from mcpdiag.bundle.errors import InvalidPatternError
from mcpdiag.emitters.redact_rules import PLACEHOLDER_RE

MAX_PATTERNS = 32
MAX_PATTERN_CHARS = 512
MAX_PROGRAM_BYTES = 8 << 20
RULE = "pattern"
PLACEHOLDER = f"[REDACTED:{RULE}]"
_ZERO_WIDTH_PROBES = ("", "a", " ", "a b", "0", "-", "\n")


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False
    options.never_capture = True
    return options


def compile_pattern(pattern: str, index: int) -> Any:
    """One pattern compiled by RE2; `InvalidPatternError` (naming it by its 1-based `index`) if refused."""
    if not pattern:
        raise InvalidPatternError(index, "is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidPatternError(index, f"is longer than {MAX_PATTERN_CHARS} characters")
    if (otherwise := _meant_otherwise(pattern)) is not None:
        raise InvalidPatternError(index, otherwise)
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        lacking = _lacking(reason, pattern)
        raise InvalidPatternError(
            index, f"not accepted by RE2 ({reason})" + (f": {lacking}" if lacking else "")
        ) from None
    for probe in _ZERO_WIDTH_PROBES:
        for match in compiled.finditer(probe):
            if match.end() == match.start():
                raise InvalidPatternError(index, "matches the empty string: it would match everywhere")
    return compiled


_PIECES = re.compile(
    r"\\(?:(?P<digits>[1-9][0-9]{0,2})|.)"  # an escape (a backslash and a digit: see below)
    r"|\[\^?\]?(?:\\.|[^\]\\])*\]"  # a character class, where a brace is a brace and \10 a character
    r"|(?P<least>\{,\d+\})"  # a count without its least
    r"|[^\\\[{]+|[\[{]",
    re.S,
)
"""A pattern read piece by piece, as Python's `re` reads it, outside and inside classes."""
_OCTAL = frozenset("01234567")


def _meant_otherwise(pattern: str) -> str | None:
    """Why `pattern` would match something else in RE2 than it says in Python's syntax (which is how users
    write it), or None. A count `{,n}` is `{0,n}` to Python and the text "{,n}" to RE2. A backslash and two
    octal digits (`\\10`, outside a class) is a backreference to Python and a character code to RE2 (three
    are a character code to both; RE2 refuses any other backreference itself)."""
    for piece in _PIECES.finditer(pattern):
        if piece["least"]:
            return "a count {,n} is read as text by RE2: write {0,n}"
        digits = piece["digits"] or ""
        octal = [d in _OCTAL for d in digits]
        if octal[:2] == [True, True] and octal != [True, True, True]:
            return (
                f"\\{digits[:2]} is a backreference to group {digits[:2]}, which RE2 reads as the character "
                f"\\x{int(digits[:2], 8):02x}: backreferences are not supported"
            )
    return None


_GROUPS = {
    "(?=": "lookaround is not supported",
    "(?!": "lookaround is not supported",
    "(?<=": "lookaround is not supported",
    "(?<!": "lookaround is not supported",
    "(?>": "atomic groups are not supported",
    "(?R": "recursion is not supported",
    "(?&": "subroutine calls are not supported",
    "(?(": "conditionals are not supported",
    "(?#": "comments are not supported",
    "(?|": "branch reset groups are not supported",
    "(?'": "quoted group names are not supported (write (?P<name>...))",
}
"""RE2's `invalid perl operator` (what it read, up to the fault) → the feature the pattern used."""
_ESCAPES = {"\\Z": "the escape \\Z is not supported (write \\z for the end of the text)"} | {
    f"\\{c}": f"the escape \\{c} is not supported" for c in "GKRXhHV"
}
"""RE2's `invalid escape sequence` for an escape other engines know → what the pattern used."""
_FLAGS = frozenset("imsU-")
"""The inline flags RE2 takes."""


def _lacking(reason: str, pattern: str) -> str | None:
    """What `pattern` uses that RE2 does not do, read from RE2's `reason` ("kind: the text at fault"); None
    when the pattern is simply malformed (RE2's reason says it all)."""
    kind, _, at = reason.partition(": ")
    if kind == "invalid perl operator":
        if at in _GROUPS:
            return _GROUPS[at]
        if at[2:3].isdigit() or (at == "(?P" and "(?P>" in pattern):
            return "subroutine calls are not supported"
        if at == "(?P" and "(?P=" in pattern:
            return "backreferences are not supported"
        if at[2:].isalpha() and not set(at[2:]) <= _FLAGS:
            return f"the inline flag {at[2:]} is not supported (RE2 takes i, m, s and U)"
    if kind == "invalid escape sequence":
        if at[1:2] in tuple("123456789kg"):
            return "backreferences are not supported"
        if at in _ESCAPES:
            return _ESCAPES[at]
    if kind == "bad repetition operator" and at.endswith("+"):
        return "possessive quantifiers are not supported"
    if kind == "invalid repetition size" and (counts := re.fullmatch(r"\{(\d+)(?:,(\d*))?\}", at)):
        least, most = counts.groups()
        # {2,1} is malformed; a well-formed count is too large itself or multiplied by the ones around it.
        if not most or int(least) <= int(most):
            return "repetition counts over 1000 are not supported (nested ones multiply)"
    return None


class PatternSet:
    """Several patterns redacted at once: every match of any of them becomes `[REDACTED:pattern]`."""

    def __init__(self, patterns: Sequence[str]) -> None:
        if len(patterns) > MAX_PATTERNS:
            raise InvalidPatternError(MAX_PATTERNS + 1, f"at most {MAX_PATTERNS} patterns")
        self.sources = tuple(patterns)
        self.compiled = [compile_pattern(p, i) for i, p in enumerate(patterns, 1)]
        self.hits = [0] * len(self.compiled)
        """Matches replaced, per pattern."""

    def __bool__(self) -> bool:
        return bool(self.compiled)

    def _spans(self, text: str) -> list[tuple[int, int]]:
        placeholders = [m.span() for m in PLACEHOLDER_RE.finditer(text)] if "[REDACTED:" in text else []
        spans: list[tuple[int, int]] = []
        for index, compiled in enumerate(self.compiled):
            for match in compiled.finditer(text):
                start, end = match.span()
                if end > start and not any(s < end and start < e for s, e in placeholders):
                    spans.append((start, end))
                    self.hits[index] += 1
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def sub(self, text: str, counts: dict[str, int]) -> str:
        """`text` with every match replaced, adding the replacements to `counts` under `pattern`."""
        if not self.compiled:
            return text
        spans = self._spans(text)
        if not spans:
            return text
        counts[RULE] = counts.get(RULE, 0) + len(spans)
        out, last = [], 0
        for start, end in spans:
            out += [text[last:start], PLACEHOLDER]
            last = end
        out.append(text[last:])
        return "".join(out)

    def value(self, value: Any, counts: dict[str, int]) -> Any:
        """A copy of a JSON-like value with every string (keys too) through `sub`."""
        if isinstance(value, str):
            return self.sub(value, counts)
        if isinstance(value, dict):
            return {self.sub(str(k), counts): self.value(v, counts) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, counts) for v in value]
        return value

    def found(self, text: str) -> bool:
        """Whether any pattern still matches `text` outside placeholders (the check after redaction)."""
        before = list(self.hits)
        spans = self._spans(text)
        self.hits = before
        return bool(spans)
