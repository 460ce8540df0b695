"""A Debug ID resolved to one trace: the one rule the support lookup (`GET /api/diagnostics/{debugId}`),
`mcpdiag search` and a bundle's Debug ID scope share, so that what support looked up is what it exports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpdiag.store.base import EventStore

Doc = dict[str, Any]
SHOWN_CHARS = 12
"""How much of each trace id a refusal of an ambiguous Debug ID shows: enough to tell them apart."""


@dataclass(frozen=True)
class TraceMatch:
    """What a Debug ID designates: `traces`, the trace ids it names (sorted; one when it resolves, none when
    nothing matched, several when a prefix is ambiguous), and `events`, every event of the one trace
    (oldest first; empty unless it resolved)."""

    traces: list[str]
    events: list[Doc] = field(default_factory=list)

    @property
    def trace_id(self) -> str | None:
        """The trace the Debug ID resolves to, if exactly one."""
        return self.traces[0] if len(self.traces) == 1 else None

    @property
    def candidates(self) -> list[str]:
        """The start of each trace id (`SHOWN_CHARS`), for a refusal saying the Debug ID is ambiguous."""
        return [trace[:SHOWN_CHARS] for trace in self.traces]


def named_traces(key: str, events: Sequence[Doc]) -> list[str]:
    """The trace ids `key` designates among `events` (what `by_trace(key)` found): the trace of the event
    whose id is `key` when there is one (an event id names one trace, whatever other traces its characters
    begin), else every trace id `key` begins, sorted."""
    by_id = next((e for e in events if e.get("id") == key), None)
    if by_id is not None:
        return [str(by_id["traceId"])]
    return sorted({str(e["traceId"]) for e in events})


def _everything(_: Doc) -> bool:
    return True


async def find_trace(
    store: EventStore, key: str, *, visible: Callable[[Doc], bool] = _everything, limit: int = 1000
) -> TraceMatch:
    """The trace Debug ID `key` (a trace id, an event id or a hex prefix, as `trace_key` checks it) resolves
    to among the events `visible` keeps, with all of its events those keep: an event id brings its whole
    trace, not the one event."""
    found = [e for e in await store.by_trace(key, limit=limit) if visible(e)]
    traces = named_traces(key, found)
    if len(traces) != 1:
        return TraceMatch(traces)
    trace = traces[0]
    if trace != key:
        found = [e for e in await store.by_trace(trace, limit=limit) if visible(e)]
    return TraceMatch(traces, [e for e in found if e["traceId"] == trace])
