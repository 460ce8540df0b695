"""The service has one "now", the clock `create_app` is handed: retention, ingest and bundles all read it."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

from mcpdiag.api import create_app
from mcpdiag.emitters import format_ts
from mcpdiag.store.base import utc_now
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import asgi_client, new_key
from tests.factories import FakeClock, make_event


async def test_an_app_on_a_clock_a_year_away_keeps_serving_its_own_now(tmp_path: Path) -> None:
    """Events made at the clock's "now" are ingested, listed, counted and bundled; the wall clock's
    "now" is a year in the future for this app, so ingest refuses it — nothing reads the real date."""
    clock = FakeClock(utc_now() - timedelta(days=400))
    tokens, key = Tokens(), new_key()
    app = create_app(api_settings(tokens, None, tmp_path), collector_settings(tmp_path, key), clock=clock)
    fresh = make_event(ts=clock.now - timedelta(minutes=5), severity="warning")
    from_wall = make_event(ts=utc_now() - timedelta(minutes=5))
    async with asgi_client(app, key) as client:
        body = [fresh.to_wire(), from_wall.to_wire()]
        response = await client.post("/v1/events", json={"events": body})
        assert response.status_code == 202, response.text
        assert [r["index"] for r in response.json()["rejected"]] == [1]
        # A warning keeps 7 days: on the wall clock it expired long ago, on the app's clock it is fresh.
        await app.state.store.purge_expired()
        admin = tokens.header(tokens.mint("ada", roles=["admin"]))
        listed = await client.get("/api/mcp/github/diagnostics", headers=admin)
        assert [item["id"] for item in listed.json()["items"]] == [fresh.id]
        summary = await client.get("/api/mcp/github/summary", headers=admin)
        assert summary.json()["total"] == 1
        bundle = await client.get("/api/admin/bundle", headers=admin)
        assert bundle.status_code == 200, bundle.text
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
            manifest = json.loads(zf.read("MANIFEST.json"))
        assert manifest["counts"]["events"] == 1
        assert manifest["scope"]["to"] == format_ts(clock.now)
        clock.advance(days=8)  # now the warning is past its retention on the app's clock too
        assert await app.state.store.purge_expired() == 1
