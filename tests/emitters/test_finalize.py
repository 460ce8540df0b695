"""No public entry point of the emitter raises into its host, whatever the host hands it, and every record
becomes a valid wire event on its own: one poisoned value never costs the events around it."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import math
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from mcpdiag.emitters import Classification, DiagnosticEvent, Emitter, MemorySink
from mcpdiag.emitters.event import MAX_EVENT_BYTES, WIRE_FIELDS
from mcpdiag.emitters.finalize import _TEXT_FIELDS, OCCURRENCES, RECORD_FIELDS, STAMPED, WIRE_NAMES
from tests.emitters import hostile

FIELDS = (
    "severity",
    "message_safe",
    "detail",
    "retryable",
    "user_id",
    "conversation_id",
    "run_id",
    "tool",
    "transport",
    "http_status",
    "duration_ms",
    "trace_id",
)
"""Keyword arguments of `emit()` besides the three every call names."""


@pytest.fixture
def emitter() -> Iterator[Emitter]:
    emitter = Emitter(
        MemorySink(),
        service="host",
        queue_size=100_000,
        batch_size=500,
        flush_interval=0.01,
        coalesce_window=0,
    )
    yield emitter
    emitter.close()


def delivered(emitter: Emitter) -> list[dict[str, Any]]:
    assert emitter.flush(60)
    assert isinstance(emitter.sink, MemorySink)
    return emitter.sink.events


def assert_wire_valid(event: dict[str, Any]) -> None:
    """The event validates as the contract says and encodes as strict UTF-8 JSON within the size limit."""
    DiagnosticEvent.model_validate(event)
    encoded = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    assert len(encoded) <= MAX_EVENT_BYTES


def assert_debug_id(value: object) -> None:
    assert isinstance(value, str) and len(value) == 32 and int(value, 16) > 0


def cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, keyword arguments of emit) for every hostile value in every argument."""
    good = {"code": "MCP_TIMEOUT", "server": "github", "touchpoint": "connect"}
    for name, value in hostile.values().items():
        for slot in ("code", "server", "touchpoint", *FIELDS):
            yield f"{slot}={name}", {**good, slot: value}
        yield f"attrs value={name}", {**good, "attrs": {"k": value}}
    for name, attrs in hostile.attr_mappings().items():
        yield f"attrs={name}", {**good, "attrs": attrs}


def test_emit_never_raises_and_every_hostile_record_arrives_valid_next_to_its_neighbours(
    emitter: Emitter,
) -> None:
    labels: list[str] = []
    for label, kwargs in cases():
        code = kwargs.pop("code")
        assert_debug_id(emitter.emit(code, **kwargs))
        emitter.emit("MCP_CONNECTED", server="neighbour", touchpoint="lifecycle", attrs={"after": label})
        labels.append(label)
    events = delivered(emitter)
    assert len(events) == 2 * len(labels), emitter.stats()
    for event in events:
        assert_wire_valid(event)
    assert [e["attrs"]["after"] for e in events if e["server"] == "neighbour"] == labels
    stats = emitter.stats()
    assert stats.dropped_total == 0 and stats.failed_batches == 0 and stats.sent == len(events)


def test_emit_event_never_raises_and_returns_the_valid_event_it_ships(emitter: Emitter) -> None:
    returned: list[dict[str, Any]] = []
    for label, kwargs in cases():
        code = kwargs.pop("code")
        event = emitter.emit_event(code, **kwargs)
        assert_wire_valid(event), label
        returned.append(event)
    events = delivered(emitter)
    assert [e["id"] for e in events] == [e["id"] for e in returned]
    for event in events:
        assert_wire_valid(event)


class UnprintableError(Exception):
    __str__ = __repr__ = hostile._boom


class AttributeBomb(Exception):
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("no attributes here")


