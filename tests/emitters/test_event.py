"""The wire event: strict validation that names the field, camelCase on the wire, catalog defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mcpdiag.emitters import DiagnosticEvent, new_event_id, new_trace_id
from mcpdiag.emitters.event import field_path


def wire(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": new_event_id(),
        "ts": "2026-11-21T10:41:05.123Z",
        "server": "github",
        "touchpoint": "connect",
        "code": "MCP_DNS_FAILURE",
        "traceId": new_trace_id(),
    }
    return {**base, **overrides}


def failing_fields(data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as err:
        DiagnosticEvent.model_validate(data)
    return {field_path(e["loc"]) for e in err.value.errors()}


def test_minimal_event_gets_catalog_defaults_and_round_trips_camel_case() -> None:
    event = DiagnosticEvent.model_validate(wire(userId="alice"))
    out = event.to_wire()
    assert out["severity"] == "error" and out["retryable"] is False
    assert out["messageSafe"].startswith("The server address for github can't be found")
    assert out["userId"] == "alice" and "user_id" not in out
    assert DiagnosticEvent.model_validate(out) == event
    assert DiagnosticEvent(
        **{"user_id": "alice", **{k: v for k, v in wire().items() if k != "traceId"}}, trace_id=event.trace_id
    )


def test_ts_is_normalised_to_utc_milliseconds() -> None:
    event = DiagnosticEvent.model_validate(wire(ts="2026-11-21T11:41:05.123456+01:00"))
    assert event.ts == datetime(2026, 11, 21, 10, 41, 5, 123000, tzinfo=UTC)
    assert event.to_wire()["ts"] == "2026-11-21T10:41:05.123Z"


def test_unknown_codes_are_kept_with_safe_defaults() -> None:
    event = DiagnosticEvent.model_validate(wire(code="VENDOR_QUOTA_EXCEEDED"))
    assert event.code == "VENDOR_QUOTA_EXCEEDED"
    assert event.severity == "error" and event.retryable is False


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"server": ""}, "server"),
        ({"server": "x" * 129}, "server"),
        ({"server": "bad\nname"}, "server"),
        ({"messageSafe": "m" * 501}, "messageSafe"),
        ({"detail": "d" * 4097}, "detail"),
        ({"traceId": "0" * 32}, "traceId"),
        ({"traceId": "ABCDEF" + "0" * 26}, "traceId"),
        ({"traceId": "abc"}, "traceId"),
        ({"spanId": "0123456789abcdeg"}, "spanId"),
        ({"spanId": "0" * 16}, "spanId"),
        ({"touchpoint": "kitchen"}, "touchpoint"),
        ({"severity": "fatal"}, "severity"),
        ({"transport": "carrier-pigeon"}, "transport"),
        ({"code": "lower_case"}, "code"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": "2026-11-21T10:41:05"}, "ts"),
        ({"httpStatus": "500"}, "httpStatus"),
        ({"httpStatus": 700}, "httpStatus"),
        ({"retryable": "yes"}, "retryable"),
        ({"durationMs": -1}, "durationMs"),
        ({"attrs": {f"k{i}": i for i in range(33)}}, "attrs"),
        ({"attrs": {"nested": {"a": 1}}}, "attrs"),
        ({"attrs": {"list": [1, 2]}}, "attrs"),
        ({"unexpected": 1}, "unexpected"),
        ({"id": ""}, "id"),
        ({"source": {"service": "s", "extra": 1}}, "source.extra"),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    assert field in failing_fields(wire(**overrides))


def test_missing_required_fields_are_named() -> None:
    data = wire()
    for name in ("id", "ts", "server", "touchpoint", "code", "traceId"):
        assert name in failing_fields({k: v for k, v in data.items() if k != name})


def test_encoded_size_is_bounded_to_16_kib() -> None:
    big = {f"k{i}": "v" * 500 for i in range(32)}
    assert "event" in failing_fields(wire(attrs=big))
    ok = {f"k{i}": "v" * 300 for i in range(32)}
    assert len(DiagnosticEvent.model_validate(wire(attrs=ok)).model_dump_json()) <= 16 * 1024


def test_ids_are_time_sortable_and_trace_ids_valid() -> None:
    a, b = new_event_id(1_000), new_event_id(2_000)
    assert len(a) == 26 and a < b
    assert all(len(t) == 32 and t.strip("0") for t in (new_trace_id() for _ in range(100)))


_TEXT = st.text(st.characters(codec="utf-8") | st.sampled_from('"\\\x00\x1f\x7f\u2028😀'), max_size=40)
_ATTR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)


@settings(max_examples=300, deadline=None)
@example(message="m", detail="\x00" * 3000, attrs={}, host=None, duration=None)  # 18 KB of escapes
@given(
    message=_TEXT.filter(bool),
    detail=st.none()
    | st.text(st.characters(codec="utf-8"), max_size=4096)
    | st.text(st.sampled_from('"\\\x00\x1f😀a'), min_size=2000, max_size=4096),
    attrs=st.dictionaries(st.text(min_size=1, max_size=64), _ATTR, max_size=32),
    host=st.none() | st.text(max_size=256),
    duration=st.none() | st.floats(min_value=0, max_value=1e8),
)
def test_the_size_check_never_lets_an_event_past_the_limit_unmeasured(
    message: str, detail: str | None, attrs: dict[str, Any], host: str | None, duration: float | None
) -> None:
    """The size check measures an event only when counting its characters cannot prove it small enough:
    the count is an upper bound of the encoded size whatever the text holds (escapes, controls, emoji)."""
    data = wire(messageSafe=message, detail=detail, attrs=attrs, durationMs=duration, source={"host": host})
    try:
        event = DiagnosticEvent.model_validate(data)
    except ValidationError:
        return  # too big, or a text no field accepts (test_encoded_size_is_bounded_to_16_kib)
    encoded = len(event.model_dump_json(by_alias=True))
    assert event._size_at_most() >= encoded
    assert encoded <= 16 * 1024


def test_the_size_bound_counts_every_field_that_holds_text() -> None:
    """The fields the bound counts are derived from the model: every field an event fills with a string is
    among them (a field added later cannot be forgotten)."""
    from mcpdiag.emitters.event import _SOURCE_TEXT_FIELDS, _TEXT_FIELDS

    event = DiagnosticEvent.model_validate(
        wire(userId="u", conversationId="c", runId="r", detail="d", tool="t", spanId="1" * 16,
             transport="sse", source={"service": "s", "host": "h", "version": "v"})
    )  # fmt: skip
    texts = {
        name
        for name, value in event.__dict__.items()
        if isinstance(value, str) and not isinstance(value, Enum)
    }
    assert texts and texts <= set(_TEXT_FIELDS)
    assert {name for name, value in event.source.__dict__.items() if isinstance(value, str)} == set(
        _SOURCE_TEXT_FIELDS
    )
