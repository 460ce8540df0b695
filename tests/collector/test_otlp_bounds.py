"""`/v1/logs` refuses structure out of proportion to its size before decoding it, and never answers 500.

Found by an adversarial pass: 8 KB of gzip holding 2.8 million empty `resourceLogs` took 12.7 s and
350 MB to decode, and stalled every other request behind it; a record of two million empty attributes
cost 7.6 s; `severityNumber: 1e400` answered 500 with a traceback in the log. Every shape of the class
(empty containers at each level, attributes, array and key-value list values, nesting, unknown fields) is
sent in both encodings where it can be written; the checks run before the costly step (asserted by making
that step fail), not by timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from mcpdiag.collector import create_collector_app
from mcpdiag.collector.otlp_bounds import MAX_FIELDS, MAX_MESSAGES, MAX_VALUES, WALK_ABOVE
from tests.collector.support import asgi_client, new_key, settings_for

MANY = MAX_MESSAGES + 50_000
"""JSON objects: past the bound."""
JSON_HEADERS = {"content-type": "application/json"}
PROTOBUF_HEADERS = {"content-type": "application/x-protobuf"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    key = new_key()
    app = create_collector_app(settings_for(tmp_path, key))
    async with asgi_client(app, key) as client:
        yield client


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _wire(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _in_record(record: bytes) -> bytes:
    return _wire(1, _wire(2, _wire(2, record)))


# Protobuf bodies: request.resource_logs (1) → scope_logs (2) → log_records (2) → attributes (6) →
# KeyValue.value (2) → AnyValue.array_value (5) / kvlist_value (6) → values (1).
PROTOBUF_SHAPES: dict[str, Callable[[int], bytes]] = {
    "empty resourceLogs": lambda n: _wire(1, b"") * n,
    "empty scopeLogs": lambda n: _wire(1, _wire(2, b"") * n),
    "empty logRecords": lambda n: _wire(1, _wire(2, _wire(2, b"") * n)),
    "empty attributes of one record": lambda n: _in_record(_wire(6, b"") * n),
    "an array of empty values": lambda n: _in_record(_wire(6, _wire(2, _wire(5, _wire(1, b"") * n)))),
    "a key-value list of empty entries": lambda n: _in_record(
        _wire(6, _wire(2, _wire(6, _wire(1, b"") * n)))
    ),
    "nested resource, scope, record, attribute": lambda n: _in_record(_wire(6, b"")) * (n // 4),
    "resource attributes": lambda n: _wire(1, _wire(1, _wire(1, b"") * n)),
    "unknown fields": lambda n: b"\x78\x00" * (2 * n),
}


def _json_shapes() -> dict[str, dict[str, Any]]:
    empty: list[dict[str, Any]] = [{} for _ in range(MANY)]
    record = {"attributes": [{"key": "x", "value": {}}]}
    return {
        "empty resourceLogs": {"resourceLogs": empty},
        "empty scopeLogs": {"resourceLogs": [{"scopeLogs": empty}]},
        "empty logRecords": {"resourceLogs": [{"scopeLogs": [{"logRecords": empty}]}]},
        "empty attributes of one record": {
            "resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": empty}]}]}]
        },
        "an array of empty values": {
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {"attributes": [{"key": "x", "value": {"arrayValue": {"values": empty}}}]}
                            ]
                        }
                    ]
                }
            ]
        },
        "nested resource, scope, record, attribute": {
            "resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]} for _ in range(MANY // 6)]
        },
    }


@pytest.mark.parametrize(
    ("shape", "size"),
    [(shape, "large") for shape in sorted(PROTOBUF_SHAPES)]
    # Unknown fields decode to no message: only the walk of a large body has them to count.
    + [(shape, "small") for shape in sorted(PROTOBUF_SHAPES) if shape != "unknown fields"],
)
async def test_protobuf_of_too_many_messages_is_refused_413(
    client: httpx.AsyncClient, shape: str, size: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to `WALK_ABOVE` bytes the body is decoded and its messages counted as they are read; above, it is
    refused before it is decoded at all."""
    if size == "small":
        # Past MAX_VALUES values, or MAX_EVENTS resources, scopes or records, in every shape.
        body = PROTOBUF_SHAPES[shape](MAX_VALUES + MAX_VALUES // 3)
        assert len(body) <= WALK_ABOVE
    else:
        body = PROTOBUF_SHAPES[shape](max(MAX_MESSAGES, MAX_FIELDS // 2, WALK_ABOVE // 2) + 50_000)
        assert len(body) > WALK_ABOVE

        def never(self: Any, data: bytes) -> None:
            raise AssertionError("decoded before it was refused")

        monkeypatch.setattr(ExportLogsServiceRequest, "ParseFromString", never)
    response = await client.post("/v1/logs", content=body, headers=PROTOBUF_HEADERS)
    assert response.status_code == 413, (len(body), response.text[:300])
    assert response.json()["error"]["code"] == "too_many_events"


@pytest.mark.parametrize("shape", sorted(_json_shapes()))
async def test_otlp_json_of_too_many_objects_is_refused_413_before_protobuf_parses_it(
    client: httpx.AsyncClient, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("protobuf's JSON parser ran before the request was refused")

    monkeypatch.setattr(json_format, "ParseDict", never)
    response = await client.post("/v1/logs", json=_json_shapes()[shape])
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "too_many_events"


def _ordinary(records: int, attributes: int) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource = request.resource_logs.add()
    resource.resource.attributes.add(key="service.name").value.string_value = "chat-host"
    scope = resource.scope_logs.add()
    for i in range(records):
        record = scope.log_records.add()
        record.body.string_value = f"httpx.ReadTimeout after 30 s ({i}) " + "x" * 900
        record.attributes.add(key="mcp.server.name").value.string_value = "bounded"
        for j in range(attributes):
            record.attributes.add(key=f"app.attr{j}").value.string_value = "v" * 20
    return request


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_a_full_request_of_ordinary_records_is_accepted(
    client: httpx.AsyncClient, encoding: str
) -> None:
    """A thousand records of twenty attributes, over `WALK_ABOVE` bytes in protobuf: nothing refused."""
    from mcpdiag.collector import MAX_EVENTS

    request = _ordinary(MAX_EVENTS, 19)
    if encoding == "protobuf":
        body = request.SerializeToString()
        assert len(body) > WALK_ABOVE
        response = await client.post("/v1/logs", content=body, headers=PROTOBUF_HEADERS)
    else:
        response = await client.post("/v1/logs", json=json_format.MessageToDict(request))
    assert response.status_code == 200, response.text[:300]


NUMERIC_FIELDS = ["severityNumber", "timeUnixNano", "observedTimeUnixNano", "flags", "droppedAttributesCount"]


@pytest.mark.parametrize(
    "value", ["1e400", "-1e400", "1e308", "-1", "1e20", "123456789012345678901234567890"]
)
@pytest.mark.parametrize("field", [*NUMERIC_FIELDS, "intValue", "doubleValue"])
async def test_extreme_numbers_anywhere_are_a_4xx_or_stored_never_a_500(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    server = '{"key": "mcp.server.name", "value": {"stringValue": "n"}}'
    if field in NUMERIC_FIELDS:
        record = f'{{"{field}": {value}, "attributes": [{server}]}}'
    else:
        record = f'{{"attributes": [{server}, {{"key": "app.n", "value": {{"{field}": {value}}}}}]}}'
    body = f'{{"resourceLogs": [{{"scopeLogs": [{{"logRecords": [{record}]}}]}}]}}'
    response = await client.post("/v1/logs", content=body.encode(), headers=JSON_HEADERS)
    assert response.status_code in (200, 400), response.text[:300]
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["code"] in ("invalid_body", "invalid_json"), error
        assert value not in error["message"]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("value_chars", [2, 20, 60])
async def test_records_at_opentelemetrys_attribute_limit_are_accepted_whatever_their_size(
    client: httpx.AsyncClient, encoding: str, value_chars: int
) -> None:
    """Found by a review: the walk counted two messages an attribute and the decoded budget one, so the same
    records were accepted at 835 KB and refused at 1.06 MB. 512 records (the OpenTelemetry SDK's batch) of
    128 attributes (its default limit), below and above `WALK_ABOVE`: all accepted."""
    request = _ordinary(512, 127)
    for record in request.resource_logs[0].scope_logs[0].log_records:
        for attribute in record.attributes[1:]:
            attribute.value.string_value = "v" * value_chars
    if encoding == "protobuf":
        response = await client.post(
            "/v1/logs", content=request.SerializeToString(), headers=PROTOBUF_HEADERS
        )
    else:
        response = await client.post("/v1/logs", json=json_format.MessageToDict(request))
    assert response.status_code == 200, response.text[:300]


def _group_prefixed(message: bytes) -> bytes:
    """`message` after an empty group of an unknown field (start and end tags): the decoder skips it."""
    return _varint(99 << 3 | 3) + _varint(99 << 3 | 4) + message


@pytest.mark.parametrize("where", ["at the top", "inside a resource"])
async def test_a_group_cannot_turn_the_walk_off(
    client: httpx.AsyncClient, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a review: the walk stopped at a group (not proto3) and left the rest to the decoder, which
    skips an unknown group and read on: 4 million empty resourceLogs behind two bytes were decoded (331 MB).
    A body the walk cannot follow is refused before decoding."""
    count = max(MAX_MESSAGES, WALK_ABOVE // 2) + 50_000  # a body the walk reads (over WALK_ABOVE)
    if where == "at the top":
        body = _group_prefixed(_wire(1, b"") * count)
    else:
        body = _wire(1, _group_prefixed(_wire(2, b"") * count))

    def never(self: Any, data: bytes) -> None:
        raise AssertionError("decoded before it was refused")

    monkeypatch.setattr(ExportLogsServiceRequest, "ParseFromString", never)
    response = await client.post("/v1/logs", content=body, headers=PROTOBUF_HEADERS)
    assert response.status_code in (400, 413), response.text[:300]


@pytest.mark.parametrize("shape", ["empty scopeLogs", "empty logRecords", "empty attributes of one record"])
async def test_a_body_read_record_by_record_is_bounded_first_whatever_its_size(
    client: httpx.AsyncClient, shape: str
) -> None:
    """Found by a review: a body under `WALK_ABOVE` with one string that is not UTF-8 is read record by
    record, listing every field of each level before counting them (500,000 scopes in 1 MB: 1 s, 148 MB)."""
    body = PROTOBUF_SHAPES[shape](MAX_MESSAGES + 50_000) + _wire(1, _wire(1, _wire(1, _wire(1, b"\xff"))))
    assert len(body) <= WALK_ABOVE
    response = await client.post("/v1/logs", content=body, headers=PROTOBUF_HEADERS)
    assert response.status_code == 413, response.text[:300]
