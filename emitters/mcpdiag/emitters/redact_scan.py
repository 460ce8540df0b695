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
from collections.abc import Callable, Mapping
from typing import Protocol

from mcpdiag.emitters.redact_views import (
    BASE64_ALPHABETS,
    BASE64_MIN,
    BASE64_TAILS,
    base64_runs,
    by_start,
    wrapped_once,
)

ENGINES = ("hyperscan", "stdlib")

Tags = Mapping[str, tuple[str, str | tuple[str, ...] | None]]
"""tag → (its lowercase literal, a Hyperscan pattern that narrows it, or several, or None for the literal
alone)."""


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

    def __init__(self, tags: Tags, searched: Mapping[str, str] | None = None) -> None:
        by_literal: dict[str, set[str]] = {}
        for tag, (literal, _) in tags.items():
            if tag not in (searched or {}):
                by_literal.setdefault(literal, set()).add(tag)
        self.literals = tuple(sorted(by_literal))
        self._searched = [(tag, re.compile(pattern)) for tag, pattern in (searched or {}).items()]
        # A searched tag stands in `found` for itself, as a literal stands for its tags.
        self._tags = {literal: frozenset(found) for literal, found in by_literal.items()} | {
            tag: frozenset({tag}) for tag, _ in self._searched
        }
        self._sets: dict[tuple[str, ...], frozenset[str]] = {}

    def present(self, text: str) -> frozenset[str]:
        """The tags whose literal `text.lower()` holds, and the searched ones whose pattern `text` holds."""
        low = text.lower()
        found = tuple([literal for literal in self.literals if literal in low])
        for tag, pattern in self._searched:
            if pattern.search(text):
                found += (tag,)
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

    def __init__(self, tags: Tags, exact: Mapping[str, Callable[[str], bool]] | None = None) -> None:
        import hyperscan

        self.tags = tuple(sorted(tags))
        caseless = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
        expressions: list[bytes] = []
        ids: list[int] = []
        flags: list[int] = []
        for index, tag in enumerate(self.tags):
            literal, pattern = tags[tag]
            # Several patterns of one tag are one expression each (one alternation of a thousand literals took
            # 0.2 s and 20 MB to compile, a thousand literals 0.01 s); an exact tag's are taken as written.
            for each in pattern if isinstance(pattern, tuple) else (pattern or re.escape(literal),):
                expressions.append(each.encode())
                ids.append(index)
                flags.append(hyperscan.HS_FLAG_SINGLEMATCH if tag in (exact or {}) else caseless)
        database = hyperscan.Database()
        database.compile(expressions=expressions, ids=ids, elements=len(expressions), flags=flags)
        self._database = database
        # Tags whose pattern says which case it means (`(?-i)`): a text lowercased for the others is asked
        # whether it holds these as it is written, by the check given for each.
        self._exact = [(i, check) for i, tag in enumerate(self.tags) if (check := (exact or {}).get(tag))]
        self._exact_ids = frozenset(i for i, _ in self._exact)
        self._scratch_type = hyperscan.Scratch
        # A scratch space serves one scan at a time: one per thread (the redactor is shared by threads).
        self._local = threading.local()
        self._sets: dict[tuple[int, ...], frozenset[str]] = {}
        self.present("probe")  # fails here, not on first use, where Hyperscan cannot run

    def present(self, text: str) -> frozenset[str]:
        """The tags `text` holds."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._scratch_type(self._database)
        found: list[int] = []
        if text.isascii():
            # ASCII text is scanned as it is (caseless).
            self._database.scan(text.encode(), match_event_handler=_collect, context=found, scratch=scratch)
        else:
            # Any other is lowercased as `str.lower` does it; the exact tags are looked for as it is written.
            low = text.lower().encode("utf-8", "surrogatepass")
            self._database.scan(low, match_event_handler=_collect, context=found, scratch=scratch)
            if self._exact:
                found = [i for i in found if i not in self._exact_ids]
                found += (i for i, check in self._exact if check(text))
                found.sort()
        if not found:
            return _EMPTY
        key = tuple(found)  # a tag of several patterns may be reported once for each
        tags = self._sets.get(key)
        if tags is None:
            if len(self._sets) >= 4096:
                self._sets.clear()
            tags = self._sets[key] = frozenset(self.tags[i] for i in key)
        return tags


_EMPTY: frozenset[str] = frozenset()


class RunFinder(Protocol):
    """Finds the runs of base64 in a text, as `redact_views.base64_runs` defines them."""

    def runs(self, text: str) -> list[tuple[int, int]]: ...


class StdlibRuns:
    """`RunFinder` by two regex searches (`redact_views.base64_runs`, pure Python)."""

    def runs(self, text: str) -> list[tuple[int, int]]:
        return base64_runs(text)


def _at_end(index: int, start: int, end: int, flags: int, found: object) -> None:
    found.append((index, end))  # type: ignore[attr-defined]  # the list `runs` passes as the context


class HyperscanRuns:
    """`RunFinder` by one Hyperscan pass that reports each run once, where its first `BASE64_MIN`
    characters end, the rest matched from there (anchored): a long text without a run costs no Python-sized
    steps. A text that is not ASCII goes to `base64_runs`, whose positions are the text's own."""

    def __init__(self) -> None:
        import hyperscan

        database = hyperscan.Database()
        database.compile(
            expressions=[f"(?:^|[^{a}])[{a}]{{{BASE64_MIN}}}".encode() for a in BASE64_ALPHABETS],
            ids=list(range(len(BASE64_ALPHABETS))),
            elements=len(BASE64_ALPHABETS),
            flags=[0] * len(BASE64_ALPHABETS),
        )
        self._database = database
        self._scratch_type = hyperscan.Scratch
        self._local = threading.local()

    def runs(self, text: str) -> list[tuple[int, int]]:
        if not text.isascii():
            return base64_runs(text)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._scratch_type(self._database)
        ends: list[tuple[int, int]] = []
        self._database.scan(text.encode(), match_event_handler=_at_end, context=ends, scratch=scratch)
        spans: set[tuple[int, int]] = set()
        covered = [-1] * len(BASE64_ALPHABETS)  # Hyperscan reports by end: each alphabet's runs in order
        for index, end in ends:
            start = end - BASE64_MIN
            if start < covered[index]:
                continue  # a line of a run found before (`wrapped_once`), whose tail is not worth a match
            tail = BASE64_TAILS[index].match(text, end)
            covered[index] = wrapped_once(text, start, tail.end() if tail else end, index, -1, spans)
        return sorted(spans, key=by_start)


