"""The wire event: the one contract between emitters, collector, store and API."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from enum import Enum
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Self, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from mcpdiag.emitters.codes import Severity, Touchpoint, Transport, code_info
from mcpdiag.emitters.text import has_surrogates

MAX_EVENT_BYTES = 16 * 1024
MAX_ATTRS = 32
MAX_MESSAGE_SAFE = 500
MAX_DETAIL = 4096
MAX_COUNT = 1_000_000_000


_INT64 = 2**63

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def no_control_chars(value: str) -> str:
    """`value`, or ValueError when it holds a control character (a name never does: the API's path
    parameters are checked with the same test)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def no_dot_segment(value: str) -> str:
    """`value`, or ValueError when it is `.` or `..`: a server name is a URL path segment
    (`/api/mcp/{server}/…`), and every client removes those two (RFC 3986, `%2E` too), so no request could
    reach the server's events."""
    if value in (".", ".."):
        raise ValueError("must not be '.' or '..' (no URL can name such a server)")
    return value


def _not_all_zeros(value: str) -> str:
    if not value.strip("0"):
        raise ValueError("must not be all zeros (an invalid W3C id)")
    return value


Name = Annotated[StrictStr, Field(min_length=1, max_length=256), AfterValidator(no_control_chars)]
TraceId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{32}$"), AfterValidator(_not_all_zeros)]
SpanId = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{16}$"), AfterValidator(_not_all_zeros)]
AttrValue = str | bool | int | float | None


