"""Values at the edges of their types — the first and last instants a datetime can hold, offsets that push
them over, integers past 64 bits or past Python's digit limit, non-ASCII digits, infinities — get a 4xx
naming the field from every endpoint that takes them, never a 500, and the rest of a batch is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcpdiag.emitters import format_ts
from mcpdiag.store import utc_now
from tests.api.conftest import Api
from tests.factories import make_event

EDGE_INSTANTS = [
    "0001-01-01T00:00:00+14:00",  # converting to UTC leaves year 1
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",  # converting to UTC passes year 9999
    "9999-12-31T23:59:59.999Z",
    "1969-12-31T23:59:59Z",  # before the epoch
    "2026-02-30T00:00:00Z",  # no such day
    "+002026-01-01T00:00:00Z",
    "2026-01-01T00:00:00+99:00",
    "\u0662\u0660\u0662\u0666-01-01T00:00:00Z",  # Arabic-Indic digits
]
EDGE_NUMBERS: list[Any] = [10**20, -(10**20), 2**63, 1e308, -1, "²", "1" * 5000, True, [], {}]


def wire(**over: Any) -> dict[str, Any]:
    event = make_event(ts=utc_now()).to_wire()
    event.update(over)
    return event


async def post_events(api: Api, events: list[dict[str, Any]]) -> Any:
    return await api.client.post("/v1/events", json={"events": events}, headers={"x-api-key": api.ingest_key})


@pytest.mark.parametrize("ts", EDGE_INSTANTS)
async def test_ingest_refuses_an_edge_timestamp_by_index_and_keeps_the_rest(api: Api, ts: str) -> None:
    good = wire()
    response = await post_events(api, [good, wire(ts=ts)])
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "ts")]
    listed = await api.client.get("/api/mcp/github/diagnostics", headers=api.admin)
    assert [item["id"] for item in listed.json()["items"]] == [good["id"]]


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f in ("httpStatus", "durationMs") for v in EDGE_NUMBERS]
)
async def test_ingest_refuses_edge_numbers_by_index(api: Api, field: str, value: Any) -> None:
    response = await post_events(api, [wire(), wire(**{field: value})])
    assert response.status_code == 202, response.text
    body = response.json()
    if body["accepted"] == 2:  # in range for the field: stored and listed back as it was sent
        listed = await api.client.get("/api/mcp/github/diagnostics", headers=api.admin)
        assert {item[field] for item in listed.json()["items"]} >= {value}
    else:
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, field)]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_ingest_refuses_non_finite_numbers(api: Api, literal: str) -> None:
    """JSON has no infinities; Python's parser takes them unless told not to."""
    event = json.dumps(wire()).replace('"durationMs": null', f'"durationMs": {literal}')
    assert literal in event
    response = await api.client.post(
        "/v1/events",
        content=f'{{"events": [{event}]}}',
        headers={"x-api-key": api.ingest_key, "content-type": "application/json"},
    )
    assert response.status_code in (202, 400), response.text
    if response.status_code == 202:
        assert response.json()["rejected"][0]["field"] == "durationMs"


@pytest.mark.parametrize("value", [*EDGE_NUMBERS, "4O4", " 404 ", "404.0", 404.5])
async def test_otlp_status_codes_at_the_edges_never_break_a_record(api: Api, value: Any) -> None:
    attribute: dict[str, Any] = {"key": "http.response.status_code"}
    if isinstance(value, bool):
        attribute["value"] = {"boolValue": value}
    elif isinstance(value, int):
        attribute["value"] = {"intValue": str(value)}
    elif isinstance(value, float):
        attribute["value"] = {"doubleValue": value}
    elif isinstance(value, str):
        attribute["value"] = {"stringValue": value}
    else:
        attribute["value"] = (
            {"arrayValue": {"values": []}} if isinstance(value, list) else {"kvlistValue": {}}
        )
    record = {
        "timeUnixNano": str(utc_now().timestamp() * 1e9).split(".")[0],
        "severityNumber": 17,
        "body": {"stringValue": "upstream failed"},
        "attributes": [{"key": "mcp.server.name", "value": {"stringValue": "github"}}, attribute],
    }
    response = await api.client.post(
        "/v1/logs",
        json={"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]},
        headers={"x-api-key": api.ingest_key},
    )
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize("nanos", ["0", "1", str(2**64 - 1), str(2**63), "99999999999999999999999", "-5"])
async def test_otlp_times_at_the_edges_are_refused_or_kept(api: Api, nanos: str) -> None:
    record = {
        "timeUnixNano": nanos,
        "observedTimeUnixNano": nanos,
        "attributes": [{"key": "mcp.server.name", "value": {"stringValue": "github"}}],
    }
    response = await api.client.post(
        "/v1/logs",
        json={"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]},
        headers={"x-api-key": api.ingest_key},
    )
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        *[({"from": ts}, "from") for ts in EDGE_INSTANTS],
        *[({"to": ts}, "to") for ts in EDGE_INSTANTS],
        ({"since": "999999w"}, "since"),
        ({"since": "99999999999999999999d"}, "since"),
        ({"since": "\u0663h"}, "since"),  # an Arabic-Indic 3
    ],
)
async def test_bundle_windows_at_the_edges_are_400s(api: Api, params: dict[str, str], field: str) -> None:
    response = await api.client.get("/api/admin/bundle", params=params, headers=api.admin)
    if response.status_code == 200:  # an instant that is in range is simply a window
        assert params.get("from", params.get("to", "")).startswith(("0001", "1969", "9999"))
        return
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize("ts", EDGE_INSTANTS)
@pytest.mark.parametrize("name", ["from", "to"])
async def test_diagnostics_windows_at_the_edges_are_400s_or_answers(api: Api, ts: str, name: str) -> None:
    response = await api.client.get("/api/mcp/github/diagnostics", params={name: ts}, headers=api.admin)
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code == 400:
        assert response.json()["error"]["message"].startswith(f"{name}:")


async def test_a_window_of_the_whole_calendar_is_an_answer(api: Api) -> None:
    first, last = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"
    await post_events(api, [wire()])
    response = await api.client.get(
        "/api/mcp/github/diagnostics", params={"from": first, "to": last}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    bundle = await api.client.get("/api/admin/bundle", params={"from": first, "to": last}, headers=api.admin)
    assert bundle.status_code in (200, 400), bundle.text
    assert format_ts(utc_now())


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e999", "-1e400"])
async def test_a_non_finite_attribute_is_refused_by_index_never_stored_as_null(
    api: Api, literal: str
) -> None:
    """An attribute JSON cannot hold (a store would write null: the value lost after a 202) is refused
    with its field named, and the other events of the request are kept."""
    good, bad = wire(), wire(attrs={"ratio": 0.5, "n": "__N__"})
    body = json.dumps({"events": [good, bad]}).replace('"__N__"', literal)
    response = await api.client.post(
        "/v1/events", content=body, headers={"x-api-key": api.ingest_key, "content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 1, answer
    [rejected] = answer["rejected"]
    assert rejected["index"] == 1 and rejected["field"].startswith("attrs"), rejected
    assert "finite" in rejected["message"]
    listed = await api.client.get("/api/mcp/github/diagnostics", headers=api.admin)
    assert [item["id"] for item in listed.json()["items"]] == [good["id"]]