class LiteralFinder(Protocol):
    """Finds where a text holds any of a set of literals (as written: case matters)."""

    def ends(self, text: str) -> list[int]:
        """Where each occurrence of a literal in `text` ends (in `text`'s positions; unordered)."""
        ...


class StdlibLiterals:
    """`LiteralFinder` by a substring search per literal, and a regex search per pattern (pure Python)."""

    def __init__(self, literals: tuple[str, ...], patterns: tuple[str, ...] = ()) -> None:
        self.literals = literals
        self._patterns = [re.compile(pattern) for pattern in patterns]

    def ends(self, text: str) -> list[int]:
        found = []
        for literal in self.literals:
            at = text.find(literal)
            while at != -1:
                found.append(at + len(literal))
                at = text.find(literal, at + 1)
        for pattern in self._patterns:
            found += (match.end() for match in pattern.finditer(text))
        return found


class HyperscanLiterals:
    """`LiteralFinder` by Hyperscan passes over the text's bytes (positions mapped back to characters where
    the text is not ASCII): one of the literals, one of the patterns (in one database, a thousand literals
    and a bounded repeat took 25 MB to compile, apart 0.1 MB). A pattern is reported where each of its
    matches ends, every end as a regex search finds them (the ends are what the two engines agree on)."""

    def __init__(self, literals: tuple[str, ...], patterns: tuple[str, ...] = ()) -> None:
        import hyperscan

        self._databases = []
        for expressions, literal in (
            ([lit.encode() for lit in literals], True),
            ([p.encode() for p in patterns], False),
        ):
            if not expressions:
                continue
            database = hyperscan.Database()
            database.compile(
                expressions=expressions,
                ids=list(range(len(expressions))),
                elements=len(expressions),
                flags=[0] * len(expressions),
                literal=literal,
            )
            self._databases.append(database)
        self._scratch_type = hyperscan.Scratch
        self._local = threading.local()

    def ends(self, text: str) -> list[int]:
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = [self._scratch_type(db) for db in self._databases]
        data = text.encode("utf-8", "surrogatepass")
        found: list[tuple[int, int]] = []
        for database, scratch in zip(self._databases, scratches, strict=True):
            database.scan(data, match_event_handler=_at_end, context=found, scratch=scratch)
        if len(data) == len(text):
            return [end for _, end in found]
        # Byte offsets to characters, in one walk (every end follows an ASCII byte: a character's end).
        ends, byte, char = [], 0, 0
        for end in sorted(end for _, end in found):
            char += len(data[byte:end].decode("utf-8", "surrogatepass"))
            byte = end
            ends.append(char)
        return ends


