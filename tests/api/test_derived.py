"""The API's event model is derived from the wire contract: `/docs` shows `DiagnosticEvent` as declared."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, Field, TypeAdapter

from mcpdiag.api.derived import output_type
from mcpdiag.api.models import EventOut
from mcpdiag.emitters import DiagnosticEvent, Severity, Touchpoint, Transport
from mcpdiag.emitters.event import Source
from mcpdiag.store.base import utc_now
from tests.api.conftest import Api
from tests.api.support import seed
from tests.factories import make_event


def _keys(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    """(required, optional) wire names of `model`'s fields."""
    names = {info.alias or name: info.is_required() for name, info in model.model_fields.items()}
    return {k for k, req in names.items() if req}, {k for k, req in names.items() if not req}


def test_event_out_has_every_field_of_the_contract_under_its_wire_name() -> None:
    assert (set(EventOut.__required_keys__), set(EventOut.__optional_keys__)) == _keys(DiagnosticEvent)
    source_out = get_type_hints(EventOut)["source"]
    assert (set(source_out.__required_keys__), set(source_out.__optional_keys__)) == _keys(Source)


def _schema(kind: Any) -> dict[str, Any]:
    return TypeAdapter(kind).json_schema(mode="validation")


def test_event_out_documents_exactly_the_contracts_schema() -> None:
    """Property by property the schema is the contract's (enums, patterns, lengths, ranges, date-times,
    defaults), but for the API's word on `detail` and the nested type's name."""
    contract = DiagnosticEvent.model_json_schema(mode="validation")
    derived = _schema(EventOut)
    assert derived["required"] == contract["required"]
    for name, schema in contract["properties"].items():
        got = dict(derived["properties"][name])
        if name == "detail":
            assert "absent for plain users" in got.pop("description")
        if name == "source":
            assert got == {"$ref": "#/$defs/SourceOut"}
            continue
        assert got == schema, name
    assert derived["$defs"]["SourceOut"]["properties"] == contract["$defs"]["Source"]["properties"]
    for enum in ("Touchpoint", "Severity", "Transport"):
        assert derived["$defs"][enum] == contract["$defs"][enum]


def test_a_field_added_to_the_contract_reaches_the_response_type() -> None:
    """What fails when a new contract field would not be carried through to the API's answers."""

    class Extended(DiagnosticEvent):
        region: Annotated[str, Field(max_length=8)] | None = None
        level: Severity = Severity.INFO

    derived = output_type(Extended, name="ExtendedOut", doc="x")
    assert (set(derived.__required_keys__), set(derived.__optional_keys__)) == _keys(Extended)
    props = _schema(derived)["properties"]
    assert props["region"]["anyOf"][0] == {"maxLength": 8, "type": "string"}
    assert props["level"]["$ref"].endswith("/Severity") and props["level"]["default"] == "info"
    event = make_event().to_wire() | {"region": "eu-1", "level": "debug"}
    assert TypeAdapter(derived).dump_python(TypeAdapter(derived).validate_python(event), mode="json") == event


def test_absent_keys_stay_absent_and_unknown_ones_are_left_out() -> None:
    """No default is filled in (a plain user's `detail`, an old document's `count`); extra keys go."""
    stored = make_event().to_wire()
    for key in ("detail", "count", "firstTs", "lastTs", "source"):
        del stored[key]
    adapter = TypeAdapter(EventOut)
    assert adapter.dump_python(adapter.validate_python({**stored, "legacyField": 1}), mode="json") == stored


async def test_openapi_shows_the_enums_and_the_occurrence_fields(api: Api) -> None:
    schemas = (await api.client.get("/openapi.json")).json()["components"]["schemas"]
    event = schemas["EventOut"]["properties"]
    assert set(event) == {info.alias for info in DiagnosticEvent.model_fields.values()}
    assert event["touchpoint"] == {"$ref": "#/components/schemas/Touchpoint"}
    assert event["severity"] == {"$ref": "#/components/schemas/Severity"}
    assert {"$ref": "#/components/schemas/Transport"} in event["transport"]["anyOf"]
    assert schemas["Touchpoint"]["enum"] == [t.value for t in Touchpoint]
    assert schemas["Severity"]["enum"] == [s.value for s in Severity]
    assert schemas["Transport"]["enum"] == [t.value for t in Transport]
    assert event["count"]["minimum"] == 1 and event["count"]["default"] == 1
    assert {"format": "date-time", "type": "string"} in event["firstTs"]["anyOf"]
    assert event["ts"]["format"] == "date-time"


async def test_answers_carry_the_stored_event_as_stored_without_detail_for_users(api: Api) -> None:
    """count/firstTs/lastTs come back; ts stays the stored text; a plain user never gets `detail`."""
    now = utc_now()
    stored = make_event(
        user_id="ursula",
        ts=now - timedelta(seconds=5),
        count=7,
        first_ts=now - timedelta(minutes=3),
        last_ts=now - timedelta(seconds=5),
        transport="streamable-http",
        duration_ms=12,
    )
    await seed(api.store, [stored])
    for headers, with_detail in ((api.as_user("ursula"), False), (api.support, True)):
        body = (await api.client.get("/api/mcp/github/diagnostics", headers=headers)).json()
        (item,) = body["items"]
        expected = stored.to_wire()
        if not with_detail:
            del expected["detail"]
        assert item == expected
        summary = (await api.client.get("/api/mcp/github/summary", headers=headers)).json()
        assert summary["lastError"] == expected


async def test_unknown_keys_in_a_stored_document_are_left_out_of_answers(api: Api) -> None:
    """A document written by another version (an extra key at the top or in `source`) still reads."""
    await seed(api.store, [make_event(user_id="ursula", ts=utc_now() - timedelta(seconds=1))])
    with sqlite3.connect(api.store.path) as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE events SET doc = json_set(doc, '$.legacyField', 1, '$.source.region', 'eu')")
    response = await api.client.get("/api/mcp/github/diagnostics", headers=api.as_user("ursula"))
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    assert "legacyField" not in item and "region" not in item["source"]
    assert json.dumps(item)  # a plain JSON answer