def hostile_exceptions() -> dict[str, BaseException]:
    cause, context = ValueError("a"), OSError("b")
    cause.__cause__, context.__context__ = context, cause  # a cycle
    return {
        "unprintable": UnprintableError(),
        "unprintable_args": RuntimeError(hostile.Unprintable()),
        "cycle": cause,
        "group": ExceptionGroup("g", [UnprintableError(), OSError(hostile.EvilInt(111), "refused")]),
        "attribute_bomb": AttributeBomb(),
        "huge_message": RuntimeError("x" * 3_000_000),
        "surrogate_message": FileNotFoundError(2, "No such file", "/srv/\udcff.json"),
    }


def capture_cases() -> Iterator[tuple[str, BaseException, dict[str, Any]]]:
    good = {"server": "github", "touchpoint": "connect"}
    for name, exc in hostile_exceptions().items():
        yield f"exc={name}", exc, dict(good)
    for name, value in hostile.values().items():
        for slot in ("server", "touchpoint", "user_id", "tool", "http_status", "transport", "attrs"):
            yield f"{slot}={name}", RuntimeError("boom"), {**good, slot: value}
        for hint in ("http", "session_established", "proxy_in_use", "stderr_tail"):
            yield f"{hint}={name}", RuntimeError("boom"), {**good, hint: value}
    for name, attrs in hostile.attr_mappings().items():
        yield f"attrs={name}", RuntimeError("boom"), {**good, "attrs": attrs}


def test_capture_and_capture_event_never_raise_for_hostile_exceptions_or_context(emitter: Emitter) -> None:
    count = 0
    for _label, exc, kwargs in capture_cases():
        assert_debug_id(emitter.capture(exc, **kwargs))
        event, found = emitter.capture_event(exc, **kwargs)
        assert_wire_valid(event)
        assert isinstance(found, Classification) and found.code == event["code"]
        count += 2
    events = delivered(emitter)
    assert len(events) == count
    for event in events:
        assert_wire_valid(event)


def test_lone_surrogates_are_replaced_so_every_event_encodes_as_utf8(emitter: Emitter) -> None:
    path = b"/home/caf\xe9/\xff.txt".decode("utf-8", "surrogateescape")
    emitter.emit(
        "MCP_PROCESS_EXITED",
        server=f"files-{path}",
        touchpoint="transport",
        detail=f"exited reading {path}",
        message_safe=f"stopped at {path}",
        tool=path,
        user_id=path,
        attrs={path: path, "pair": "\ud83d\ude00"},
    )
    [event] = delivered(emitter)
    text = json.dumps(event, ensure_ascii=False)
    text.encode("utf-8")  # would raise on a lone surrogate
    assert "/home/caf\ufffd/\ufffd.txt" in event["detail"] and "\ufffd" in event["server"]
    assert_wire_valid(event)


def test_non_finite_numbers_and_out_of_range_values_never_make_an_event_the_collector_refuses(
    emitter: Emitter,
) -> None:
    emitter.emit(
        "MCP_TIMEOUT",
        server="a",
        touchpoint="not-a-touchpoint",
        severity="fatal",
        transport="carrier-pigeon",
        http_status=999,
        duration_ms=float("nan"),
        trace_id="not a trace id",
        attrs={"nan": float("nan"), "inf": float("inf"), "big": 2**70},
    )
    [event] = delivered(emitter)
    assert_wire_valid(event)
    assert event["durationMs"] is None and event["httpStatus"] is None
    assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in event["attrs"].values())


@pytest.mark.parametrize("server", [".", ".."])
def test_a_server_named_like_a_url_dot_segment_is_shipped_as_unknown_and_kept_in_an_attr(
    emitter: Emitter, server: str
) -> None:
    """The collector refuses such a server (no URL can name it): the event would be lost, Debug ID and all."""
    debug_id = emitter.emit("MCP_TIMEOUT", server=server, touchpoint="connect")
    [event] = delivered(emitter)
    assert_wire_valid(event)
    assert event["traceId"] == debug_id
    assert event["server"] == "unknown"
    assert event["attrs"]["mcpdiag.invalid.server"] == server


