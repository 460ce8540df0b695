"""Export-time sanitization of events: stored events redacted again with today's rules and known secrets.

The known secrets come from `known_secrets`, the batch shortcuts from `gates` and `jsonlines`;
settings.json is `settings_file`. Their public names are importable from here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcpdiag.bundle.aggregate import HourKey, event_fields, hour_key
from mcpdiag.bundle.gates import LineGate, SegmentGate
from mcpdiag.bundle.jsonlines import HEAD, HEAD_KEY, HEAD_TS, dumps, loads
from mcpdiag.bundle.known_secrets import collect_known_secrets, secret_needles
from mcpdiag.bundle.settings_file import sanitize_settings, strip_url_credentials
from mcpdiag.emitters import Redactor

__all__ = [
    "CACHE_CHARS",
    "CleanBatch",
    "EventSanitizer",
    "LineGate",
    "SegmentGate",
    "collect_known_secrets",
    "loads",
    "sanitize_settings",
    "secret_needles",
    "strip_url_credentials",
]

CACHE_CHARS = 4096
"""The longest string an export remembers as clean (stored details repeat from one event to the next)."""

_NONE: dict[str, int] = {}


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

    @classmethod
    def of(cls, rows: Iterable[tuple[dict[str, Any], str, dict[str, int]]]) -> CleanBatch:
        """From `EventSanitizer.lines` rows."""
        return cls.of_rows((doc, line, counts, None) for doc, line, counts in rows)

    @classmethod
    def of_rows(
        cls, rows: Iterable[tuple[dict[str, Any] | None, str, dict[str, int], re.Match[str] | None]]
    ) -> CleanBatch:
        """From (wire dict, line, counts, head match) rows: the fields come from the dict or else the head."""
        batch = cls([], [], [], {})
        for doc, line, counts, head in rows:
            if doc is not None:
                fields = event_fields(doc)
                batch.keys.append(hour_key(fields))
                batch.stamps.append(fields[4])
            else:
                assert head is not None
                batch.keys.append(HEAD_KEY(head))
                batch.stamps.append(HEAD_TS(head))
            batch.lines.append(line)
            for rule, n in counts.items():
                batch.redactions[rule] = batch.redactions.get(rule, 0) + n
        return batch


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
            out.append((doc, dumps(doc), _NONE) if not counts else (clean, dumps(clean), counts))
        return out

    def json_lines(self, texts: Sequence[str]) -> CleanBatch:
        """Events given as stored JSON text (one line each), sanitized. A line redaction would leave as it is
        (and that keeps its detail, or has none) is written as given, neither parsed nor encoded again.

        The lines are the store's own documents, written by the collector from validated events, so they are
        taken for JSON; which ones may need redaction is decided for the whole batch by `SegmentGate`, and
        only those are parsed and go through `lines`. The counted fields come from each line's head (`HEAD`)
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
        heads = list(map(HEAD.match, texts))
        if all(heads) and not slow:
            return CleanBatch(list(texts), list(map(HEAD_KEY, heads)), list(map(HEAD_TS, heads)), {})
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
