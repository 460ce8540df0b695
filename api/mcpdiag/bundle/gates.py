"""Which JSON lines may need redaction, decided for whole batches without parsing them.

`LineGate` finds the lines that hold a known secret or a redaction rule's gate literal; `SegmentGate` proves
whole batches of lines clean from the strings between their quotes. The sanitizer and the leak scan both
use them, each with its own notion of clean (`verify`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, compress
from operator import methodcaller

from pydantic_core import from_json

from mcpdiag.emitters.redact import BASE64_FINDER, GATE_LITERALS, is_secret_key
from mcpdiag.emitters.redact_keys import PAIR_NAME_KEYS

SEGMENT_LIMIT = 20_000
SEGMENT_SLICE = 256
# Checked against the redactor's own gate literals at import: if a rule ever gains a literal spelled only
# with these characters, the shortcut switches itself off. (A few `BASE64_FORMS` are spelled with them, but
# base64 of a secret is not: the secret's own random characters encode to letters outside this set.)
_INERT_CHARS = "0123456789abcdef:.tz+-"
_INERT_ON = not any(set(lit) <= set(_INERT_CHARS) for lit in GATE_LITERALS)
_INERT = re.compile(rf"[{re.escape(_INERT_CHARS.upper() + _INERT_CHARS)}]*" if _INERT_ON else r"(?!)")
_LIST_OPEN = re.compile(r'\[\s+"')


def _spellings(word: str) -> set[str]:
    """Every string whose `str.lower()` is `word` (ASCII letters: each case, and the Kelvin sign for `k`,
    the one other character that lowercases to an ASCII letter)."""
    forms = {""}
    for char in word:
        variants = {char, char.upper()} | ({"\u212a"} if char == "k" else set())
        forms = {form + variant for form in forms for variant in variants}
    return forms


PAIR_NAME_SPELLINGS = frozenset().union(*map(_spellings, PAIR_NAME_KEYS))
"""The segments a name/value pair's name key can be (`_pairs`): one set lookup each, in C."""
# Control characters a JSON string may not hold raw (a newline only joins lines here).
_CONTROL = bytes(c for c in range(32) if c != 10)
_CONTROL_CHARS = re.compile("[" + re.escape(_CONTROL.decode()) + "]")


class LineGate:
    """Which lines of JSON text may need redaction: those with a known secret, a detector's gate literal or
    base64 that may say one (`BASE64_FINDER`).

    The redactor returns a string untouched unless it holds a known secret or one of its rules' gate
    literals (lowercase substrings every match contains), and every secret-looking field name holds one
    too. A literal in a field value is still contiguous in its JSON line (escaping only inserts `\\`), so a
    line without any of them needs no redaction: most lines skip the per-field work.
    """

    def __init__(self, needles: Iterable[str]) -> None:
        # A raw newline can never sit inside a JSON line; the escaped forms of such a secret are kept.
        self.needles = tuple(n for n in needles if "\n" not in n and "\r" not in n)
        self.literals = GATE_LITERALS
        self._inert_needles = any(_INERT.fullmatch(n) for n in self.needles)
        # What `str.strip` removes from an inert text, leaving nothing ("" when the shortcut is off).
        inert = _INERT_ON and not self._inert_needles
        self._inert_strip = _INERT_CHARS.upper() + _INERT_CHARS if inert else ""

    def live(self, texts: Iterable[str]) -> list[str]:
        """The `texts` that pass (`passes`), in bulk."""
        strip = self._inert_strip
        if not strip:
            return list(texts)
        seq = list(texts)
        # One pass in C for the lot: delete the inert characters, and what is left empty was inert. The
        # pieces line up with `seq` when no text holds the separator (segments never hold a quote).
        left = '"'.join(seq).encode().translate(None, strip.encode()).split(b'"')
        if len(left) == len(seq):
            return list(compress(seq, left))
        return list(filter(methodcaller("strip", strip), seq))

    def passes(self, text: str) -> bool:
        """Whether the redactor could change `text` (not when it is hex digits and time punctuation only)."""
        return _INERT.fullmatch(text) is None or self._inert_needles

    def flagged(self, lines: Sequence[str]) -> list[int]:
        """Indexes of the `lines` (no newlines inside) that may hold something to redact."""
        text = "\n".join(lines)
        lowered = text.lower()
        hits: set[int] = set()
        self.scan(text, self.needles, lines, hits)
        # Lowercasing can change the length of a few characters, so the lowered lines get their own offsets.
        self.scan(lowered, self.literals, lowered.split("\n") if len(lowered) != len(text) else lines, hits)
        # Base64 that may say a literal (`encoded_secret`): its forms, as written, in one pass.
        ends = BASE64_FINDER.ends(text)
        if ends:
            starts = list(accumulate(map((1).__add__, map(len, lines)), initial=0))
            hits.update(bisect_right(starts, end - 1) - 1 for end in ends)
        return sorted(hits)

    @staticmethod
    def scan(text: str, words: Iterable[str], lines: Sequence[str], hits: set[int]) -> None:
        """Add to `hits` the index of every line of `lines` (joined with newlines into `text`) that holds
        one of `words`."""
        starts: list[int] | None = None
        for word in words:
            pos = text.find(word)
            if pos == -1:
                continue
            if starts is None:
                starts = list(accumulate(map((1).__add__, map(len, lines)), initial=0))
            while pos != -1:
                index = bisect_right(starts, pos) - 1
                hits.add(index)
                pos = text.find(word, starts[index + 1])


