"""OTLP/HTTP logs: decode an ExportLogsServiceRequest and turn each log record into a raw wire event.

The attribute names are the contract in `mcpdiag.emitters.otel`: mcpdiag's own (`mcpdiag.*`, and the names
of earlier releases), and the OpenTelemetry semantic conventions for MCP, read into the fields they match
(`gen_ai.tool.name` is the tool, `error.type` a code when it names one, `mcp.method.name` the touchpoint
when none is given, `network.transport` `pipe` is stdio, `server.address` the server when no name is
given) and otherwise kept in `attrs` under their own names. Anything a record leaves out gets the catalog
default, except the server, without which a record is rejected.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from mcpdiag.collector.body import JSON, PROTOBUF, Malformed, check_count, load_json
from mcpdiag.collector.errors import InvalidBodyError
from mcpdiag.collector.otlp_bounds import ValueBudget, check_json_nodes, check_wire_messages
from mcpdiag.collector.validation import Rejection
from mcpdiag.emitters import CATALOG, format_ts, new_event_id, new_trace_id
from mcpdiag.emitters.codes import FALLBACK_CODE, LIFECYCLE_CODES
from mcpdiag.emitters.otel import (
    ATTRIBUTE_FIELDS,
    ATTRS_PREFIXES,
    ERROR_TYPE_CODES,
    FIELD_NAMES,
    METHOD_TOUCHPOINTS,
    NETWORK_TRANSPORTS,
    RESOURCE_FIELDS,
    SEMCONV_ATTRS,
    severity_from_number,
)

# Wire field → the attribute that carries it, for rejection messages a sender can act on.
FIELD_ATTRIBUTES = {field: names[0] for field, names in FIELD_NAMES.items()}
FIELD_ATTRIBUTES["server"] = "mcpdiag.server.name (or mcp.server.name, server.address)"
_PIPE_TRANSPORTS = {network: mcp for mcp, network in NETWORK_TRANSPORTS.items() if network == "pipe"}
_SOURCE_LIMITS = {"service": 128, "host": 256, "version": 64}
_INTEGER_DIGITS = {"httpStatus": 3, "count": 10}
"""Integer fields some SDKs send as text, and the most digits each can have."""
_MAX_REPORTED = 5
_LENGTH_DELIMITED = 2  # the protobuf wire type of messages, strings and bytes


def decode_request(body: bytes, kind: str) -> ExportLogsServiceRequest:
    """The request in `body`, protobuf or OTLP/JSON; raises `InvalidBodyError` when it does not decode, and
    413 `PayloadTooLargeError` for more messages than a request may hold (`otlp_bounds`) or more resources,
    scopes or log records than `MAX_EVENTS`, before any record becomes an event."""
    request = ExportLogsServiceRequest()
    if kind == PROTOBUF:
        check_wire_messages(body)
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise InvalidBodyError(
                f"body is not a valid ExportLogsServiceRequest: {exc}", code="invalid_protobuf"
            ) from exc
    else:
        if not body.strip():
            raise InvalidBodyError("request body is empty", code="empty_body")
        document = load_json(body)  # lone surrogates come out as U+FFFD: protobuf strings must be UTF-8
        if not isinstance(document, dict):
            raise InvalidBodyError("body must be a JSON ExportLogsServiceRequest object", code="invalid_body")
        check_json_nodes(body, document)
        try:
            json_format.ParseDict(_ids_to_base64(document), request, ignore_unknown_fields=True)
        except (json_format.ParseError, RecursionError, ValueError, TypeError, OverflowError) as exc:
            # OverflowError: an infinite number (`1e400`) where protobuf wants an integer or an enum.
            raise InvalidBodyError(
                f"body is not a valid ExportLogsServiceRequest: {_parse_problem(exc)}", code="invalid_body"
            ) from None
    check_count(len(request.resource_logs), "resourceLogs entries")
    check_count(sum(len(resource.scope_logs) for resource in request.resource_logs), "scopeLogs entries")
    check_count(_record_count(request), "log records")
    return request


def _parse_problem(exc: Exception) -> str:
    """Which field protobuf's JSON parser stopped at, never the value its message quotes (`invalid literal
    for int() with base 10: '<a password sent as intValue>'`, `Couldn't parse float: <it>`)."""
    if not isinstance(exc, json_format.ParseError):
        return f"it does not parse ({type(exc).__name__})"
    text = str(exc)
    where = _PARSE_AT.search(text)
    path = where.group(1).rstrip(".") if where else ".".join(_PARSE_FIELD.findall(text))
    return f"{path} has a value of the wrong type or form" if path else "it does not parse"


