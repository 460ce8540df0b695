"""Helpers for the API tests: tokens minted at test time, an app on a temp SQLite file, seeded events."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from fastapi import FastAPI

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.bundle.scanhelper import HELPER_MODULE
from mcpdiag.collector import CollectorSettings
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import EventStore
from tests.collector.support import new_key
from tests.factories import NOW as NOW  # what the bundle tests' stores take for now

ISSUER = "https://idp.example.test"
AUDIENCE = "mcpdiag"


class Tokens:
    """Mints HS256 tokens for one test run's secret (and deliberately broken ones)."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret or secrets.token_urlsafe(48)

    def claims(self, sub: str, *, ttl: float = 300, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + int(ttl), **extra}

    def mint(self, sub: str, *, key: str | None = None, **extra: Any) -> str:
        """A valid token for `sub` (extra claims: roles, groups, mcp_servers, exp, aud, ...)."""
        return jwt.encode(self.claims(sub, **extra), key or self.secret, algorithm="HS256")

    def unsigned(self, sub: str, **extra: Any) -> str:
        """The same claims with `alg: none` and no signature."""
        header = _b64({"alg": "none", "typ": "JWT"})
        return f"{header}.{_b64(self.claims(sub, **extra))}."

    def header(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def api_settings(
    tokens: Tokens, acl: dict[str, Any] | None = None, tmp_path: Path | None = None, **over: Any
) -> ApiSettings:
    """API settings accepting `tokens`' secret, with issuer/audience checks and an optional ACL file."""
    acl_file = None
    if acl is not None:
        assert tmp_path is not None
        acl_file = tmp_path / "acl.json"
        acl_file.write_text(json.dumps(acl))
    values: dict[str, Any] = {
        "jwt_secret": tokens.secret,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "acl_file": acl_file,
        **over,
    }
    return ApiSettings(_env_file=None, **values)


def collector_settings(tmp_path: Path, key: str | None = None) -> CollectorSettings:
    """Collector settings on `tmp_path`, accepting ingest `key`."""
    return CollectorSettings(
        _env_file=None,
        store_url=f"sqlite:///{tmp_path / 'events.db'}",
        spool_dir=tmp_path / "spool",
        ingest_keys=frozenset({key or new_key()}),
        batch_interval_ms=5,
    )


def build_app(
    tmp_path: Path, tokens: Tokens, acl: dict[str, Any] | None = None, key: str | None = None, **over: Any
) -> FastAPI:
    """The API app on a fresh SQLite file in `tmp_path`."""
    return create_app(api_settings(tokens, acl, tmp_path, **over), collector_settings(tmp_path, key))


async def seed(store: EventStore, events: Sequence[DiagnosticEvent]) -> None:
    """Store `events` directly (ingest is tested through HTTP elsewhere)."""
    assert await store.append(events) == len(events)


# -- bundles: a fixed clock, and the scan helper processes as an operator sees them -------------------------

T0 = NOW - timedelta(hours=3)
"""When the bundle tests' first events happened (three hours before NOW)."""


def helpers() -> list[int]:
    """This process's running scan helpers, found in /proc as an operator would."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) != os.getpid():
            continue
        if HELPER_MODULE in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def gone(pids: list[int]) -> bool:
    """Whether these processes have exited and been reaped (no trace left in /proc)."""
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


def kill_helpers(sig: int = signal.SIGKILL) -> int:
    """Signal this process's running scan helpers; how many."""
    pids = helpers()
    for pid in pids:
        os.kill(pid, sig)
    return len(pids)
