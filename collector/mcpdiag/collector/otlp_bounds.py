"""How much structure one OTLP logs request may hold, checked before it is decoded.

The 8 MiB body bounds its bytes, not what decoding them costs: every message of a protobuf body and every
JSON object or array becomes an object of its own, and empty ones take two bytes each. Found by an
adversarial pass: 8 KB of gzip holding 2.8 million empty `resourceLogs` took 12.7 s and 350 MB, a record of
two million empty attributes 7.6 s (JSON) or 2 s (protobuf), and while the checks of three such requests
ran, every other request waited 36 s.

A request may hold `MAX_VALUES` attributes and values (OpenTelemetry's default limit is 128 attributes a
record: a thousand such records hold 128,000), counted by `ValueBudget` as they are read, and `MAX_MESSAGES`
messages (protobuf) or objects and arrays (JSON), enough for those values (an attribute is two messages or
objects, its key-value pair and its value), else 413:

- OTLP/JSON before protobuf's JSON parser (Python, 3.5 µs a message) reads it;
- protobuf above `WALK_ABOVE` bytes before it is decoded, by walking its field headers (in Python: 110 ms
  for a MiB of ordinary records, five times the decoding, so smaller bodies are not walked: decoded, one
  holds at most half a million messages, about 55 MB, decoded in 30 ms), and every body read record by
  record (`otlp._salvage`, which builds a list of each level's fields). A body the walk cannot follow (a
  group, which proto3 has none of and the decoder would skip as an unknown field, or broken framing) is
  refused as not OTLP.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from mcpdiag.collector.errors import InvalidBodyError, PayloadTooLargeError

MAX_VALUES = 150_000
"""Attributes and values (of arrays and key-value lists) in one request."""
MAX_MESSAGES = 3 * MAX_VALUES
"""Protobuf messages, or JSON objects and arrays, in one request: two for each value, and room for the
records, scopes and resources (at most `body.MAX_EVENTS` each) around them."""
WALK_ABOVE = 1 << 20
"""Protobuf bodies longer than this are walked before they are decoded."""
MAX_FIELDS = 2 * MAX_MESSAGES
"""Protobuf fields of any kind the walk reads before it refuses (unknown scalars are cheap to decode, but
each costs the walk a step)."""
_LENGTH_DELIMITED = 2
_FIXED = {1: 8, 5: 4}
"""Fixed-size wire types (64-bit, 32-bit) and their sizes; 0 is a varint, 2 length-delimited."""


def _too_many(what: str, bound: int = MAX_MESSAGES) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"more than {bound:,} {what} in one request; send fewer records at a time", code="too_many_events"
    )


class ValueBudget:
    """The attributes and values a decoded request's records may still turn into (`MAX_VALUES` in all):
    each repeated field is counted by its length before it is read."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_VALUES

    def take(self, count: int) -> None:
        """Count `count` more attributes or values; 413 past the budget."""
        self.left -= count
        if self.left < 0:
            raise _too_many("attributes and values", MAX_VALUES)


def check_json_nodes(body: bytes, document: Any) -> None:
    """413 for an OTLP/JSON request of more than `MAX_MESSAGES` objects and arrays (protobuf's JSON parser
    builds a message of each, in Python). The braces of the body bound their number from above, so most
    requests are never walked; the walk stops at the bound."""
    if body.count(b"{") + body.count(b"[") <= MAX_MESSAGES:
        return
    pending: list[Any] = [document]
    nodes = 0
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        else:
            continue
        nodes += 1
        if nodes > MAX_MESSAGES:
            raise _too_many("objects and arrays")


def _message_fields(descriptor: Descriptor) -> dict[int, Descriptor]:
    return {
        field.number: field.message_type
        for field in descriptor.fields
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None
    }


def _schema(root: Descriptor) -> dict[str, dict[int, Descriptor]]:
    """For each message type under `root` (by full name), its message-typed fields by number."""
    found: dict[str, dict[int, Descriptor]] = {}
    pending = [root]
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in found:
            continue
        found[descriptor.full_name] = fields = _message_fields(descriptor)
        pending.extend(fields.values())
    return found


_SCHEMA = _schema(ExportLogsServiceRequest.DESCRIPTOR)


def check_wire_messages(body: bytes, *, whatever_its_size: bool = False) -> None:
    """413 for a protobuf request of more than `MAX_MESSAGES` embedded messages (or `MAX_FIELDS` fields),
    counted from the wire format's field headers before it is decoded, if it is longer than `WALK_ABOVE` (or
    `whatever_its_size`); 400 for one whose framing the walk cannot follow (a group, a cut)."""
    if len(body) <= WALK_ABOVE and not whatever_its_size:
        return
    view = memoryview(body)
    pending = [(0, len(view), ExportLogsServiceRequest.DESCRIPTOR.full_name)]
    messages = fields = 0
    while pending:
        at, end, name = pending.pop()
        children = _SCHEMA[name]
        while at < end:
            fields += 1
            if fields > MAX_FIELDS:
                raise _too_many("protobuf fields", MAX_FIELDS)
            tag = view[at]  # most tags and sizes are one byte: read inline, the rest by `_varint`
            if tag < 0x80:
                at += 1
            else:
                tag, at = _varint(view, at, end)
                if at < 0:
                    raise _unreadable()
            kind = tag & 7
            if kind == 0:
                _, at = _varint(view, at, end)
            elif kind == _LENGTH_DELIMITED:
                size = view[at] if at < end else 0x80
                if size < 0x80:
                    at += 1
                else:
                    size, at = _varint(view, at, end)
                if at < 0 or at + size > end:
                    raise _unreadable()
                child = children.get(tag >> 3)
                if child is not None:
                    messages += 1
                    if messages > MAX_MESSAGES:
                        raise _too_many("messages (resources, records, attributes, values)")
                    pending.append((at, at + size, child.full_name))
                at += size
            elif kind in _FIXED:
                at += _FIXED[kind]
            else:
                raise _unreadable()
            if at < 0 or at > end:
                raise _unreadable()


def _unreadable() -> InvalidBodyError:
    return InvalidBodyError(
        "body is not a valid ExportLogsServiceRequest: its framing is broken or it holds a group "
        "(OTLP is proto3, which has none)",
        code="invalid_protobuf",
    )


def _varint(view: memoryview, at: int, end: int) -> tuple[int, int]:
    """The varint at `at` and the offset after it; (0, -1) when it is cut off or longer than 10 bytes."""
    value = shift = 0
    for offset in range(at, min(at + 10, end)):
        byte = view[offset]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset + 1
        shift += 7
    return 0, -1
