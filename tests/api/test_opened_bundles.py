"""Bundles opened in a running server, over real HTTP (uvicorn on loopback): an admin uploads one (an .age
file with its passphrase in the body), previews it, opens it, and its read-only view under /bundles/<id>/
answers the usual API about the bundle's events — for its own token only, refusing every write."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from mcpdiag.api import create_app
from mcpdiag.bundle import BundleScope
from mcpdiag.bundle.crypt import Encryption
from mcpdiag.bundle.settings import BundleSettings
from mcpdiag.store import SQLiteEventStore
from tests.api.support import NOW, Tokens, api_settings, collector_settings
from tests.bundle.test_bundle import export
from tests.collector.support import serve
from tests.factories import FakeClock, make_event
from tests.waiting import HTTP_PATIENCE, eventually

PASSPHRASE = "pp-" + secrets.token_urlsafe(12)


@dataclass
class Server:
    url: str
    tokens: Tokens

    def admin(self) -> dict[str, str]:
        return self.tokens.header(self.tokens.mint("ada", roles=["admin"]))


async def customer_bundle(tmp_path: Path, *, encrypted: bool) -> Path:
    """A customer's bundle of 2,500 events on three servers (built by the exporter, as a customer would)."""
    store = SQLiteEventStore(tmp_path / "customer.db", clock=FakeClock(NOW))
    await store.ensure_schema()
    events = [
        make_event(server="local-files", code="MCP_PROCESS_EXITED", user_id=f"u{i % 4}",
                   ts=NOW - timedelta(minutes=1 + i % 600, seconds=i))
        for i in range(2000)
    ]  # fmt: skip
    events += [
        make_event(server="github", code="MCP_CONNECTED", ts=NOW - timedelta(minutes=i + 1))
        for i in range(400)
    ]
    events += [
        make_event(
            server="jira", code="MCP_DNS_FAILURE", user_id="alice", ts=NOW - timedelta(hours=2, minutes=i)
        )
        for i in range(100)
    ]
    await store.append(events)
    sealed = Encryption.with_passphrase(PASSPHRASE) if encrypted else None
    result = await export(
        store, tmp_path / "customer", BundleScope.parse(since="24h", now=NOW), encryption=sealed
    )
    await store.close()
    return result.path


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    tokens = Tokens()
    app = create_app(
        api_settings(tokens),
        collector_settings(tmp_path),
        bundle_settings=BundleSettings(_env_file=None, bundle_open_max=1, bundle_open_max_mb=5),
    )
    async with app.router.lifespan_context(app), serve(app) as url:
        yield Server(url, tokens)


async def wait_ready(http: httpx.AsyncClient, status: str, headers: dict[str, str]) -> dict[str, object]:
    async def loaded() -> dict[str, object] | None:
        body = (await http.get(status, headers=headers)).json()
        return dict(body) if body["phase"] in ("ready", "failed") else None

    return await eventually(loaded, "the bundle loads", interval=0.02)


