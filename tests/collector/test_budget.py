"""Distinct server names are bounded per ingest key and in all: a key that invents names gets the new ones
refused by index (field `server`), the rest of its batch kept, names already stored always accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcpdiag.collector import create_collector_app
from tests.collector.support import asgi_client, new_key, settings_for, stored_ids, wire_events


def named(*servers: str) -> list[dict[str, Any]]:
    events = wire_events(len(servers))
    for event, server in zip(events, servers, strict=True):
        event["server"] = server
    return events


async def test_a_key_inventing_server_names_is_refused_past_its_budget(tmp_path: Path) -> None:
    first, second = new_key(), new_key()
    settings = settings_for(tmp_path, first, max_servers_per_key=3, max_servers=5)
    settings = settings.model_copy(update={"ingest_keys": frozenset({first, second})})
    app = create_collector_app(settings)
    async with asgi_client(app) as client:
        batch = named("a", "b", "a", "c", "d", "e", "b")
        answer = (
            await client.post("/v1/events", json={"events": batch}, headers={"x-api-key": first})
        ).json()
        assert answer["accepted"] == 5  # a, b, a, c, b
        assert [(r["index"], r["field"]) for r in answer["rejected"]] == [(4, "server"), (5, "server")]
        assert "MCPDIAG_MAX_SERVERS_PER_KEY" in answer["rejected"][0]["message"]
        # Known names stay open to the same key; another key has its own budget, up to the total.
        again = await client.post(
            "/v1/events", json={"events": named("a", "c")}, headers={"x-api-key": first}
        )
        assert again.json()["accepted"] == 2
        other = (
            await client.post(
                "/v1/events", json={"events": named("x", "y", "z")}, headers={"x-api-key": second}
            )
        ).json()
        assert other["accepted"] == 2
        assert [(r["index"], r["field"]) for r in other["rejected"]] == [(2, "server")]
        assert "MCPDIAG_MAX_SERVERS" in other["rejected"][0]["message"]
    assert len(stored_ids(tmp_path / "events.db")) == 9


async def test_names_in_the_store_count_towards_the_total_after_a_restart(tmp_path: Path) -> None:
    key = new_key()
    settings = settings_for(tmp_path, key, max_servers_per_key=10, max_servers=3)
    async with asgi_client(create_collector_app(settings), key) as client:
        assert (await client.post("/v1/events", json={"events": named("a", "b", "c")})).json()[
            "accepted"
        ] == 3
    async with asgi_client(create_collector_app(settings), key) as client:
        answer = (await client.post("/v1/events", json={"events": named("c", "d")})).json()
        assert answer["accepted"] == 1 and answer["rejected"][0]["index"] == 1


async def test_otlp_records_share_the_same_budget(tmp_path: Path) -> None:
    key = new_key()
    settings = settings_for(tmp_path, key, max_servers_per_key=1, max_servers=100)

    def record(server: str) -> dict[str, Any]:
        return {"attributes": [{"key": "mcp.server.name", "value": {"stringValue": server}}]}

    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record("one"), record("two")]}]}]}
    async with asgi_client(create_collector_app(settings), key) as client:
        response = await client.post("/v1/logs", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["partialSuccess"]["rejectedLogRecords"] in (1, "1")