class _Deferred:
    """A `LiteralFinder` built on first use: most processes never ask (its database costs time to build)."""

    def __init__(self, build: Callable[[], LiteralFinder]) -> None:
        self._build = build
        self._finder: LiteralFinder | None = None

    def ends(self, text: str) -> list[int]:
        finder = self._finder
        if finder is None:
            finder = self._finder = self._build()  # two threads at once build it twice: no harm
        return finder.ends(text)


def literal_finder(literals: tuple[str, ...], engine: str, patterns: tuple[str, ...] = ()) -> LiteralFinder:
    """A finder of `literals` (and `patterns`, which both engines read alike) on the scan `engine`, built
    when first asked."""
    if engine == "hyperscan":
        return _Deferred(lambda: HyperscanLiterals(literals, patterns))
    return _Deferred(lambda: StdlibLiterals(literals, patterns))


def run_finder(engine: str) -> RunFinder:
    """The run finder of the scan `engine` (`Scanner.name`): both find the same runs."""
    return HyperscanRuns() if engine == "hyperscan" else StdlibRuns()


def build(
    tags: Tags,
    engine: str | None = None,
    searched: Mapping[str, str] | None = None,
    exact: Mapping[str, Callable[[str], bool]] | None = None,
) -> Scanner:
    """A scanner of `tags` on `engine` (None: Hyperscan when it is installed and runs, else stdlib).
    `searched`: tags the stdlib engine finds by a regex search (Python syntax, a superset of where the
    Hyperscan pattern matches) instead of by their literal. `exact`: tags whose Hyperscan pattern is
    case-sensitive (`(?-i)`), each with what says whether a text as written holds it (Hyperscan reads text
    that is not ASCII lowercased)."""
    if engine not in (None, *ENGINES):
        raise ValueError(f"unknown redaction engine {engine!r}: one of {', '.join(ENGINES)}")
    if engine == "stdlib":
        return StdlibScanner(tags, searched)
    try:
        return HyperscanScanner(tags, exact)
    except Exception as exc:  # not installed, no wheel for this platform, or a CPU it does not support
        if engine == "hyperscan":
            raise RuntimeError(f"the hyperscan redaction engine is unavailable: {exc}") from exc
        return StdlibScanner(tags, searched)


def available() -> list[str]:
    """The engines that can run here, the default first."""
    found = []
    try:
        HyperscanScanner({"probe": ("probe", None)})
        found.append("hyperscan")
    except Exception:  # noqa: S110 (absent or unusable: the stdlib engine serves)
        pass
    return [*found, "stdlib"]