class SegmentGate:
    """Proves whole batches of JSON lines clean at once, from the text between their double quotes.

    In a line without a backslash nothing is escaped, so splitting it on `"` yields its strings (keys and
    values) exactly, as the odd segments, and the structure between them as the even ones. A gate literal
    holds no `"` (`check_literals`), so any literal in the line lies inside one segment. Each distinct segment
    is classified once (with `verify`, which says whether redaction leaves a string as it is):

    - free: no gate literal and no needle (or hex digits and time punctuation only): nothing can fire on the
      line because of it, whatever surrounds it;
    - checked: holds a literal, but `verify` passes it as a whole string. In a valid JSON line, where it can
      only be a whole string, it is clean; in broken JSON a rule could match across its quotes;
    - named: like checked, but it is a secret-looking field name: clean as a value, not as a key;
    - bad: `verify` fails; its lines need the full per-value treatment.

    Most segments of most lines are already known (servers, codes, messages), so one `split` and one set
    difference per batch, both in C, replace a walk over every key and value of every event.
    """

    def __init__(self, gate: LineGate, verify: Callable[[str], bool], *, valid_json: bool) -> None:
        # `valid_json`: the lines are known to be JSON (the store's own documents, written by the collector),
        # so a checked segment is as good as a free one. A stored line that were not would be written as it
        # is, and the leak scan (which assumes nothing) refuses the bundle if that leaks.
        self.gate = gate
        self.verify = verify
        self.valid_json = valid_json
        self.free: set[str] = set()
        self.checked: set[str] = set()
        self.named: dict[str, re.Pattern[str]] = {}
        self.bad: set[str] = set()
        self.skeletons: dict[str, bool] = {}
        """Line skeletons (`_broken`) and whether each is JSON."""
        check_literals(gate)

    def classify(self, lines: Sequence[str]) -> tuple[list[int], list[int]]:
        """(suspect, checked) indexes of `lines` (none holding a newline): the lines that need the full
        treatment (an escape, a bad segment, a secret-looking key), and those clean provided they are valid
        JSON (always none with `valid_json`). Every other line is clean."""
        if len(lines) <= SEGMENT_SLICE:
            return self._classify(lines)
        # In slices: the segments of a slice are held at once (about 15 bytes of memory per byte of text).
        suspect: list[int] = []
        checked: list[int] = []
        for start in range(0, len(lines), SEGMENT_SLICE):
            found, valid_if = self._classify(lines[start : start + SEGMENT_SLICE])
            suspect += (start + i for i in found)
            checked += (start + i for i in valid_if)
        return suspect, checked

    def _classify(self, lines: Sequence[str]) -> tuple[list[int], list[int]]:
        # Bounded memory (unique ids pass through here): forget everything now and then, never within a call.
        if len(self.free) + len(self.checked) + len(self.named) + len(self.bad) >= SEGMENT_LIMIT:
            self.free.clear()
            self.checked.clear()
            self.named.clear()
            self.bad.clear()
        text = "\n".join(lines)
        escaped: list[int] = []
        kept: Sequence[str] = lines
        if "\\" in text:
            escaped = [i for i, line in enumerate(lines) if "\\" in line]
            kept = [line for line in lines if "\\" not in line]
            text = "\n".join(kept)
        pieces = text.split('"')
        every = set(pieces)
        unknown = every - self.free
        if not unknown:
            return escaped, []
        self._learn(unknown - self.checked - self.named.keys() - self.bad)
        named = [s for s in unknown if s in self.named]
        pairs = bool(named) and _pairs(every, text)
        if self.bad.isdisjoint(unknown) and not pairs and not any(self.named[s].search(text) for s in named):
            context = [] if self.valid_json else [s for s in unknown if s in self.checked] + named
            if not context:
                return escaped, []
            broken = None if any("\n" in s for s in context) else self._broken(kept, pieces)
            if broken is not None:
                # Clean if the line is JSON: the lines that are not are suspects; none is left to parse.
                if escaped:
                    where = [i for i, line in enumerate(lines) if "\\" not in line]
                    broken = [where[i] for i in broken]
                return sorted(escaped + broken), []
        # Some line needs more than the batch test: look at each one (segments at a line's ends differ from
        # those of the joined text, which span the newline between two lines).
        skip = set(escaped)
        suspect, checked = escaped, []
        for index, line in enumerate(lines):
            if index in skip:
                continue
            every = set(line.split('"'))
            segments = every - self.free
            if not segments:
                continue
            self._learn(segments - self.checked - self.named.keys() - self.bad)
            if not self.bad.isdisjoint(segments):
                suspect.append(index)
                continue
            named = [s for s in segments if s in self.named]
            if (named and pairs and _pairs(every, line)) or any(self.named[s].search(line) for s in named):
                suspect.append(index)
            elif not self.valid_json and (named or not self.checked.isdisjoint(segments)):
                checked.append(index)
        suspect.sort()
        return suspect, checked

    def _broken(self, lines: Sequence[str], pieces: list[str]) -> list[int] | None:
        """Indexes of the `lines` that are not JSON; None when a line has an odd number of quotes.

        `pieces` are the lines (no backslash in any), joined with newlines, split on quotes. With an even
        number of quotes in every line, the even pieces are what lies between strings, so joining them with
        `""` gives each line's skeleton: the line with every string emptied. A string without a backslash or
        a control character (`_learn` makes a segment holding one bad) is always valid, so a line is JSON
        exactly when its skeleton is. Skeletons repeat as long as numbers do (every distinct one is parsed,
        once while it is remembered); a line with an odd number of quotes is not JSON, but the pieces of the
        lines after it no longer pair up, so the caller looks at each line instead.
        """
        if any(line.count('"') % 2 for line in lines):
            return None
        skeletons = '""'.join(pieces[::2]).split("\n")
        known = self.skeletons
        if len(known) >= SEGMENT_LIMIT:
            known.clear()
        for skeleton in set(skeletons).difference(known):
            known[skeleton] = _parses(skeleton)
        if all(map(known.__getitem__, set(skeletons))):
            return []
        return [i for i, skeleton in enumerate(skeletons) if not known[skeleton]]

    def _learn(self, segments: set[str]) -> None:
        """Put each of `segments` (in no class yet) in its class."""
        if not segments:
            return
        # Hex digits and time punctuation (ids, trace ids, timestamps) cannot hold a literal.
        live = self.gate.live(segments)
        single = [s for s in live if "\n" not in s]
        flagged = {single[i] for i in self.gate.flagged(single)}
        # A segment of joined lines spans a newline: each of its pieces is gated on its own.
        flagged.update(s for s in live if "\n" in s and self.gate.flagged(s.split("\n")))
        # Hex digits and time punctuation are not remembered: mostly unique (ids, trace ids, timestamps),
        # they are cheaper to recognise again than to keep.
        self.free.update(live)
        self.free -= flagged
        if not self.valid_json:
            # A raw control character makes a string invalid JSON, which `_broken` relies on seeing here.
            raw = '"'.join(segments).encode()
            if len(raw.translate(None, _CONTROL)) != len(raw):
                controlled = {s for s in segments if _CONTROL_CHARS.search(s)}
                self.free -= controlled
                self.bad |= controlled
                flagged -= controlled
        for segment in flagged:
            if not self.verify(segment):
                self.bad.add(segment)
            elif is_secret_key(segment):
                # Used as a key (a string followed by a colon), it names a value that must be looked at (so
                # does the name of a name/value pair: `_pairs`).
                self.named[segment] = re.compile('"' + re.escape(segment) + r'"\s*:')
            else:
                (self.free if self.valid_json else self.checked).add(segment)


def _pairs(segments: set[str], text: str) -> bool:
    """Whether `text` (split on quotes into `segments`) may hold a name/value pair, which the redactor reads
    as one (`{"name": "Authorization", "value": …}`, `[["Authorization", …]]`): a name key, or a list that
    opens on a string."""
    return not segments.isdisjoint(PAIR_NAME_SPELLINGS) or '["' in text or _LIST_OPEN.search(text) is not None


def check_literals(gate: LineGate) -> None:
    """`SegmentGate` relies on no gate literal holding a quote, a backslash or a newline: a rule must not.

    The backslash alone is the one exception (the gate of text that needs decoding): in a JSON line it only
    ever stands in an escape, and every line holding one is a suspect anyway.
    """
    if any('"' in lit or ("\\" in lit and lit != "\\") or "\n" in lit for lit in gate.literals):
        raise RuntimeError("a redaction gate literal holds a quote, a backslash or a newline")


def _parses(text: str) -> bool:
    try:
        from_json(text)
    except ValueError:
        return False
    return True
