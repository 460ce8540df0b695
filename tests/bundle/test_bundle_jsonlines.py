"""The head of a stored line is read in the contract's layout, whatever the contract's fields are."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model

from mcpdiag.bundle.aggregate import event_fields, hour_key
from mcpdiag.bundle.jsonlines import COUNTED, HEAD, HEAD_KEY, HEAD_TS, head_pattern, loads
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import SQLiteEventStore
from mcpdiag.store.base import EventQuery
from tests.factories import NOW, FakeClock, make_event

EVENTS = [
    make_event(),
    make_event(user_id="ursula", conversation_id="c-1", run_id="r-1", code="MCP_DNS_FAILURE"),
    make_event(code="MCP_CONNECTED", detail=None, attrs={}),
    make_event(count=3, first_ts=NOW - timedelta(hours=2), last_ts=NOW - timedelta(hours=1), tool="search"),
]


async def test_the_head_of_every_stored_line_gives_the_fields_a_parse_gives(tmp_path: Path) -> None:
    """The lines as the SQLite store hands them to the exporter, not a re-encoding of ours."""
    store = SQLiteEventStore(tmp_path / "events.db", clock=FakeClock())
    try:
        await store.ensure_schema()
        assert await store.append(EVENTS) == len(EVENTS)
        query = EventQuery(server="github", since=NOW - timedelta(days=1))
        lines = [line async for batch in store.iter_json_batches(query) for line in batch]
    finally:
        await store.close()
    assert len(lines) == len(EVENTS)
    for line in lines:
        head = HEAD.match(line)
        assert head is not None, line
        fields = event_fields(loads(line))
        assert (HEAD_KEY(head), HEAD_TS(head)) == (hour_key(fields), fields[4])


def test_the_head_follows_the_contracts_field_order() -> None:
    """A field added before the counted ones (of any scalar type) is skipped; the counted ones still read."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in DiagnosticEvent.model_fields.items()
    }
    reordered = create_model(  # type: ignore[call-overload]
        "Reordered", region=(int | None, None), flagged=(bool, False), **fields
    )
    pattern = head_pattern(reordered)
    event = make_event(server="jira")
    line = '{"region":-12.5e3,"flagged":true,' + event.model_dump_json(by_alias=True)[1:]
    head = pattern.match(line)
    assert head is not None
    assert HEAD_KEY(head) == hour_key(event_fields(event.to_wire()))
    assert HEAD.match(line) is None  # the contract's own head does not read another layout


def test_a_model_without_a_counted_field_has_no_head() -> None:
    fields = {n: (i.annotation, i) for n, i in DiagnosticEvent.model_fields.items() if n != "severity"}
    with pytest.raises(ValueError, match="severity"):
        head_pattern(create_model("NoSeverity", **fields))  # type: ignore[call-overload]
    assert set(COUNTED) <= {info.alias for info in DiagnosticEvent.model_fields.values()}
