"""`/healthz` and `/readyz` as probes see them: readiness fails, naming the check, when the store does not
answer or the spool is full, and recovers with them; liveness stays up throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from mcpdiag.api import create_app
from mcpdiag.store import SQLiteEventStore
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import OutageStore, asgi_client, new_key, settings_for, wire_events


class WriteOutageStore(OutageStore):
    """Writes fail during the outage but the store still answers a ping (a primary stepping down)."""

    async def ping(self) -> None:
        await self.inner.ping()


async def _fill_the_spool(client: httpx.AsyncClient, key: str) -> None:
    for _ in range(50):
        response = await client.post(
            "/v1/events", json={"events": wire_events(1)}, headers={"x-api-key": key}
        )
        if response.status_code == 503 and response.json()["error"]["code"] == "spool_full":
            return
    raise AssertionError("the spool never filled up")


async def _wait_ready(client: httpx.AsyncClient, seconds: float = 10) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await client.get("/readyz")
        if response.status_code == 200 or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.05)


async def test_readyz_is_503_spool_full_while_the_spool_is_full_and_ready_once_it_drains(
    tmp_path: Path,
) -> None:
    store = WriteOutageStore(SQLiteEventStore(tmp_path / "given.db"))
    key = new_key()
    settings = settings_for(tmp_path, key, spool_max_mb=0.002, batch_interval_ms=5)
    app = create_app(api_settings(Tokens()), settings, store)
    async with asgi_client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        store.start_outage(60)
        await _fill_the_spool(client, key)

        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"]
        body = response.json()
        assert body["error"]["code"] == "spool_full" and "spool is full" in body["error"]["message"]
        assert app.state.collector.spool.size_bytes > 0
        assert body["error"]["checks"] == {"store": "ok", "spool": "full"}
        assert (await client.get("/healthz")).status_code == 200  # liveness must not restart the pod

        store.outage_until = 0
        recovered = await _wait_ready(client)
        assert recovered.status_code == 200, recovered.json()
    await store.inner.close()


async def test_readyz_names_both_checks_when_the_store_is_down_and_the_spool_full(tmp_path: Path) -> None:
    store = OutageStore(SQLiteEventStore(tmp_path / "given.db"))
    key = new_key()
    app = create_app(api_settings(Tokens()), settings_for(tmp_path, key, spool_max_mb=0.002), store)
    async with asgi_client(app) as client:
        store.start_outage(60)
        await _fill_the_spool(client, key)
        body = (await client.get("/readyz")).json()
        assert body["error"]["code"] == "store_unavailable"
        assert "does not answer" in body["error"]["message"] and "spool is full" in body["error"]["message"]
        assert body["error"]["checks"] == {"store": "unavailable", "spool": "full"}
        store.outage_until = 0
    await store.inner.close()


async def test_readyz_is_503_store_unavailable_once_the_store_is_closed(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "given.db")
    app = create_app(api_settings(Tokens()), collector_settings(tmp_path), store)
    async with asgi_client(app) as client:
        assert (await client.get("/readyz")).json() == {"status": "ready", "store": "SQLiteEventStore"}
        await store.close()
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {
            "error": {
                "code": "store_unavailable",
                "message": "the event store (SQLiteEventStore) does not answer",
                "checks": {"store": "unavailable", "spool": "ok"},
            }
        }
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_the_readiness_failure_is_documented(tmp_path: Path) -> None:
    app = create_app(api_settings(Tokens()), collector_settings(tmp_path))
    async with asgi_client(app) as client:
        schema = (await client.get("/openapi.json")).json()
    failure = schema["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]
    assert failure["$ref"].endswith("/NotReady")
    assert set(schema["components"]["schemas"]["NotReady"]["properties"]) == {"error"}
    detail = schema["components"]["schemas"]["NotReadyDetail"]["properties"]
    assert {"code", "message", "checks"} <= set(detail)