async def test_an_admin_opens_a_dropped_bundle_read_only(server: Server, tmp_path: Path) -> None:
    bundle = await customer_bundle(tmp_path, encrypted=True)
    async with httpx.AsyncClient(base_url=server.url, timeout=HTTP_PATIENCE) as http:
        files = {"file": (bundle.name, bundle.read_bytes(), "application/octet-stream")}
        wrong = await http.post("/api/admin/bundles", files=files, data={"passphrase": "not-the-passphrase"},
                                headers=server.admin())  # fmt: skip
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "cannot_decrypt"
        preview = await http.post(
            "/api/admin/bundles", files=files, data={"passphrase": PASSPHRASE}, headers=server.admin()
        )
        assert preview.status_code == 201, preview.text
        body = preview.json()
        assert (body["phase"], body["encrypted"], body["events"], body["verify"]["ok"]) == (
            "uploaded",
            True,
            2500,
            True,
        )
        assert [s["server"] for s in body["servers"]] == ["github", "jira", "local-files"]
        assert body["windowTo"].startswith(NOW.strftime("%Y-%m-%dT%H:%M")) and body["hostname"]
        assert "view" not in body and PASSPHRASE not in preview.text
        # A second bundle while the only slot is taken.
        busy = await http.post(
            "/api/admin/bundles", files=files, data={"passphrase": PASSPHRASE}, headers=server.admin()
        )
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "too_many_open"
        user = server.tokens.header(server.tokens.mint("sam", roles=["support"]))
        assert (await http.post(f"{body['status']}/open", headers=user)).status_code == 403
        opened = await http.post(f"{body['status']}/open", headers=server.admin())
        assert opened.status_code == 202 and opened.json()["phase"] in ("loading", "ready")
        ready = await wait_ready(http, body["status"], server.admin())
        assert ready["phase"] == "ready" and ready["progress"] == {"done": 2500, "total": 2500}
        view = str(ready["view"])
        base, token = view.split("/ui/#token=")
        assert base == f"/bundles/{body['id']}"
        viewer = {"Authorization": f"Bearer {token}"}

        me = (await http.get(f"{base}/api/me", headers=viewer)).json()
        assert (me["userId"], me["role"], me["bundle"]["name"]) == ("support-viewer", "support", bundle.name)
        cards = (await http.get(f"{base}/api/mcp/connection/status", headers=viewer)).json()[
            "connectionStatus"
        ]
        assert cards["local-files"]["lastError"]["code"] == "MCP_PROCESS_EXITED"
        assert cards["local-files"]["recent"]["failureCount"] == 2000  # the bundle's own "last 24 h"
        assert cards["github"]["connectionState"] == "connected"
        page = (
            await http.get(f"{base}/api/mcp/jira/diagnostics", params={"limit": 200}, headers=viewer)
        ).json()
        assert len(page["items"]) == 100 and all(e["detail"] for e in page["items"])  # support sees detail
        problems = (await http.get(f"{base}/api/mcp/local-files/problems", headers=viewer)).json()
        assert problems["items"][0]["code"] == "MCP_PROCESS_EXITED"
        timeline = await http.get(f"{base}/api/mcp/local-files/timeline", headers=viewer)
        assert timeline.status_code == 200, timeline.text
        overview = (await http.get(f"{base}/api/overview", headers=viewer)).json()
        assert overview["usersAffected"] >= 5
        trace = page["items"][0]["traceId"]
        assert (await http.get(f"{base}/api/diagnostics/{trace}", headers=viewer)).status_code == 200
        assert (await http.get(f"{base}/ui/", headers=viewer)).status_code == 200

        # Read-only, and its token opens this view only.
        for method, path in (("POST", "/v1/events"), ("POST", "/api/mcp/doctor"), ("DELETE", "/api/me"),
                             ("PUT", "/api/mcp/jira/diagnostics")):  # fmt: skip
            refused = await http.request(method, f"{base}{path}", headers=viewer, json={})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only", path
        assert (await http.get(f"{base}/api/admin/audit", headers=viewer)).status_code == 404
        assert (await http.get(f"{base}/api/admin/bundle", headers=viewer)).status_code == 404
        assert (await http.get("/api/me", headers=viewer)).status_code == 401  # not a token of this server
        assert (await http.get(f"{base}/api/me", headers=server.admin())).status_code == 401
        assert (await http.get(f"{base}/api/me")).status_code == 401
        # This server's own store was never written: its servers are its own.
        mine = (await http.get("/api/mcp/connection/status", headers=server.admin())).json()[
            "connectionStatus"
        ]
        assert "local-files" not in mine

        closed = await http.delete(body["status"], headers=server.admin())
        assert closed.status_code == 204
        assert (await http.get(f"{base}/api/me", headers=viewer)).status_code == 404
        assert (await http.get(body["status"], headers=server.admin())).status_code == 404
        audit = (await http.get("/api/admin/audit", headers=server.admin())).json()["items"]
        assert audit[0]["action"] == "bundle_open" and audit[0]["target"] == bundle.name


async def test_uploads_that_are_not_bundles(server: Server, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=HTTP_PATIENCE) as http:
        for name, data, code in (
            ("x.zip", b"not a zip", "invalid_bundle"),
            ("x.zip.age", b"age-encryption.org/v1\n-> X25519 abc\nxyz\n--- abc\n", "cannot_decrypt"),
        ):
            answer = await http.post(
                "/api/admin/bundles", files={"file": (name, data)}, headers=server.admin()
            )
            assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.text
        big = await http.post(
            "/api/admin/bundles", files={"file": ("x.zip", b"0" * (6 << 20))}, headers=server.admin()
        )
        assert big.status_code == 413
        none = await http.post("/api/admin/bundles", data={"passphrase": "x"}, headers=server.admin())
        assert none.status_code == 400 and none.json()["error"]["message"].startswith("file:")
        assert (await http.get("/api/admin/bundles/nope", headers=server.admin())).status_code == 404
        assert (await http.get("/bundles/nope/ui/")).status_code == 404
