"""The final gate: read every member of a finished bundle and refuse it if a secret survived."""

from __future__ import annotations

import codecs
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mcpdiag.bundle.errors import LeakDetectedError
from mcpdiag.bundle.gates import LineGate, SegmentGate
from mcpdiag.bundle.jsonlines import loads
from mcpdiag.bundle.known_secrets import secret_needles
from mcpdiag.emitters import Redactor

CHUNK = 1 << 20
# A member with no newline for this long is scanned anyway (a line is never split below this size).
MAX_CARRY = 8 << 20
CACHE_CHARS = 4096
"""The longest string the scan remembers as clean."""


class LeakScanner:
    """Finds known secret values and token shapes in text, naming the rule and never the value.

    What it calls a leak is exactly what the sanitizer would redact: the same redactor walk decides (a key
    that names a secret with a value to hide is a leak; a name or a count under a secret-looking key is not).
    """

    def __init__(self, known_secrets: Iterable[str]) -> None:
        known = tuple(known_secrets)
        self.redactor = Redactor(known, cache_chars=CACHE_CHARS)
        self.needles = secret_needles(known)
        self.longest = max((len(n) for n in self.needles), default=0)
        self.gate = LineGate(self.needles)
        self.segments = SegmentGate(self.gate, self._segment_clean, valid_json=False)

    def suspects(self, lines: Sequence[str]) -> list[int]:
        """The lines (of a JSON Lines chunk) to check value by value: what the gate flags, less what
        `SegmentGate` proves clean. A line whose segments are all clean has nothing that `value` would find
        when it is valid JSON (its strings are exactly those segments); when it is not, it stays a suspect,
        as it would be checked as plain text."""
        suspect, checked = self.segments.classify(lines)
        for index in checked:
            try:
                loads(lines[index])
            except ValueError:
                suspect.append(index)
        if not suspect:
            return []
        suspect.sort()
        return [suspect[i] for i in self.gate.flagged([lines[i] for i in suspect])]

    def _segment_clean(self, text: str) -> bool:
        return self.text(text) is None

    def text(self, text: str) -> str | None:
        """The first rule that fires on `text`, or None when it is clean (placeholders never count)."""
        if any(needle in text for needle in self.needles):
            return "known_secret"
        return self.redactor.first_leak(text)

    def value(self, value: Any) -> str | None:
        """The first rule that fires anywhere in a parsed JSON value (keys included)."""
        return self.redactor.first_leak(value)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A dict keeps only the last value of a repeated key, which would hide an earlier one from the scan: such
    # a line is read as text instead (the same rules, on every value as written).
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("repeated key")
    return document


class MemberScan:
    """Scans one member's bytes as they come (`feed`, then `close`), raising `LeakDetectedError` on a hit.

    JSON Lines are checked line by line (value by value where the gate says so), other JSON files as one
    document, anything else as text. Raw needle checks overlap between blocks so no boundary hides a secret.
    """

    def __init__(self, name: str, scanner: LeakScanner) -> None:
        if (rule := scanner.text(name)) is not None:
            raise LeakDetectedError(name, rule)
        self.name = name
        self.scanner = scanner
        # Other members are checked whole: a JSON document is parsed at once.
        self._whole = not name.endswith((".jsonl", ".md"))
        self._keep = max(scanner.longest - 1, 0)
        # An incremental decoder keeps a character split between two blocks whole.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._carry = ""
        self._tail = ""

    def feed(self, block: bytes) -> None:
        """Scan the next bytes of the member (complete lines now, the rest with what follows)."""
        self._text(self._decoder.decode(block))

    def close(self) -> None:
        """Scan what is left: the member has ended."""
        self._text(self._decoder.decode(b"", final=True), final=True)

    def _text(self, text: str, *, final: bool = False) -> None:
        window = self._tail + text
        if any(needle in window for needle in self.scanner.needles):
            raise LeakDetectedError(self.name, "known_secret")
        self._tail = window[-self._keep :] if self._keep else ""
        self._carry += text
        carry = self._carry
        cut = carry.rfind("\n")
        if not final and (self._whole or cut == -1) and len(carry) < MAX_CARRY:
            return
        if final or cut == -1:
            ready, self._carry = carry, ""
        else:
            ready, self._carry = carry[: cut + 1], carry[cut + 1 :]
        if ready:
            self._check(ready)

    def _check(self, chunk: str) -> None:
        name, scanner = self.name, self.scanner
        if name.endswith(".jsonl"):
            lines = chunk.split("\n")
            for index in scanner.suspects(lines):
                if (rule := _json_line(lines[index], scanner)) is not None:
                    raise LeakDetectedError(name, rule)
        elif name.endswith(".json"):
            if (rule := _json_line(chunk, scanner)) is not None:
                raise LeakDetectedError(name, rule)
        elif (rule := scanner.text(chunk)) is not None:
            raise LeakDetectedError(name, rule)


def scan_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, scanner: LeakScanner) -> None:
    """Raise `LeakDetectedError` if any line of one member leaks (see `MemberScan`)."""
    scan = MemberScan(info.filename, scanner)
    with zf.open(info) as stream:
        while block := stream.read(CHUNK):
            scan.feed(block)
    scan.close()


def _json_line(line: str, scanner: LeakScanner) -> str | None:
    if not line.strip():
        return None
    try:
        parsed = json.loads(line, object_pairs_hook=_unique_pairs)
    except ValueError:
        return scanner.text(line)
    return scanner.value(parsed)


def scan_bundle(path: Path, known_secrets: Iterable[str]) -> int:
    """Scan every member of the ZIP at `path`; returns how many were scanned or raises `LeakDetectedError`."""
    scanner = LeakScanner(known_secrets)
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        for info in members:
            scan_member(zf, info, scanner)
    return len(members)