@pytest.mark.parametrize(("field", "limit"), [("attrs", 1024), ("detail", 4096), ("message_safe", 500)])
def test_cutting_a_long_value_never_leaves_part_of_a_secret(field: str, limit: int) -> None:
    """A known secret that straddles any length limit is redacted whole, never cut and left half-visible."""
    secret = secrets.token_hex(20)
    sink = MemorySink()
    emitter = Emitter(sink, service="host", known_secrets=[secret], flush_interval=0.01, queue_size=100_000)
    for offset in [*range(limit - 45, limit + 5), *range(4 * limit - 45, 4 * limit + 5)]:
        value = "w" * offset + secret + " tail"
        if field == "attrs":
            emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect", attrs={"v": value})
        else:
            emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect", **{field: value})
    assert emitter.flush(30)
    emitter.close()
    for event in sink.events:
        text = json.dumps(event)
        assert not any(secret[:n] in text for n in (8, 12)), "a piece of the secret survived a cut"


def test_register_secret_and_the_lifecycle_calls_never_raise_on_hostile_arguments(emitter: Emitter) -> None:
    secret = secrets.token_hex(12)
    for value in [*hostile.values().values(), secret]:
        emitter.register_secret(value)
    emitter.emit("MCP_TIMEOUT", server="a", touchpoint="connect", detail=f"key {secret}")
    for timeout in (float("nan"), -1.0, "soon", None, hostile.EvilFloat(1.0), hostile.Unprintable()):
        assert isinstance(emitter.flush(timeout), bool)  # type: ignore[arg-type]
        assert isinstance(asyncio.run(emitter.aflush(timeout)), bool)  # type: ignore[arg-type]
    assert isinstance(emitter.pending, int) and emitter.stats().sent >= 1
    [event] = delivered(emitter)
    assert secret not in json.dumps(event)
    emitter.close(float("nan"))
    emitter.close(hostile.Unprintable())  # type: ignore[arg-type]
    asyncio.run(emitter.aclose("later"))  # type: ignore[arg-type]


def test_capture_takes_any_event_field_as_context_and_emit_event_any_keyword(emitter: Emitter) -> None:
    """Context that repeats what the classifier derives (detail, severity, ...) wins instead of raising;
    keywords that are no event field travel as attrs instead of making an event the collector refuses."""
    exc = ConnectionRefusedError(111, "Connection refused")
    context: dict[str, Any] = {
        "detail": "the host's own detail",
        "severity": "critical",
        "message_safe": "The host's message",
        "retryable": False,
        "code": "MCP_SOMETHING_ELSE",
        "span_id": "ab" * 8,
        "trace_id": "CD" * 16,
        "region": "eu-west",
    }
    event, found = emitter.capture_event(exc, server="s", touchpoint="connect", **context)
    assert_wire_valid(event)
    assert (event["code"], event["detail"], event["severity"]) == (
        found.code,
        "the host's own detail",
        "critical",
    )
    assert (event["messageSafe"], event["retryable"], event["spanId"]) == (
        "The host's message",
        False,
        "ab" * 8,
    )
    assert event["traceId"] == "cd" * 16
    assert event["attrs"]["region"] == "eu-west" and event["attrs"]["requested_code"] == "MCP_SOMETHING_ELSE"
    event = emitter.emit_event(
        "MCP_TIMEOUT", server="s", touchpoint="connect", messageSafe="camel", message_safe="snake", flavour=1
    )
    assert_wire_valid(event)
    assert event["messageSafe"] == "camel" and event["attrs"] == {"message_safe": "snake", "flavour": 1}
    assert len(delivered(emitter)) == 2


@pytest.mark.parametrize("char", ["a", "\u00e9", "\U0001f600", '"', "\x01"])
def test_every_field_at_its_limit_in_any_character_still_fits_the_wire_limit(
    emitter: Emitter, char: str
) -> None:
    """Characters cost 1 to 12 bytes once escaped: the event is cut to fit whichever fills it."""
    emitter.emit(
        "MCP_TIMEOUT",
        server=char * 500,
        touchpoint="connect",
        message_safe=char * 900,
        detail=char * 9000,
        user_id=char * 300,
        conversation_id=char * 300,
        run_id=char * 300,
        tool=char * 300,
        attrs={f"{n}{char * 80}": char * 2000 for n in range(40)},
    )
    [event] = delivered(emitter)
    assert_wire_valid(event)
    assert (
        len(json.dumps(event)) <= MAX_EVENT_BYTES or event["attrs"] == {} or len(event["detail"] or "") < 9000
    )


