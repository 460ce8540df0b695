"""Export-time sanitization: the known secrets, the event redactor with its shortcuts, and the settings."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress
from operator import methodcaller
from pathlib import PurePath
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic_core import from_json

from mcpdiag.bundle.aggregate import HourKey, Span, event_fields, hour_key, occurrences
from mcpdiag.emitters import Redactor
from mcpdiag.emitters.redact import GATE_LITERALS, MIN_KNOWN_SECRET, is_secret_key
from mcpdiag.emitters.redact_keys import PAIR_NAME_KEYS

MIN_ENV_SECRET = 8
CACHE_CHARS = 4096
"""The longest string an export remembers as clean (stored details repeat from one event to the next)."""
SEGMENT_LIMIT = 20_000
SEGMENT_SLICE = 256
# Settings that hold secrets whatever their name says; dropped from settings.json outright.
DROPPED_SETTINGS = frozenset({"ingest_keys", "known_secrets", "jwt_secret"})
# Environment variables whose names match a secret word but never hold one.
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})
# Checked against the redactor's own gate literals at import: if a rule ever gains a literal spelled only
# with these characters, the shortcut switches itself off.
_INERT_CHARS = "0123456789abcdef:.tz+-"
_INERT_ON = not any(set(lit) <= set(_INERT_CHARS) for lit in GATE_LITERALS)
_INERT = re.compile(rf"[{re.escape(_INERT_CHARS.upper() + _INERT_CHARS)}]*" if _INERT_ON else r"(?!)")
_LIST_OPEN = re.compile(r'\[\s+"')
_URL_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")
# Control characters a JSON string may not hold raw (a newline only joins lines here).
_CONTROL = bytes(c for c in range(32) if c != 10)
_CONTROL_CHARS = re.compile("[" + re.escape(_CONTROL.decode()) + "]")
# The head of a stored event as the collector writes it (`DiagnosticEvent` field order, compact): the fields
# the aggregates count, read without parsing the line. Values holding a quote or a backslash do not match.
_STR = r'"[^"\\]*"'
_HEAD = re.compile(
    rf'\{{"id":{_STR},"ts":"(?P<ts>(?P<hour>[^"\\]{{13}})[^"\\]*)","server":"(?P<server>[^"\\]*)",'
    rf'"userId":(?:null|{_STR}),"conversationId":(?:null|{_STR}),"runId":(?:null|{_STR}),'
    r'"touchpoint":"(?P<touchpoint>[^"\\]*)","code":"(?P<code>[^"\\]*)","severity":"(?P<severity>[^"\\]*)"[,}]'
)
# A head match → its HourKey, its ts (callables, so that a batch maps them in C).
_HEAD_KEY = methodcaller("group", "server", "code", "severity", "touchpoint", "hour")
_HEAD_TS = methodcaller("group", "ts")
# The tail of a stored event as the collector writes it: `count`, `firstTs`, `lastTs`, the last fields of
# `DiagnosticEvent`. Its quotes are unescaped, so matched at the end of a valid JSON object they can only be
# the top-level keys.
_TAIL_AT = ',"count":'
_TAIL = re.compile(
    r',"count":(?P<count>[1-9][0-9]{0,9}),"firstTs":(?:null|"(?P<first>[^"\\]*)"),'
    r'"lastTs":(?:null|"(?P<last>[^"\\]*)")\}'
)


def _leaves(value: Any) -> Iterable[str]:
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item)


def _settings_secrets(settings: Mapping[str, Any]) -> Iterable[str]:
    for key, value in settings.items():
        if key in DROPPED_SETTINGS or is_secret_key(key) or hasattr(value, "get_secret_value"):
            yield from _leaves(value)
        elif isinstance(value, Mapping):
            yield from _settings_secrets(value)
        else:
            for leaf in _leaves(value):
                if "://" in leaf and (password := urlsplit(leaf).password):
                    yield password


def collect_known_secrets(
    settings: Mapping[str, Any], environ: Mapping[str, str], extra: Iterable[str] = ()
) -> frozenset[str]:
    """Secret values from settings (by field name, URL passwords), the environment (by name) and `extra`."""
    found = {s.strip() for s in _settings_secrets(settings)}
    found |= {
        value.strip()
        for name, value in environ.items()
        if name not in _NOT_SECRET_ENV and len(value.strip()) >= MIN_ENV_SECRET and is_secret_key(name)
    }
    found |= {s.strip() for s in extra if isinstance(s, str)}
    return frozenset(s for s in found if len(s) >= MIN_KNOWN_SECRET)


def secret_needles(known: Iterable[str]) -> tuple[str, ...]:
    """Every form a known secret may take in bundle bytes: raw, URL-encoded, JSON-escaped."""
    needles: set[str] = set()
    for secret in known:
        needles |= {
            secret,
            quote(secret, safe=""),
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
        }
    return tuple(sorted(needles, key=lambda s: (-len(s), s)))


class LineGate:
    """Which lines of JSON text may need redaction: those with a known secret or a detector's gate literal.

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
    return (
        any(len(s) <= 6 and s.lower() in PAIR_NAME_KEYS for s in segments)
        or '["' in text
        or _LIST_OPEN.search(text) is not None
    )


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