_PARSE_AT = re.compile(r" at ExportLogsServiceRequest\.([\w.\[\]]{1,512})")
_PARSE_FIELD = re.compile(r"Failed to parse (\w{1,64}) field")


def body_events(body: bytes, kind: str) -> list[Any]:
    """One raw event per log record of the request in `body`, in request order.

    A protobuf request that does not parse whole is read again record by record: a record (or a resource)
    whose strings are not UTF-8 (proto3 requires it; OTLP says to send such data as `bytesValue`) becomes a
    `Malformed` entry, rejected by index, and every other record is kept.
    """
    try:
        return request_events(decode_request(body, kind))
    except InvalidBodyError:
        if kind != PROTOBUF:
            raise
        events = _salvage(body)
        if events is None:
            raise
        return events


def _salvage(body: bytes) -> list[Any] | None:
    """The events of a protobuf request read one record at a time; None if its framing is broken."""
    # Read by lists of each level's fields: bounded first, whatever the body's size.
    check_wire_messages(body, whatever_its_size=True)
    events: list[Any] = []
    budget = ValueBudget()
    scopes = 0
    try:
        resources = _fields(body, 1)
        check_count(len(resources), "resourceLogs entries")
        for resource_logs in resources:
            resource_bytes = list(_fields(resource_logs, 1))
            source: dict[str, str] | None = {}
            resource_error = ""
            try:
                resource = Resource.FromString(resource_bytes[-1]) if resource_bytes else Resource()
                source = resource_source(resource.attributes, budget)
            except (DecodeError, RecursionError) as exc:
                source, resource_error = None, f"its resource is not valid protobuf: {exc}"
            for scope_logs in _fields(resource_logs, 2):
                scopes += 1
                check_count(scopes, "scopeLogs entries or more")
                records = _fields(scope_logs, 2)
                check_count(len(events) + len(records), "log records or more")
                events.extend(_salvaged_record(raw, source, resource_error, budget) for raw in records)
    except (DecodeError, RecursionError):
        return None
    return events


def _salvaged_record(
    raw: bytes, source: dict[str, str] | None, resource_error: str, budget: ValueBudget
) -> Any:
    if source is None:
        return Malformed(resource_error)
    try:
        return record_event(LogRecord.FromString(raw), source, budget)
    except (DecodeError, RecursionError) as exc:
        hint = "; OTLP strings must be UTF-8, send other data as bytesValue" if "UTF-8" in str(exc) else ""
        return Malformed(f"not a valid LogRecord: {exc}{hint}")


def _fields(message: bytes, number: int) -> list[bytes]:
    """The length-delimited values of field `number` in a serialized message, without decoding them."""
    shell = Empty()
    shell.ParseFromString(message)  # every field is unknown to `Empty`: kept as raw bytes, not checked
    fields = UnknownFieldSet(shell)
    found = (fields[i] for i in range(len(fields)))
    return [f.data for f in found if f.field_number == number and f.wire_type == _LENGTH_DELIMITED]


