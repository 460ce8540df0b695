"""The app as a whole: store ownership, ingest mounted, health, request ids, ACL files, the public surface."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mcpdiag.api
from mcpdiag.api import AccessPolicy, AclFileError, Principal, Role, create_app
from mcpdiag.store import SQLiteEventStore
from mcpdiag.store.base import utc_now
from tests.api.conftest import Api
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import OutageStore, asgi_client, wire_events
from tests.waiting import eventually


async def test_ingested_events_are_queryable_through_the_same_app(api: Api) -> None:
    events = wire_events(3, server="github", user_id="ursula")
    response = await api.client.post(
        "/v1/events", json={"events": events}, headers={"x-api-key": api.ingest_key}
    )
    assert response.status_code == 202 and response.json()["accepted"] == 3

    async def stored() -> dict[str, Any] | None:
        page = (await api.client.get("/api/mcp/github/diagnostics", headers=api.as_user())).json()
        return page if len(page["items"]) == 3 else None

    page = await eventually(stored, "the three events are stored", interval=0.02)
    assert {i["id"] for i in page["items"]} == {e["id"] for e in events}
    assert (await api.client.post("/v1/events", json={"events": events})).status_code == 401
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200 and "mcpdiag_events_accepted" in metrics.text


async def test_health_readiness_and_request_ids(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz", headers={"X-Request-ID": "probe-42"})
    assert ready.json() == {"status": "ready", "store": "SQLiteEventStore"}
    assert ready.headers["x-request-id"] == "probe-42"
    generated = await api.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_readyz_is_503_while_the_store_is_down_and_a_given_store_stays_open(tmp_path: Path) -> None:
    inner = SQLiteEventStore(tmp_path / "given.db")
    store = OutageStore(inner)
    tokens = Tokens()
    app = create_app(api_settings(tokens), collector_settings(tmp_path), store)
    async with asgi_client(app) as client:
        store.start_outage(60)
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_unavailable"
        store.outage_until = 0
        assert (await client.get("/readyz")).status_code == 200
    await inner.ping()  # not closed by the app: the caller owns it
    await inner.close()


async def test_requests_log_the_request_id(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    await api.client.get(
        "/api/mcp/payroll/diagnostics", headers={**api.as_user(), "X-Request-ID": "trace-me"}
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "request refused"]
    assert refused and refused[-1]["request_id"] == "trace-me" and refused[-1]["status"] == 404


async def test_openapi_documents_every_endpoint_with_its_errors(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/mcp/{server}/diagnostics",
        "/api/mcp/{server}/summary",
        "/api/mcp/connection/status",
        "/api/diagnostics/{debugId}",
        "/api/admin/audit",
        "/healthz",
        "/readyz",
        "/v1/events",
    ):
        assert path in paths, path
    diag = paths["/api/mcp/{server}/diagnostics"]["get"]
    assert {"200", "400", "401", "404", "503"} <= set(diag["responses"])
    assert "422" not in diag["responses"]
    assert {p["name"] for p in diag["parameters"]} >= {"cursor", "severity", "from", "to", "code", "limit"}
    assert (await api.client.get("/docs")).status_code == 200


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_acl_files_load_from_yaml_or_json(tmp_path: Path, suffix: str) -> None:
    doc = {"servers": {"github": {"users": ["u"], "groups": ["eng"]}, "docs": {"public": True}}}
    path = tmp_path / f"acl{suffix}"
    yaml_text = "servers:\n  github: {users: [u], groups: [eng]}\n  docs: {public: true}\n"
    path.write_text(json.dumps(doc) if suffix == ".json" else yaml_text)
    policy = AccessPolicy.from_file(path)
    assert policy.can_access(Principal("u"), "github")
    assert policy.can_access(Principal("x", groups=frozenset({"eng"})), "github")
    assert policy.can_access(Principal("x"), "docs") and not policy.can_access(Principal("x"), "github")
    assert policy.can_access(Principal("x", Role.SUPPORT), "anything")


@pytest.mark.parametrize("content", ["servers: [1, 2]", "{not json", "servers:\n  a: {users: u, extra: 1}\n"])
def test_a_malformed_acl_file_fails_at_startup(tmp_path: Path, content: str) -> None:
    path = tmp_path / "acl.yaml"
    path.write_text(content)
    with pytest.raises(AclFileError, match=r"acl\.yaml"):
        create_app(api_settings(Tokens(), acl_file=path), collector_settings(tmp_path))


def test_public_names_are_exported_in_one_sorted_all() -> None:
    public = {name for name in dir(mcpdiag.api) if not name.startswith("_") and name[0].isupper()}
    public |= {"create_app", "record_audit", "connection_status", "get_api_settings"}
    assert public - {"annotations"} <= set(mcpdiag.api.__all__)
    constants = [n for n in mcpdiag.api.__all__ if n.isupper()]
    classes = [n for n in mcpdiag.api.__all__ if n[0].isupper() and not n.isupper()]
    functions = [n for n in mcpdiag.api.__all__ if n[0].islower()]
    assert mcpdiag.api.__all__ == sorted(constants) + sorted(classes) + sorted(functions)
    assert utc_now().tzinfo is not None