def loads(text: str) -> Any:
    """`json.loads`, through pydantic-core's parser (twice as fast, same values); errors are json's own."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


_NONE: dict[str, int] = {}


def line_occurrences(text: str) -> tuple[int, Span | None] | None:
    """The occurrences a stored JSON line stands for, read from its tail (`_TAIL`) without parsing it; an
    event stored before `count` existed is one; None when the line must be parsed to tell."""
    at = text.rfind(_TAIL_AT)
    if at == -1:
        return 1, None  # no top-level `count` (it always follows another field): stored before it existed
    tail = _TAIL.match(text, at)
    if tail is None or tail.end() != len(text):
        return None
    count = int(tail["count"])
    first, last = tail["first"], tail["last"]
    return count, ((first, last) if count > 1 and first and last else None)


@dataclass(slots=True)
class CleanBatch:
    """A batch of events sanitized for a bundle, by column: what to write and what to count."""

    lines: list[str]
    """The JSON lines, in order."""
    keys: list[HourKey]
    """Each event's `HourKey` (of its sanitized fields)."""
    stamps: list[str]
    """Each event's `ts`."""
    redactions: dict[str, int]
    """Values redacted in the batch, per rule."""
    counts: list[int] = field(default_factory=list)
    """Each event's occurrences (its `count`)."""
    spans: list[Span | None] = field(default_factory=list)
    """Each event's first and last occurrence, when it stands for more than one."""

    @classmethod
    def of(cls, rows: Iterable[tuple[dict[str, Any], str, dict[str, int]]]) -> CleanBatch:
        """From `EventSanitizer.lines` rows."""
        return cls.of_rows((doc, line, counts, None) for doc, line, counts in rows)

    @classmethod
    def of_rows(
        cls, rows: Iterable[tuple[dict[str, Any] | None, str, dict[str, int], re.Match[str] | None]]
    ) -> CleanBatch:
        """From (wire dict, line, counts, head match) rows: the fields come from the dict or else the head
        (and the line's tail)."""
        batch = cls([], [], [], {})
        for doc, line, counts, head in rows:
            if doc is not None:
                fields = event_fields(doc)
                batch.keys.append(hour_key(fields))
                batch.stamps.append(fields[4])
                n, span = occurrences(doc)
            else:
                assert head is not None
                batch.keys.append(_HEAD_KEY(head))
                batch.stamps.append(_HEAD_TS(head))
                n, span = line_occurrences(line) or occurrences(loads(line))
            batch.counts.append(n)
            batch.spans.append(span)
            batch.lines.append(line)
            for rule, n in counts.items():
                batch.redactions[rule] = batch.redactions.get(rule, 0) + n
        return batch