def test_a_secret_inside_a_container_or_an_object_is_never_cut_in_two_before_redaction(
    emitter: Emitter,
) -> None:
    secret = secrets.token_hex(20)
    emitter.register_secret(secret)

    class Holder:
        def __repr__(self) -> str:
            return "Holder(" + "p" * 700 + secret + "q" * 700 + ")"

    for filler, tail in itertools.product(range(200, 1200, 3), (10, 900)):  # wherever a cut falls
        emitter.emit(
            "MCP_TIMEOUT",
            server="s",
            touchpoint="connect",
            attrs={"list": ["x" * filler + secret + "y" * tail], "obj": [Holder()], "map": {"k": secret}},
        )
    for event in delivered(emitter):
        text = json.dumps(event)
        assert not any(secret[i : i + 10] in text for i in range(0, 31, 5)), "a piece of the secret survived"


def test_every_field_the_host_gives_reaches_its_own_wire_field(emitter: Emitter) -> None:
    """`emit` queues a tuple in `RECORD_FIELDS` order: each argument must land in its own field."""
    given = {
        "server": "srv-a",
        "touchpoint": "tool_call",
        "severity": "critical",
        "message_safe": "message b",
        "detail": "detail c",
        "retryable": True,
        "user_id": "user-d",
        "conversation_id": "conv-e",
        "run_id": "run-f",
        "tool": "tool-g",
        "transport": "sse",
        "http_status": 418,
        "duration_ms": 12.5,
        "attrs": {"h": "i"},
        "trace_id": "ab" * 16,
    }
    emitter.emit("MCP_TOOL_ERROR", **given)
    emitter.emit_event("MCP_TOOL_ERROR", **given, span_id="cd" * 8)
    for event in delivered(emitter):
        assert {WIRE_NAMES[name]: event[WIRE_NAMES[name]] for name in given} == {
            WIRE_NAMES[name]: value for name, value in given.items()
        }
        assert event["code"] == "MCP_TOOL_ERROR"


def test_the_record_fields_are_the_contracts_and_the_finalizer_builds_each_one(emitter: Emitter) -> None:
    """What fails when a field added to `DiagnosticEvent` is not built by the emitter (or said not to be)."""
    assert tuple(f for f in WIRE_FIELDS if f not in STAMPED | OCCURRENCES) == RECORD_FIELDS
    assert set(WIRE_FIELDS) >= STAMPED | OCCURRENCES
    parameters = [p for p in inspect.signature(Emitter.emit).parameters if p not in ("self", "code")]
    assert {WIRE_NAMES[p] for p in parameters} | {"code", "spanId"} == set(RECORD_FIELDS)
    event = emitter.emit_event("MCP_TIMEOUT", server="s", touchpoint="connect")
    assert set(event) == set(WIRE_FIELDS) - OCCURRENCES
    occurrences = DiagnosticEvent.model_validate(event).model_dump(by_alias=True)
    assert {f: occurrences[f] for f in OCCURRENCES} == {"count": 1, "firstTs": None, "lastTs": None}


def test_every_free_text_field_counts_in_the_size_bound() -> None:
    """`_fit` skips encoding when a bound says the event fits; a text field left out of the bound could
    make it wrong. Every other string field is an id, a code or an enum: short by its pattern."""
    properties = DiagnosticEvent.model_json_schema()["properties"]
    for field, schema in properties.items():
        kinds = schema.get("anyOf", [schema])
        free = any(k.get("type") == "string" and "pattern" not in k for k in kinds)
        if field != "ts" and all("format" not in k for k in kinds):
            assert free == (field in _TEXT_FIELDS), field
