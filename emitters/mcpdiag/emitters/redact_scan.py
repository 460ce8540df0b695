"""The candidate scan: which of the engine's tags a text holds, found in one pass before any rule runs.

Most text holds no secret, and every rule's match holds one of the rule's tags (`redact_engine`): the scan
says which tags a text holds, so that a clean text costs one scan and a text with a candidate runs only the
rules its tags let through. A tag is a lowercase literal, and may have a pattern besides that narrows where
the literal counts (a secret word only where it can introduce a value: `token=`, `<token>`, `--token x`).
Two engines, each sound (every tag a rule's match needs is reported):

- `hyperscan`: one pass of Hyperscan over the text's bytes, each tag's pattern (else its literal) reported
  at most once (`pip install 'mcpdiag[fast]'`; chosen on measurements, see bench/redact_bench.py);
- `stdlib`: a substring test per distinct literal on the lowercased text, the pure-Python fallback of
  every platform (and what runs where Hyperscan has no wheel or cannot run). It reports a tag wherever its
  literal is: more tags, never fewer, so more rules run and the redaction is the same.

Literals are matched case-insensitively as `str.lower` reads them: Hyperscan's caseless mode folds ASCII
letters only, so a text with any other character is lowercased first (`K`, the Kelvin sign, lowercases to
`k`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Protocol

ENGINES = ("hyperscan", "stdlib")

Tags = Mapping[str, tuple[str, str | None]]
"""tag → (its lowercase literal, a Hyperscan pattern that narrows it or None for the literal alone)."""


class Scanner(Protocol):
    """Finds which of its tags a text holds."""

    @property
    def name(self) -> str: ...
    def present(self, text: str) -> frozenset[str]:
        """The tags `text` holds (every tag whose literal `text.lower()` holds, at most)."""
        ...


class StdlibScanner:
    """A substring test per distinct literal on the lowercased text (pure Python)."""

    name = "stdlib"

    def __init__(self, tags: Tags) -> None:
        by_literal: dict[str, set[str]] = {}
        for tag, (literal, _) in tags.items():
            by_literal.setdefault(literal, set()).add(tag)
        self.literals = tuple(sorted(by_literal))
        self._tags = {literal: frozenset(found) for literal, found in by_literal.items()}
        self._sets: dict[tuple[str, ...], frozenset[str]] = {}

    def present(self, text: str) -> frozenset[str]:
        """The tags whose literal `text.lower()` holds."""
        low = text.lower()
        found = tuple([literal for literal in self.literals if literal in low])
        if not found:
            return _EMPTY
        tags = self._sets.get(found)
        if tags is None:
            if len(self._sets) >= 4096:
                self._sets.clear()
            tags = self._sets[found] = frozenset().union(*(self._tags[literal] for literal in found))
        return tags


def _collect(index: int, start: int, end: int, flags: int, found: object) -> None:
    found.append(index)  # type: ignore[attr-defined]  # the list `present` passes as the context


class HyperscanScanner:
    """One Hyperscan pass over the text, each tag reported at most once (`HS_FLAG_SINGLEMATCH`)."""

    name = "hyperscan"

    def __init__(self, tags: Tags) -> None:
        import hyperscan

        self.tags = tuple(sorted(tags))
        flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
        expressions = [(tags[tag][1] or re.escape(tags[tag][0])).encode() for tag in self.tags]
        database = hyperscan.Database()
        database.compile(
            expressions=expressions,
            ids=list(range(len(self.tags))),
            elements=len(self.tags),
            flags=[flags] * len(self.tags),
        )
        self._database = database
        self._scratch_type = hyperscan.Scratch
        # A scratch space serves one scan at a time: one per thread (the redactor is shared by threads).
        self._local = threading.local()
        self._sets: dict[tuple[int, ...], frozenset[str]] = {}
        self.present("probe")  # fails here, not on first use, where Hyperscan cannot run

    def present(self, text: str) -> frozenset[str]:
        """The tags `text` holds."""
        # ASCII text is scanned as it is (caseless); any other is lowercased as `str.lower` does it.
        data = text.encode() if text.isascii() else text.lower().encode("utf-8", "surrogatepass")
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._scratch_type(self._database)
        found: list[int] = []
        self._database.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
        if not found:
            return _EMPTY
        key = tuple(found)
        tags = self._sets.get(key)
        if tags is None:
            if len(self._sets) >= 4096:
                self._sets.clear()
            tags = self._sets[key] = frozenset(self.tags[i] for i in key)
        return tags


_EMPTY: frozenset[str] = frozenset()


def build(tags: Tags, engine: str | None = None) -> Scanner:
    """A scanner of `tags` on `engine` (None: Hyperscan when it is installed and runs, else stdlib)."""
    if engine not in (None, *ENGINES):
        raise ValueError(f"unknown redaction engine {engine!r}: one of {', '.join(ENGINES)}")
    if engine == "stdlib":
        return StdlibScanner(tags)
    try:
        return HyperscanScanner(tags)
    except Exception as exc:  # not installed, no wheel for this platform, or a CPU it does not support
        if engine == "hyperscan":
            raise RuntimeError(f"the hyperscan redaction engine is unavailable: {exc}") from exc
        return StdlibScanner(tags)


def available() -> list[str]:
    """The engines that can run here, the default first."""
    found = []
    try:
        HyperscanScanner({"probe": ("probe", None)})
        found.append("hyperscan")
    except Exception:  # noqa: S110 (absent or unusable: the stdlib engine serves)
        pass
    return [*found, "stdlib"]