def _dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class EventSanitizer:
    """Redacts stored events again with today's rules and known secrets: the redactor's own walk, with its
    memory of clean strings, and shortcuts (`json_lines`) that give exactly what the walk gives."""

    def __init__(self, known_secrets: Iterable[str], *, include_detail: bool = True) -> None:
        known = tuple(known_secrets)
        self.redactor = Redactor(known, cache_chars=CACHE_CHARS)
        self.include_detail = include_detail
        self._needles = secret_needles(known)
        self._gate = LineGate(self._needles)
        self._segments = SegmentGate(self._gate, self._plain, valid_json=True)

    def event(self, doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        """A redacted copy of a wire event (without `detail` unless included) and the counts per rule."""
        counts: dict[str, int] = {}
        return self.mapping(doc, counts), counts

    def lines(self, docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str, dict[str, int]]]:
        """Each event sanitized: (wire dict, JSON line, redactions per rule); clean ones stay as is."""
        out: list[tuple[dict[str, Any], str, dict[str, int]]] = []
        for doc in docs:
            if not self.include_detail:
                doc = _without_detail(doc)
            counts: dict[str, int] = {}
            clean = self.redactor.value(doc, counts)
            out.append((doc, _dumps(doc), _NONE) if not counts else (clean, _dumps(clean), counts))
        return out

    def json_lines(self, texts: Sequence[str]) -> CleanBatch:
        """Events given as stored JSON text (one line each), sanitized. A line redaction would leave as it is
        (and that keeps its detail, or has none) is written as given, neither parsed nor encoded again.

        The lines are the store's own documents, written by the collector from validated events, so they are
        taken for JSON; which ones may need redaction is decided for the whole batch by `SegmentGate`, and
        only those are parsed and go through `lines`. The counted fields come from each line's head (`_HEAD`)
        when it has the collector's layout; a line that does not is parsed for them.
        """
        joined = "\n".join(texts)
        # A line written as given must stay one JSON Lines record: no raw line break inside it.
        if joined.count("\n") != len(texts) - 1 or "\r" in joined:
            return CleanBatch.of(self.lines([loads(text) for text in texts]))
        slow = set(self._segments.classify(texts)[0])
        if not self.include_detail:
            # `lines` drops every `detail` (a deeper one too): those lines are left to it. Without a backslash
            # in the line (those are slow already), `"detail"` followed by a colon is a key, so one
            # `"detail":null` is all that is safe.
            slow.update(
                i
                for i, text in enumerate(texts)
                if text.count('"detail"') > 1 or ('"detail"' in text and '"detail":null' not in text)
            )
        heads = list(map(_HEAD.match, texts))
        if all(heads) and not slow:
            tails = list(map(line_occurrences, texts))
            if all(tails):
                return CleanBatch(
                    list(texts),
                    list(map(_HEAD_KEY, heads)),
                    list(map(_HEAD_TS, heads)),
                    {},
                    [tail[0] for tail in tails if tail],
                    [tail[1] for tail in tails if tail],
                )
        order = sorted(slow)
        redone = dict(zip(order, self.lines([loads(texts[i]) for i in order]), strict=True))
        rows: list[tuple[dict[str, Any] | None, str, dict[str, int], re.Match[str] | None]] = []
        for i, (text, head) in enumerate(zip(texts, heads, strict=True)):
            if i in redone:
                clean, line, counts = redone[i]
                rows.append((clean, line, counts, None))
            else:
                rows.append((None if head else loads(text), text, _NONE, head))
        return CleanBatch.of_rows(rows)

    def _plain(self, text: str) -> bool:
        """Whether redaction leaves `text` as it is (hex digits and time punctuation always)."""
        return not self._gate.passes(text) or self.redactor.is_clean(text)

    def mapping(self, mapping: Mapping[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        """A redacted copy of any JSON-like mapping (an event, a bundle metadata file), adding to `counts`."""
        clean: dict[str, Any] = self.redactor.value(
            mapping if self.include_detail else _without_detail(mapping), counts
        )
        return clean

    def text(self, text: str, counts: dict[str, int]) -> str:
        """Redact one string, adding the rules that fired to `counts`."""
        return self.redactor.string(text, counts)


def _without_detail(value: Any) -> Any:
    """`value` with every `detail` key, at any depth, set to None (a copy only where one is set)."""
    if isinstance(value, Mapping):
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new = None if key == "detail" else _without_detail(item)
            changed = changed or new is not item
            out[key] = new
        return out if changed else value
    if isinstance(value, list | tuple):
        items = [_without_detail(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items if isinstance(value, list) else tuple(items)
    return value


def strip_url_credentials(value: str) -> str:
    """`mongodb://user:pass@host/db` → `mongodb://host/db`; other strings unchanged."""
    if not _URL_CREDENTIALS.match(value):
        return value
    parts = urlsplit(value)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return sanitize_settings(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, str):
        return strip_url_credentials(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def sanitize_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The effective settings for settings.json: secret fields dropped, URL credentials stripped."""
    return {
        str(key): _json_safe(value)
        for key, value in sorted(settings.items(), key=lambda kv: str(kv[0]))
        if not (str(key) in DROPPED_SETTINGS or is_secret_key(str(key)) or hasattr(value, "get_secret_value"))
    }
