"""The standalone collector app: metrics, health, request ids in answers and logs, the purge timer."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from mcpdiag.collector import create_collector_app
from mcpdiag.collector.logging import request_id_of
from mcpdiag.emitters import DiagnosticEvent, format_ts
from mcpdiag.store import SQLiteEventStore, utc_now
from tests.collector.support import asgi_client, new_key, settings_for, stored_ids, wire_events
from tests.waiting import eventually


async def test_metrics_count_accepted_and_rejected_events_and_show_pipeline_gauges(tmp_path: Path) -> None:
    key = new_key()
    async with asgi_client(create_collector_app(settings_for(tmp_path, key)), key) as client:
        events = [*wire_events(3), {"id": "broken"}]
        assert (await client.post("/v1/events", json={"events": events})).status_code == 202
        await client.post("/v1/events", json={"events": wire_events(1001)})
        text = (await client.get("/metrics")).text
    assert 'mcpdiag_events_accepted_total{endpoint="events"} 3.0' in text
    assert 'mcpdiag_events_rejected_total{endpoint="events"} 1.0' in text
    assert 'mcpdiag_ingest_requests_refused_total{code="too_many_events"} 1.0' in text
    assert "mcpdiag_batch_write_seconds_count 1.0" in text
    for gauge in ("mcpdiag_queue_depth", "mcpdiag_spool_bytes", "mcpdiag_spool_batches"):
        assert f"{gauge} 0.0" in text


async def test_two_apps_in_one_process_keep_their_own_metrics(tmp_path: Path) -> None:
    first = create_collector_app(settings_for(tmp_path / "a", "k1" * 8))
    second = create_collector_app(settings_for(tmp_path / "b", "k2" * 8))
    assert first.state.collector.metrics.registry is not second.state.collector.metrics.registry


async def test_healthz_reports_the_pipeline(tmp_path: Path) -> None:
    key = new_key()
    async with asgi_client(create_collector_app(settings_for(tmp_path, key)), key) as client:
        body = (await client.get("/healthz")).json()
    assert body == {"status": "ok", "queueDepth": 0, "storeHealthy": True, "spoolBatches": 0, "spoolBytes": 0}


async def test_a_valid_request_id_is_echoed_and_logged_and_a_bad_one_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_key()
    async with asgi_client(create_collector_app(settings_for(tmp_path, key)), key) as client:
        capsys.readouterr()
        response = await client.post(
            "/v1/events", json={"events": wire_events(1)}, headers={"x-request-id": "req-42.abc"}
        )
        assert response.headers["x-request-id"] == "req-42.abc"
        bad = await client.get("/healthz", headers={"x-request-id": "bad id\twith spaces" + "x" * 200})
        assert bad.headers["x-request-id"] != "" and " " not in bad.headers["x-request-id"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    ingested = [line for line in lines if line.get("event") == "events ingested"]
    assert ingested and ingested[0]["request_id"] == "req-42.abc"


def test_request_ids_are_bounded_and_safe() -> None:
    assert request_id_of("a" * 128) == "a" * 128
    assert request_id_of("a" * 129) != "a" * 129
    assert request_id_of("x\ny") != "x\ny"
    assert len(request_id_of(None)) == 32


async def test_the_sqlite_store_is_purged_on_a_timer(tmp_path: Path) -> None:
    """Events past retention are refused at ingest (they would expire on arrival); ones that aged in the
    store are purged by the timer."""
    key = new_key()
    settings = settings_for(tmp_path, key, purge_interval_s=0.1, retention_days=1)
    store = SQLiteEventStore(tmp_path / "events.db", retention=settings.retention)
    async with asgi_client(create_collector_app(settings, store), key) as client:
        old = wire_events(2)
        for event in old:
            event["ts"] = format_ts(utc_now() - timedelta(days=2))
            event["code"] = "MCP_CONNECTED"
            event["severity"] = "info"
        fresh = wire_events(1)
        answer = (await client.post("/v1/events", json={"events": old + fresh})).json()
        assert answer["accepted"] == 1
        assert [(r["index"], r["field"]) for r in answer["rejected"]] == [(0, "ts"), (1, "ts")]
        assert "retention (1 days)" in answer["rejected"][0]["message"]
        await store.append([DiagnosticEvent.model_validate(event) for event in old])

        async def stored() -> bool:
            return len(stored_ids(tmp_path / "events.db")) == 1

        await eventually(stored, "the fresh event is stored")
    assert stored_ids(tmp_path / "events.db") == [fresh[0]["id"]]
