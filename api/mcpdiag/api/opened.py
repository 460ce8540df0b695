"""Bundles an admin opened in a running server: each a read-only viewer app on a throwaway store, served
under `/bundles/<id>/` (its UI at `/bundles/<id>/ui/`, its API at `/bundles/<id>/api/…`).

"Opening" a dropped bundle means: the upload (decrypted with the passphrase or identity sent with it, if it
is an `.age` file) is kept in a private temporary directory and previewed from its manifest and a verify
run; on the admin's word its events are loaded into a SQLite file in that directory, and a viewer app
(`viewer.create_viewer_app`) answers for it, signed with a key of its own: its token (handed to that
admin) opens that bundle's view and nothing else — not the server's API, not another bundle. This
server's own store is never written. At most `MCPDIAG_BUNDLE_OPEN_MAX` bundles are open at once; each is
closed (its directory deleted) when the admin closes it, `MCPDIAG_BUNDLE_OPEN_TTL_S` after it was
uploaded, or when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from mcpdiag.api.errors import ApiError
from mcpdiag.api.viewer import create_viewer_app
from mcpdiag.bundle.errors import BundleError
from mcpdiag.bundle.load import BundleInfo, load_bundle, viewer_store
from mcpdiag.bundle.settings import BundleSettings
from mcpdiag.bundle.verify import VerifyReport
from mcpdiag.collector.bodybound import route_path
from mcpdiag.collector.handlers import error_response
from mcpdiag.store import SQLiteEventStore

log = structlog.get_logger("mcpdiag.api.opened")
MOUNT = "/bundles"

Phase = Literal["uploaded", "loading", "ready", "failed"]


class TooManyOpenError(ApiError):
    """Every slot for an opened bundle is taken (409): close one first."""

    status = 409
    code = "too_many_open"


@dataclass(slots=True)
class Opened:
    """One uploaded bundle: its plaintext ZIP in a private directory, its preview, and once opened its
    store and viewer app."""

    id: str
    directory: tempfile.TemporaryDirectory[str]
    plain: Path
    info: BundleInfo
    report: VerifyReport
    actor: str
    created: float
    encrypted: bool
    phase: Phase = "uploaded"
    loaded: int = 0
    skipped: int = 0
    error: str | None = None
    store: SQLiteEventStore | None = None
    app: FastAPI | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The preview, the phase and progress, and once ready where the view is and its token."""
        info = self.info
        body: dict[str, Any] = {
            "id": self.id,
            "name": info.name,
            "encrypted": self.encrypted,
            "hostname": info.hostname,
            "generatedAt": info.generated_at,
            "windowFrom": info.window_from,
            "windowTo": info.window_to,
            "events": info.events,
            "failures": info.failures,
            "servers": info.servers,
            "verify": {
                "ok": self.report.ok,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.report.checks],
            },
            "phase": self.phase,
            "progress": {"done": self.loaded, "total": info.events},
            "status": f"/api/admin/bundles/{self.id}",
        }
        if self.error:
            body["error"] = self.error
        if self.phase == "ready" and self.app is not None:
            body["view"] = f"{MOUNT}/{self.id}/ui/#token={self.app.state.viewer_token}"
            body["skipped"] = self.skipped
        return body


class OpenedBundles:
    """The opened bundles of one server process."""

    def __init__(self, settings: BundleSettings) -> None:
        self.settings = settings
        self.entries: dict[str, Opened] = {}

    async def expire(self) -> None:
        """Close the bundles past their time."""
        now = time.monotonic()
        for entry in list(self.entries.values()):
            if now - entry.created > self.settings.bundle_open_ttl_s:
                await self.close(entry.id)

    async def reserve(self) -> None:
        """Raise `TooManyOpenError` when no slot is free (after closing expired ones)."""
        await self.expire()
        if len(self.entries) >= self.settings.bundle_open_max:
            raise TooManyOpenError(
                f"{len(self.entries)} bundles are open already (MCPDIAG_BUNDLE_OPEN_MAX): close one first"
            )

    def add(self, entry: Opened) -> None:
        """Keep an uploaded bundle."""
        self.entries[entry.id] = entry

    def get(self, key: str) -> Opened | None:
        """The bundle `key`, if it is open."""
        entry = self.entries.get(key)
        if entry is not None and time.monotonic() - entry.created > self.settings.bundle_open_ttl_s:
            return None
        return entry

    def start(self, entry: Opened) -> None:
        """Load the bundle's events in the background (`phase` says how far it is)."""
        if entry.phase != "uploaded":
            return
        entry.phase = "loading"
        entry.task = asyncio.create_task(self._load(entry))

    async def _load(self, entry: Opened) -> None:
        def progress(done: int, total: int) -> None:
            entry.loaded = done

        try:
            entry.store = await viewer_store(Path(entry.directory.name) / "bundle.db", entry.info)
            result = await load_bundle(entry.plain, entry.store, progress=progress, name=entry.info.name)
            entry.loaded, entry.skipped = result.loaded, result.skipped
            entry.app = create_viewer_app(
                entry.store, result.info, loaded=result.loaded, skipped=result.skipped
            )
            entry.phase = "ready"
            log.info("bundle opened", bundle=entry.id, events=result.loaded, actor=entry.actor)
        except (BundleError, OSError, ValueError) as exc:
            entry.phase, entry.error = "failed", getattr(exc, "message", None) or str(exc)
            log.warning("bundle could not be opened", bundle=entry.id, error=entry.error)

    async def close(self, key: str) -> bool:
        """Close bundle `key`: stop its loading, close its store, delete its directory."""
        entry = self.entries.pop(key, None)
        if entry is None:
            return False
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry.task
        if entry.store is not None:
            await entry.store.close()
        entry.directory.cleanup()
        return True

    async def close_all(self) -> None:
        """Close every bundle (the server is stopping)."""
        for key in list(self.entries):
            await self.close(key)


def new_id() -> str:
    """A bundle id for URLs: random, not guessable."""
    return secrets.token_urlsafe(12)


class OpenedDispatch:
    """The ASGI app mounted at `/bundles`: `/bundles/<id>/…` goes to that bundle's viewer app."""

    def __init__(self, bundles: OpenedBundles) -> None:
        self.bundles = bundles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        key, _, _ = route_path(scope).lstrip("/").partition("/")
        entry = self.bundles.get(key)
        if entry is None or entry.app is None:
            response = error_response(
                404, "not_found", "no open bundle here (it was closed, or never opened)"
            )
            await response(scope, receive, send)
            return
        await entry.app({**scope, "root_path": f"{root}/{key}"}, receive, send)