def format_ts(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. `2026-11-21T10:41:05.123Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CHAR_BYTES = 6
"""Bytes a character of a string takes at most in the event's JSON (`\\u001f`; UTF-8 needs at most 4)."""
_NAME_BYTES = 24
"""Bytes a field's name takes at most with its quotes, colon and comma (the longest is `conversationId`)."""
_VALUE_BYTES = 32
"""Bytes any other value takes at most: a 64-bit integer, a float's shortest repr (24 characters), a time
(26 with quotes), an enum's value (with quotes), a flag or null."""


class Source(BaseModel):
    """The emitting process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: Annotated[StrictStr, Field(max_length=128)] | None = None
    host: Annotated[StrictStr, Field(max_length=256)] | None = None
    version: Annotated[StrictStr, Field(max_length=64)] | None = None


class DiagnosticEvent(BaseModel):
    """One diagnostic event as it travels on the wire (camelCase) and through the code (snake_case).

    `severity`, `retryable` and `message_safe` default from the catalog entry of `code`.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    id: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    ts: Annotated[AwareDatetime, Field(description="RFC 3339 UTC with milliseconds")]
    server: Annotated[
        StrictStr,
        Field(min_length=1, max_length=128),
        AfterValidator(no_control_chars),
        AfterValidator(no_dot_segment),
    ]
    user_id: Name | None = Field(default=None, description="null = server-wide (affects everyone)")
    conversation_id: Name | None = None
    run_id: Name | None = None
    touchpoint: Touchpoint
    code: Annotated[StrictStr, Field(pattern=r"^[A-Z][A-Z0-9_]{2,63}$")]
    severity: Severity
    message_safe: Annotated[StrictStr, Field(min_length=1, max_length=MAX_MESSAGE_SAFE)]
    detail: Annotated[StrictStr, Field(max_length=MAX_DETAIL)] | None = None
    retryable: StrictBool = False
    trace_id: Annotated[TraceId, Field(description="The Debug ID (a W3C trace id)")]
    span_id: SpanId | None = None
    transport: Transport | None = None
    tool: Name | None = None
    http_status: Annotated[StrictInt, Field(ge=100, le=599)] | None = None
    duration_ms: Annotated[StrictFloat | StrictInt, Field(ge=0, le=7 * 24 * 3600 * 1000)] | None = None
    attrs: dict[Annotated[str, Field(min_length=1, max_length=64)], Any] = Field(default_factory=dict)
    source: Source = Field(default_factory=Source)
    count: Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)] = Field(
        default=1,
        description="Occurrences this event stands for (repeats coalesced into it); everything that counts, "
        "counts this",
    )
    first_ts: AwareDatetime | None = Field(default=None, description="First occurrence, when count > 1")
    last_ts: AwareDatetime | None = Field(default=None, description="Last occurrence, when count > 1")

    @model_validator(mode="before")
    @classmethod
    def _catalog_defaults(cls, data: Any) -> Any:
        """Fill severity, retryable and messageSafe from the catalog when the sender left them out."""
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return data
        info = code_info(data["code"])
        missing = {
            "severity": info.severity.value,
            "retryable": info.retryable if data["code"] == info.code else False,
        }
        for name, default in missing.items():
            if data.get(name) is None:
                data = {**data, name: default}
        if data.get("messageSafe") is None and data.get("message_safe") is None:
            server = data.get("server") if isinstance(data.get("server"), str) else "the server"
            data = {**data, "messageSafe": info.render(server)}
        return data

    @field_validator("ts", "first_ts", "last_ts")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # Millisecond precision, as on the wire and in BSON dates, so every backend orders events alike.
        if value is None:
            return None
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 has no UTC instant a datetime can hold
            raise ValueError("falls outside the years 1 to 9999 in UTC") from None
        return utc.replace(microsecond=value.microsecond // 1000 * 1000)

    @field_validator("attrs")
    @classmethod
    def _attrs_bounded(cls, value: dict[str, Any]) -> dict[str, AttrValue]:
        if len(value) > MAX_ATTRS:
            raise ValueError(f"at most {MAX_ATTRS} keys allowed, got {len(value)}")
        for key, item in value.items():
            if item is not None and not isinstance(item, str | bool | int | float):
                raise ValueError(f"value of {key!r} must be a string, number, boolean or null")
            # What no store could write must not be an event (UTF-8 has no lone surrogates, BSON no big ints).
            if isinstance(item, str) and has_surrogates(item):
                raise ValueError(f"value of {key!r} is not valid Unicode (a lone surrogate)")
            if type(item) is int and not -_INT64 <= item < _INT64:
                raise ValueError(f"value of {key!r} does not fit in 64 bits")
            # JSON has no NaN or infinity: stored, one would come back as null (lost, not kept).
            if type(item) is float and not math.isfinite(item):
                raise ValueError(f"value of {key!r} is not a finite number")
        return value

    @model_validator(mode="after")
    def _size_bounded(self) -> Self:
        # Encoding the event only to measure it took a third of the collector's check of an event: most
        # events are proven small enough by counting their characters.
        if self._size_at_most() <= MAX_EVENT_BYTES:
            return self
        size = len(self.model_dump_json(by_alias=True))
        if size > MAX_EVENT_BYTES:
            raise ValueError(f"event is {size} bytes encoded; at most {MAX_EVENT_BYTES} allowed")
        return self

    def _size_at_most(self) -> int:
        """An upper bound of `len(self.model_dump_json(by_alias=True))`, from the lengths of its strings."""
        # One pipeline in C: the lengths of the fields' strings, None skipped.
        chars = sum(map(len, filter(None, map(self.__dict__.get, _TEXT_FIELDS))))
        chars += sum(map(len, filter(None, map(self.source.__dict__.get, _SOURCE_TEXT_FIELDS))))
        total = _FIXED_BYTES
        for key, item in self.attrs.items():
            chars += len(key)
            total += _NAME_BYTES + (2 + _CHAR_BYTES * len(item) if isinstance(item, str) else _VALUE_BYTES)
        return total + _CHAR_BYTES * chars

    @model_validator(mode="after")
    def _occurrences_ordered(self) -> Self:
        if (self.first_ts is None) != (self.last_ts is None):
            raise ValueError("firstTs and lastTs come together")
        if self.first_ts is not None and self.last_ts is not None and self.first_ts > self.last_ts:
            raise ValueError("firstTs must not be after lastTs")
        return self

    @field_serializer("first_ts", "last_ts")
    def _occurrence_wire(self, value: datetime | None) -> str | None:
        return None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @field_serializer("ts")
    def _ts_wire(self, value: datetime) -> str:
        # Already UTC (see `_utc`): skip the conversion, this runs for every stored event.
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON-ready dict sent on the wire and returned by the API."""
        return self.model_dump(mode="json", by_alias=True)


def _holds_text(annotation: Any) -> bool:
    """Whether a field of this type holds a string (alone, or as one member of a union), not a container."""
    if isinstance(annotation, type):
        # An enum's value is short and counted with the other values (`_VALUE_BYTES`).
        return issubclass(annotation, str) and not issubclass(annotation, Enum)
    if get_origin(annotation) in (Annotated, Union, UnionType):
        return any(_holds_text(arg) for arg in get_args(annotation))
    return False


def _text_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(name for name, info in model.model_fields.items() if _holds_text(info.annotation))


_TEXT_FIELDS = _text_fields(DiagnosticEvent)
"""The event's fields that hold a string (enums aside), derived from the model: a field added later is
counted by the size check's bound without anyone remembering to."""
_SOURCE_TEXT_FIELDS = _text_fields(Source)
_FIXED_BYTES = 2 + (len(DiagnosticEvent.model_fields) + len(Source.model_fields)) * (
    _NAME_BYTES + _VALUE_BYTES
)
"""What an event's JSON takes at most besides its strings' characters and its attrs: braces, every field's
(and the source's) name and a value or a string's quotes."""

WIRE_NAMES = MappingProxyType(
    {name: info.alias or name for name, info in DiagnosticEvent.model_fields.items()}
)
"""Each field of the event (snake_case) → its wire name (camelCase), in declaration order."""
WIRE_FIELDS = tuple(WIRE_NAMES.values())
"""The event's wire field names, in declaration order (the order of its JSON)."""

_NESTED = frozenset({"attrs", "source"})
"""Fields whose error locations go one level deeper (the attr's key, the source's field)."""


_FLAT_FIELDS = frozenset(
    name
    for key, info in DiagnosticEvent.model_fields.items()
    for name in (key, info.alias)
    if name and name not in _NESTED
)


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the wire field name, e.g. `attrs.key` or `traceId`.

    pydantic appends the member of a union that failed (`durationMs.float`); the sender only needs the field.
    """
    if loc and loc[0] in _FLAT_FIELDS:
        loc = loc[:1]
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
            continue
        name = DiagnosticEvent.model_fields[part].alias if part in DiagnosticEvent.model_fields else None
        parts.append(("." if parts else "") + (name or part))
    return "".join(parts) or "event"
