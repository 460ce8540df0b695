"""`GET /api/admin/bundle` over HTTP: permissions, headers, audit, and no secret in any member."""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.bundle.scanhelper import usable_cpus
from mcpdiag.collector import CollectorSettings
from mcpdiag.store import EventStore
from tests.api.support import Tokens
from tests.bundle.test_bundle import T0, Sentinels, assert_no_sentinel
from tests.collector.support import asgi_client
from tests.factories import DAY, make_event

SCOPE = {"from": f"{DAY}T00:00:00Z", "to": f"{DAY}T12:00:00Z"}


@dataclass
class BundleApi:
    client: httpx.AsyncClient
    store: EventStore
    tokens: Tokens
    sentinels: Sentinels

    def auth(self, sub: str, *roles: str) -> dict[str, str]:
        return self.tokens.header(self.tokens.mint(sub, roles=list(roles), mcp_servers=["github", "jira"]))


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BundleApi]:
    s = Sentinels()
    for name, value in s.environ().items():
        monkeypatch.setenv(name, value)
    tokens = Tokens(s.jwt_secret)
    app = create_app(
        ApiSettings(_env_file=None, jwt_secret=s.jwt_secret),
        CollectorSettings(
            _env_file=None,
            store_url=f"sqlite:///{tmp_path / 'events.db'}",
            spool_dir=tmp_path / "spool",
            ingest_keys=frozenset({s.ingest}),
            known_secrets=frozenset({s.known}),
        ),
    )
    async with asgi_client(app) as client:
        await app.state.store.append(s.events())
        yield BundleApi(client, app.state.store, tokens, s)


def unzip(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


async def test_admin_downloads_a_sanitized_zip_with_the_documented_headers(
    api: BundleApi, tmp_path: Path
) -> None:
    response = await api.client.get("/api/admin/bundle", params=SCOPE, headers=api.auth("ada", "admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="mcpdiag-support-')
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    files = unzip(response.content)
    assert_no_sentinel(files, api.sentinels)
    manifest = json.loads(files["MANIFEST.json"])
    assert {"events/github.jsonl", "events/jira.jsonl", "analysis.md"} <= {
        f["name"] for f in manifest["files"]
    }
    # The same scope through the exporter (what the CLI runs) holds the same events.
    scope = BundleScope.parse(from_=SCOPE["from"], to=SCOPE["to"])
    direct = await export_bundle(
        api.store, scope, out_dir=tmp_path, settings_snapshot=api.sentinels.settings(), app_version="x"
    )
    with zipfile.ZipFile(direct.path) as zf:
        for name in ("events/github.jsonl", "events/jira.jsonl"):
            ours = [json.loads(line)["id"] for line in zf.read(name).splitlines()]
            assert ours == [json.loads(line)["id"] for line in files[name].splitlines()] and ours


async def test_every_export_is_audited_with_scope_count_and_size(api: BundleApi) -> None:
    response = await api.client.get("/api/admin/bundle", params=SCOPE, headers=api.auth("ada", "admin"))
    assert response.status_code == 200
    audit = (await api.client.get("/api/admin/audit", headers=api.auth("ada", "admin"))).json()
    [record] = [r for r in audit["items"] if r["action"] == "bundle_export"]
    assert record["actor"] == "ada" and record["resultCount"] == 4
    assert record["scope"]["sizeBytes"] == len(response.content)


async def test_support_only_with_a_debug_id_users_never_and_no_token_401(api: BundleApi) -> None:
    stored = (await api.client.get("/api/mcp/github/diagnostics", headers=api.auth("ada", "admin"))).json()
    debug_id = stored["items"][0]["traceId"]
    support = api.auth("sam", "support")
    refused = await api.client.get("/api/admin/bundle", params=SCOPE, headers=support)
    assert refused.status_code == 403 and refused.json()["error"]["code"]
    scoped = {"debugId": debug_id, **SCOPE}
    allowed = await api.client.get("/api/admin/bundle", params=scoped, headers=support)
    assert allowed.status_code == 200 and allowed.content[:2] == b"PK"
    user = await api.client.get("/api/admin/bundle", params=scoped, headers=api.auth("ursula"))
    assert user.status_code == 403
    assert (await api.client.get("/api/admin/bundle", params=SCOPE)).status_code == 401


async def test_bad_scope_values_are_400_naming_the_parameter(api: BundleApi) -> None:
    admin = api.auth("ada", "admin")
    bad = await api.client.get("/api/admin/bundle", params={"from": "yesterday"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("from")
    injected = await api.client.get("/api/admin/bundle", params={"severity[$ne]": "x"}, headers=admin)
    assert injected.status_code == 400


@pytest.mark.parametrize(
    ("debug_id", "status", "code"),
    [
        ("4bf92f3577b3", 404, "not_found"),  # shaped like a trace id prefix, names nothing stored
        ("0" * 32, 404, "not_found"),
        ("zz", 404, "not_found"),  # could be an event id: none is stored
        ("bd32", 400, "invalid_parameter"),  # a hex prefix too short to name one trace
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_debug_id_that_names_nothing_is_refused_as_the_lookup_refuses_it(
    api: BundleApi, debug_id: str, status: int, code: str, method: str
) -> None:
    """Never an empty bundle (200, 0 events) a support engineer would send on as if it held the failure."""
    for role in ("admin", "support"):
        headers = api.auth("ada" if role == "admin" else "sam", role)
        scoped = {"debugId": debug_id, **SCOPE}
        if method == "GET":
            response = await api.client.get("/api/admin/bundle", params=scoped, headers=headers)
        else:
            response = await api.client.post("/api/admin/bundle", json=scoped, headers=headers)
        assert response.status_code == status, (role, response.text[:200])
        assert response.json()["error"]["code"] == code
        lookup = await api.client.get(f"/api/diagnostics/{debug_id}", headers=headers)
        assert lookup.status_code == status
    audit = (await api.client.get("/api/admin/audit", headers=api.auth("ada", "admin"))).json()
    assert not [r for r in audit["items"] if r["action"] == "bundle_export"]


async def test_a_large_export_over_http_is_scanned_beside_it_and_still_clean(api: BundleApi) -> None:
    """Past a megabyte of ZIP the route's export starts the scan helper from the app's event loop; the
    bundle is as clean as a small one, and no helper failure is logged."""
    await api.store.append(
        [
            make_event(server="jira", ts=T0 + timedelta(milliseconds=i), detail=secrets.token_hex(100))
            for i in range(9000)
        ]
    )
    with capture_logs() as logs:
        response = await api.client.get("/api/admin/bundle", params=SCOPE, headers=api.auth("ada", "admin"))
    assert response.status_code == 200, response.text
    assert len(response.content) > 1 << 20
    files = unzip(response.content)
    assert_no_sentinel(files, api.sentinels)
    assert json.loads(files["summary.json"])["events"] == 9004
    assert not [log for log in logs if "helper" in str(log.get("event"))]
    exported = [log for log in logs if log.get("event") == "bundle exported"]
    assert [log["scanned_by"] for log in exported] == ["helper" if usable_cpus() >= 2 else "exporter"]
