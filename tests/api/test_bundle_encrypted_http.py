"""Encrypted bundles from the API: to the recipients the admin configured (MCPDIAG_BUNDLE_RECIPIENTS), or to
a passphrase sent in a POST body — never in a URL."""

from __future__ import annotations

import io
import secrets
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyrage
import pytest
from pyrage import x25519

from mcpdiag.api import create_app
from mcpdiag.bundle.settings import BundleSettings
from mcpdiag.bundle.verify import verify_bundle
from tests.api.support import Tokens, api_settings, collector_settings
from tests.bundle.test_bundle import T0
from tests.collector.support import asgi_client
from tests.factories import DAY, make_event

SCOPE = {"from": f"{DAY}T00:00:00Z", "to": f"{DAY}T12:00:00Z"}
IDENTITY = x25519.Identity.generate()
HMAC_KEY = secrets.token_urlsafe(32)


def admin(tokens: Tokens) -> dict[str, str]:
    return tokens.header(tokens.mint("ada", roles=["admin"]))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    tokens = Tokens()
    app = create_app(
        api_settings(tokens),
        collector_settings(tmp_path),
        bundle_settings=BundleSettings(
            _env_file=None, bundle_recipients=(str(IDENTITY.to_public()),), bundle_hmac_key=HMAC_KEY
        ),
    )
    async with asgi_client(app) as http:
        await app.state.store.append([make_event(ts=T0)])
        yield http, tokens


@pytest.fixture
async def plain_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    tokens = Tokens()
    app = create_app(
        api_settings(tokens), collector_settings(tmp_path), bundle_settings=BundleSettings(_env_file=None)
    )
    async with asgi_client(app) as http:
        await app.state.store.append([make_event(ts=T0)])
        yield http, tokens


async def test_configured_recipients_encrypt_every_api_bundle(
    client: tuple[httpx.AsyncClient, Tokens], tmp_path: Path
) -> None:
    http, tokens = client
    response = await http.get("/api/admin/bundle", params=SCOPE, headers=admin(tokens))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert '.zip.age"' in response.headers["content-disposition"]
    plain = tmp_path / "bundle.zip"
    plain.write_bytes(pyrage.decrypt(response.content, [IDENTITY]))
    report = verify_bundle(plain, hmac_key=HMAC_KEY.encode())
    assert report.ok and any(c.name == "manifest HMAC" and c.ok for c in report.checks), report.lines()
    with zipfile.ZipFile(plain) as zf:
        assert HMAC_KEY not in "".join(zf.read(n).decode() for n in zf.namelist())
    # A plain ZIP when asked for one.
    response = await http.get(
        "/api/admin/bundle", params={**SCOPE, "encrypt": "false"}, headers=admin(tokens)
    )
    assert response.headers["content-type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.content)).testzip() is None
    audit = (await http.get("/api/admin/audit", headers=admin(tokens))).json()
    assert [e["scope"]["encryption"] for e in audit["items"][:2]] == [None, "age, 1 recipient"]


async def test_a_passphrase_travels_in_the_body_only(client: tuple[httpx.AsyncClient, Tokens]) -> None:
    http, tokens = client
    passphrase = "pp-" + secrets.token_urlsafe(12)
    response = await http.get(
        "/api/admin/bundle", params={**SCOPE, "passphrase": passphrase}, headers=admin(tokens)
    )
    assert (
        response.status_code == 400
        and response.json()["error"]["message"] == "passphrase: unknown query parameter"
    )
    response = await http.post(
        "/api/admin/bundle",
        json={**SCOPE, "server": ["github"], "passphrase": passphrase},
        headers=admin(tokens),
    )
    assert response.status_code == 200, response.text
    assert pyrage.passphrase.decrypt(response.content, passphrase)[:4] == b"PK\x03\x04"
    audit = (await http.get("/api/admin/audit", headers=admin(tokens))).text
    assert passphrase not in audit and "age, passphrase" in audit
    for body, field in (
        ({"passphrase": "short"}, "passphrase"),
        ({"passphrase": passphrase, "encrypt": False}, "encrypt"),
        ({"secret": "x"}, "secret: Extra inputs"),
    ):
        response = await http.post("/api/admin/bundle", json={**SCOPE, **body}, headers=admin(tokens))
        assert response.status_code == 400 and response.json()["error"]["message"].startswith(field), body
        assert passphrase not in response.text


async def test_encrypting_without_recipients_names_the_setting(
    plain_client: tuple[httpx.AsyncClient, Tokens],
) -> None:
    http, tokens = plain_client
    response = await http.get("/api/admin/bundle", params={**SCOPE, "encrypt": "true"}, headers=admin(tokens))
    assert response.status_code == 400 and "MCPDIAG_BUNDLE_RECIPIENTS" in response.json()["error"]["message"]
    response = await http.get("/api/admin/bundle", params=SCOPE, headers=admin(tokens))
    assert response.headers["content-type"] == "application/zip"


def test_bad_recipients_in_the_setting_are_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="MCPDIAG_BUNDLE_RECIPIENTS: 'age1nope' is not an age X25519"):
        BundleSettings(_env_file=None, bundle_recipients="age1nope")
    with pytest.raises(ValueError, match="MCPDIAG_BUNDLE_HMAC_KEY must be at least 32 bytes"):
        BundleSettings(_env_file=None, bundle_hmac_key="short")
    settings = BundleSettings(_env_file=None, bundle_recipients=f" {IDENTITY.to_public()} , ")
    assert settings.bundle_recipients == (str(IDENTITY.to_public()),)
