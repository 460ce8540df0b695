"""Fixtures of the API tests: a running app on a temp SQLite file and tokens for its callers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mcpdiag.store import EventStore
from tests.api.support import Tokens, build_app
from tests.collector.support import asgi_client, new_key

ACL = {
    "servers": {
        "github": {"users": ["ursula"]},
        "jira": {"groups": ["eng"]},
        "docs": {"public": True},
        "payroll": {"users": ["paula"]},
    }
}


@dataclass
class Api:
    """A running app, its store, and headers for its callers."""

    client: httpx.AsyncClient
    store: EventStore
    tokens: Tokens
    ingest_key: str

    def as_user(self, sub: str = "ursula", **claims: object) -> dict[str, str]:
        return self.tokens.header(self.tokens.mint(sub, **claims))

    @property
    def admin(self) -> dict[str, str]:
        return self.as_user("ada", roles=["admin"])

    @property
    def support(self) -> dict[str, str]:
        return self.as_user("sam", roles=["support"])


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    tokens = Tokens()
    key = new_key()
    app = build_app(tmp_path, tokens, ACL, key)
    async with asgi_client(app) as client:
        yield Api(client, app.state.store, tokens, key)