def _record_count(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


def _ids_to_base64(document: dict[str, Any]) -> dict[str, Any]:
    # OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64.
    for resource_logs in _list(document, "resourceLogs", "resource_logs"):
        for scope_logs in _list(resource_logs, "scopeLogs", "scope_logs"):
            for record in _list(scope_logs, "logRecords", "log_records"):
                for key in ("traceId", "trace_id", "spanId", "span_id"):
                    value = record.get(key)
                    if not isinstance(value, str):
                        continue
                    try:
                        record[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError:
                        del record[key]  # unreadable id: the record gets a fresh trace id
    return document


def _list(parent: Any, *keys: str) -> list[dict[str, Any]]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def encode_response(rejected: Sequence[Rejection], kind: str) -> tuple[bytes, str]:
    """The ExportLogsServiceResponse (with `partial_success` when records were rejected) and its type."""
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = len(rejected)
        response.partial_success.error_message = rejection_message(rejected)
    if kind == PROTOBUF:
        return response.SerializeToString(), PROTOBUF
    return json_format.MessageToJson(response, indent=None).encode(), JSON


def rejection_message(rejected: Sequence[Rejection]) -> str:
    """Rejected records and the attribute at fault, e.g. `record 0: mcp.server.name: Field required`."""
    parts = [
        f"record {r.index}: {FIELD_ATTRIBUTES.get(r.field, r.field)}: {r.message}"
        for r in rejected[:_MAX_REPORTED]
    ]
    more = len(rejected) - _MAX_REPORTED
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def request_events(request: ExportLogsServiceRequest) -> list[dict[str, Any]]:
    """One raw wire event per log record, in request order."""
    events: list[dict[str, Any]] = []
    budget = ValueBudget()
    for resource_logs in request.resource_logs:
        source = resource_source(resource_logs.resource.attributes, budget)
        for scope_logs in resource_logs.scope_logs:
            events.extend(record_event(record, source, budget) for record in scope_logs.log_records)
    return events


def resource_source(attributes: Sequence[KeyValue], budget: ValueBudget) -> dict[str, str]:
    """The event `source` a resource describes (`service.name`, `host.name`, `service.version`); `budget`:
    what the request's attributes and values may still cost."""
    budget.take(len(attributes))
    source: dict[str, str] = {}
    for attribute in attributes:
        field = RESOURCE_FIELDS.get(attribute.key)
        if field is not None:
            value = any_value(attribute.value, budget)
            if value is not None:
                source[field] = str(value)[: _SOURCE_LIMITS[field]]
    return source


def record_event(record: LogRecord, source: Mapping[str, str], budget: ValueBudget) -> dict[str, Any]:
    """The raw wire event of one log record (validated and redacted later, like any other event); `budget`:
    what the request's attributes and values may still cost."""
    budget.take(len(record.attributes))
    event: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    attrs: dict[str, Any] = {}
    attr_ranks: dict[str, int] = {}
    semconv: dict[str, Any] = {}
    for attribute in record.attributes:
        key = attribute.key
        value = any_value(attribute.value, budget)
        found = ATTRIBUTE_FIELDS.get(key)
        if found is not None:
            field, rank = found
            if rank < ranks.get(field, len(FIELD_NAMES[field])):  # the preferred name wins
                event[field], ranks[field] = _coerce(field, value), rank
        elif key in SEMCONV_ATTRS:
            semconv[key] = value if _scalar(value) else json.dumps(value)
        else:
            for rank, prefix in enumerate(ATTRS_PREFIXES):
                name = key[len(prefix) :]
                if key.startswith(prefix) and name and rank < attr_ranks.get(name, len(ATTRS_PREFIXES)):
                    attrs[name], attr_ranks[name] = (value if _scalar(value) else json.dumps(value)), rank
                    break
    _conventions(event, semconv, attrs)
    nanos = record.time_unix_nano or record.observed_time_unix_nano or time.time_ns()
    try:
        # Integer arithmetic: a float of nanoseconds since 1970 cannot hold the milliseconds exactly.
        moment = datetime.fromtimestamp(nanos // 10**9, UTC) + timedelta(microseconds=nanos % 10**9 // 1000)
        ts: str | None = format_ts(moment)
    except (OverflowError, OSError, ValueError):
        ts = None  # fails validation as "ts", naming the problem
    event["ts"] = ts
    event.setdefault("code", FALLBACK_CODE)
    event.setdefault("touchpoint", "lifecycle" if event["code"] in LIFECYCLE_CODES else "connect")
    if "severity" not in event and record.severity_number:
        event["severity"] = severity_from_number(record.severity_number).value
    trace_id = record.trace_id.hex() if len(record.trace_id) == 16 and any(record.trace_id) else None
    event["traceId"] = trace_id or new_trace_id()
    if len(record.span_id) == 8 and any(record.span_id):
        event["spanId"] = record.span_id.hex()
    if record.HasField("body"):
        body = any_value(record.body, budget)
        if body is not None:
            event["detail"] = body if isinstance(body, str) else json.dumps(body)
    if not event.get("id"):
        event["id"] = new_event_id(nanos // 1_000_000 if ts else None)
    if attrs:
        event["attrs"] = attrs
    if source:
        event["source"] = dict(source)
    return event


def _conventions(event: dict[str, Any], semconv: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Read the semantic-convention attributes into the fields they match; keep the rest in `attrs`."""
    error_type = semconv.get("error.type")
    if "code" not in event and isinstance(error_type, str):
        code = ERROR_TYPE_CODES.get(error_type, error_type if error_type in CATALOG else None)
        if code is not None:
            event["code"] = code
    if error_type is not None and error_type == event.get("code"):
        del semconv["error.type"]  # said already: it is the code
    method = semconv.get("mcp.method.name")
    if "touchpoint" not in event and isinstance(method, str) and method in METHOD_TOUCHPOINTS:
        event["touchpoint"] = METHOD_TOUCHPOINTS[method]
    network = semconv.get("network.transport")
    if "transport" not in event and network in _PIPE_TRANSPORTS:
        event["transport"] = _PIPE_TRANSPORTS[network]
    if event.get("transport") is not None and "network.transport" in semconv:
        del semconv["network.transport"]  # the transport says more
    address = semconv.get("server.address")
    if "server" not in event and isinstance(address, str) and address:
        event["server"] = address[:128]
    for key, value in semconv.items():
        attrs.setdefault(key, value)


def any_value(value: AnyValue, budget: ValueBudget) -> Any:
    """The Python value of an OTLP AnyValue (bytes as their text, arrays as lists, key-value lists as dicts).

    Bytes become the text they hold (UTF-8; a byte that is not reads `\\xNN`), so that redaction reads them:
    as hex, a token inside them would pass every rule.
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "bytes_value":
        return value.bytes_value.decode("utf-8", "backslashreplace")
    if kind == "array_value":
        budget.take(len(value.array_value.values))
        return [any_value(item, budget) for item in value.array_value.values]
    if kind == "kvlist_value":
        budget.take(len(value.kvlist_value.values))
        return {item.key: any_value(item.value, budget) for item in value.kvlist_value.values}
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)  # a double OTLP may carry and JSON cannot: kept as its text ("nan")
    return getattr(value, kind)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _coerce(field: str, value: Any) -> Any:
    # Some SDKs send every attribute as a string; read the obvious ones back as their wire type.
    if not isinstance(value, str):
        return value
    if field == "retryable" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    # str.isdigit() also holds for "²" and "٣": only ASCII digits, and no more than the field can hold.
    digits = _INTEGER_DIGITS.get(field)
    if digits is not None and value.isascii() and value.isdigit() and len(value) <= digits:
        return int(value)
    if field == "count" and value.isascii() and value.isdigit() and len(value) <= 10:
        return int(value)
    if field == "durationMs":
        try:
            return float(value)
        except ValueError:
            return value
    return value
