"""Where a refusal quotes the value it refused (`got 'tomorrow'`, `server 'githb' not found`), it quotes it
redacted and short (`redact.quoted`), over HTTP and in the CLI alike.

Found by an adversarial pass: error bodies (and the log lines that mirror them) are redacted as our own
prose, which spares the assignment rule (our messages name fields: `passphrase: unknown parameter`), so a
value written `password=<secret>` came back whole from a dozen sites, a GitHub token from `mcpdiag search`,
and any of them at any length (a JWT's `alg` of 10,000 characters). Each site is sent the same three
values, made at run time.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from mcpdiag.cli.app import app
from tests.api.conftest import Api


def _values() -> dict[str, tuple[str, str]]:
    """Each kind of value: (the value sent, the part of it that must not come back)."""
    word = secrets.token_hex(8)
    token = "ghp_" + "".join(secrets.choice("ABCDEFabcdef0123456789") for _ in range(36))
    long = "x" + secrets.token_hex(2500)
    return {
        "assignment": (f"password={word}", word),
        "colon": (f"password:{word}", word),  # the only form a Debug ID may take
        "token": (token, token[4:]),
        "long": (long, long[:200]),
    }


Send = Callable[[Api, str], Any]


def _jwt_with_alg(alg: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part({'sub': 'ada'})}.c2ln"


SITES: dict[str, Send] = {
    "bundle since": lambda api, v: api.client.get(
        "/api/admin/bundle", params={"since": v}, headers=api.admin
    ),
    "bundle from": lambda api, v: api.client.get("/api/admin/bundle", params={"from": v}, headers=api.admin),
    "bundle severity": lambda api, v: api.client.get(
        "/api/admin/bundle", params={"severity": v}, headers=api.admin
    ),
    "bundle includeDetail": lambda api, v: api.client.get(
        "/api/admin/bundle", params={"includeDetail": v}, headers=api.admin
    ),
    "export since": lambda api, v: api.client.get(
        "/api/admin/export", params={"since": v}, headers=api.admin
    ),
    "export severity": lambda api, v: api.client.get(
        "/api/admin/export", params={"severity": v}, headers=api.admin
    ),
    "export estimate until": lambda api, v: api.client.get(
        "/api/admin/export/estimate", params={"until": v}, headers=api.admin
    ),
    "import conflict": lambda api, v: api.client.post(
        "/api/admin/import",
        params={"conflict": v},
        files={"file": ("e.gz", b"x", "application/gzip")},
        headers=api.admin,
    ),
    "import job": lambda api, v: api.client.get(f"/api/admin/import/{quote(v, safe='')}", headers=api.admin),
    "opened bundle": lambda api, v: api.client.get(
        f"/api/admin/bundles/{quote(v, safe='')}", headers=api.admin
    ),
    "server": lambda api, v: api.client.get(f"/api/mcp/{quote(v, safe='')}/summary", headers=api.admin),
    "guide": lambda api, v: api.client.get(f"/api/guides/{quote(v, safe='')}"),
    # Found by a review of the fix: an unknown parameter's name, and a Debug ID that names nothing.
    "unknown query parameter": lambda api, v: api.client.get(
        f"/api/mcp/github/summary?{quote(v, safe='')}=1", headers=api.admin
    ),
    "debug id": lambda api, v: api.client.get(
        f"/api/diagnostics/{quote(v[:64], safe='')}", headers=api.support
    ),
    "debug id report": lambda api, v: api.client.post(
        f"/api/diagnostics/{quote(v[:64], safe='')}/report", headers=api.as_user()
    ),
    "token alg": lambda api, v: api.client.get(
        "/api/me", headers={"Authorization": f"Bearer {_jwt_with_alg(v)}"}
    ),
    "events content type": lambda api, v: api.client.post(
        "/v1/events", content=b"{}", headers={"content-type": v, "x-api-key": api.ingest_key}
    ),
    "events content encoding": lambda api, v: api.client.post(
        "/v1/events",
        content=b"{}",
        headers={"content-type": "application/json", "content-encoding": v, "x-api-key": api.ingest_key},
    ),
    "logs content type": lambda api, v: api.client.post(
        "/v1/logs", content=b"{}", headers={"content-type": v, "x-api-key": api.ingest_key}
    ),
}


@pytest.mark.parametrize("kind", ["assignment", "colon", "token", "long"])
@pytest.mark.parametrize("site", sorted(SITES))
async def test_an_http_refusal_never_quotes_a_secret_or_a_long_value(api: Api, site: str, kind: str) -> None:
    value, hidden = _values()[kind]
    response: httpx.Response = await SITES[site](api, value)
    assert 400 <= response.status_code < 500, (site, response.status_code, response.text[:300])
    assert hidden not in response.text, (site, response.text[:500])
    assert hidden.lower() not in response.text.lower()


async def test_a_short_plain_value_is_still_quoted_so_a_typo_can_be_seen(api: Api) -> None:
    response = await api.client.get("/api/mcp/githb/summary", headers=api.admin)
    assert response.status_code == 404 and "'githb'" in response.json()["error"]["message"]
    response = await api.client.get("/api/admin/bundle", params={"since": "tomorrow"}, headers=api.admin)
    assert response.status_code == 400 and "got 'tomorrow'" in response.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["assignment", "token", "long"])
@pytest.mark.parametrize(
    "argv", [["search", "{v}"], ["explain", "{v}"], ["tail", "github", "--severity", "{v}"]]
)
def test_the_cli_never_prints_a_secret_or_a_long_value_it_refuses(
    tmp_path: Path, argv: list[str], kind: str
) -> None:
    value, hidden = _values()[kind]
    env = {"MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}", "COLUMNS": "200"}
    result = CliRunner().invoke(app, [part.format(v=value) for part in argv], env=env)
    assert result.exit_code != 0, result.output
    assert hidden not in result.output, result.output[-500:]
