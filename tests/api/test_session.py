"""What the UI needs first: who am I, the catalog, the UI's files, and dev-mode sign-in (dev mode only)."""

from __future__ import annotations

from pathlib import Path

import jwt

from mcpdiag.emitters import CATALOG
from tests.api.conftest import Api
from tests.api.support import Tokens, build_app
from tests.collector.support import asgi_client


async def test_me_reports_the_verified_caller(api: Api) -> None:
    response = await api.client.get("/api/me", headers=api.as_user("ursula", groups=["eng"]))
    assert response.status_code == 200
    assert response.json() == {"userId": "ursula", "role": "user", "groups": ["eng"]}
    staff = await api.client.get("/api/me", headers=api.support)
    assert staff.json()["role"] == "support"
    assert (await api.client.get("/api/me")).status_code == 401


async def test_catalog_lists_every_code_with_its_action(api: Api) -> None:
    codes = (await api.client.get("/api/catalog", headers=api.as_user())).json()["codes"]
    assert set(codes) == set(CATALOG)
    assert codes["MCP_AUTH_REQUIRED"]["action"] == "authenticate"
    assert codes["MCP_CONNECTED"] == {
        "title": "Connected",
        "severity": "info",
        "retryable": False,
        "action": "none",
        "failure": False,
    }


async def test_the_ui_is_served_under_ui_and_the_root_redirects(api: Api) -> None:
    page = await api.client.get("/ui/")
    assert page.status_code == 200 and "<mcp-diagnostics-drawer" in page.text
    script = await api.client.get("/ui/drawer.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    root = await api.client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"


async def test_dev_endpoints_do_not_exist_outside_dev_mode(api: Api) -> None:
    assert (await api.client.get("/api/dev/users")).status_code == 404
    assert (await api.client.post("/api/dev/token", json={"userId": "alice"})).status_code in (404, 405)


async def test_dev_mode_signs_in_demo_users_with_working_tokens(tmp_path: Path) -> None:
    tokens = Tokens()
    app = build_app(tmp_path, tokens, dev_mode=True)
    async with asgi_client(app) as client:
        users = (await client.get("/api/dev/users")).json()["users"]
        assert {u["role"] for u in users} == {"user", "support", "admin"}
        issued = (await client.post("/api/dev/token", json={"userId": "sam"})).json()["token"]
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {issued}"})
        assert me.json()["role"] == "support"
        claims = jwt.decode(issued, options={"verify_signature": False})
        assert claims["sub"] == "sam" and claims["exp"] > claims["iat"]
        refused = await client.post("/api/dev/token", json={"userId": "mallory"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_parameter"
