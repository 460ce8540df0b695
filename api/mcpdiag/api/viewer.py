"""A read-only app over one opened bundle: the usual UI and query API on a throwaway store.

`mcpdiag open` serves one on loopback; a running server mounts one per bundle an admin opened, under
`/bundles/<id>/` (`routes/opened.py`). It has the read routes only — servers, cards, the drawer's
timeline, problems, timelines, Overview, Debug ID lookups, guides — and no ingest, no admin, no export or
import, no doctor: any request but GET and HEAD is refused (403 `read_only`) before routing. Its one
caller is a support viewer (role `support`), signed in with a token only this app accepts (`ViewerSigner`
keys are born with the app); `/api/me` also says which bundle this is, for the UI's banner.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from mcpdiag.api.acl import AccessPolicy
from mcpdiag.api.auth import DevSigner, TokenVerifier
from mcpdiag.api.deps import CurrentUser
from mcpdiag.api.errors import install_api_error_handlers
from mcpdiag.api.routes import debug, diagnostics, guides, overview, problems, session, status
from mcpdiag.api.routes.ui import mount_ui
from mcpdiag.api.settings import ApiSettings
from mcpdiag.bundle.load import BundleInfo
from mcpdiag.collector.bodybound import BodyBound
from mcpdiag.collector.handlers import error_response
from mcpdiag.collector.logging import RequestIdMiddleware
from mcpdiag.store.base import EventStore

VIEWER_USER = "support-viewer"
TOKEN_TTL_S = 12 * 3600
READ_METHODS = frozenset({"GET", "HEAD"})


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class OpenedBundle(_Camel):
    """The bundle a viewer shows: the banner's name, window and host, and its counts."""

    name: str
    generated_at: str
    hostname: str
    window_from: str
    window_to: str
    events: int
    failures: int
    servers: list[dict[str, Any]]
    loaded: int
    skipped: int


class ViewerMe(_Camel):
    """The viewer's caller, and the bundle it is looking at."""

    user_id: str
    role: str
    groups: list[str]
    bundle: OpenedBundle


class ViewerSigner(DevSigner):
    """Signs the viewer's tokens with a key only this app has (like the development signer)."""

    def token(self, settings: ApiSettings, ttl_s: int = TOKEN_TTL_S) -> str:
        """A support viewer's token for this app."""
        now = int(time.time())
        return self.sign(
            {
                "sub": VIEWER_USER,
                "iat": now,
                "exp": now + ttl_s,
                "jti": secrets.token_hex(8),
                settings.roles_claim: ["support"],
                settings.servers_claim: "*",
            }
        )


class ReadOnly(BaseHTTPMiddleware):
    """Refuses every request but GET and HEAD, before any route runs."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method not in READ_METHODS:
            return error_response(
                403, "read_only", "this is a read-only view of a support bundle: nothing can be changed"
            )
        return await call_next(request)


def viewer_settings() -> ApiSettings:
    """API settings that trust no configured secret or JWKS: only the viewer's own tokens."""
    return ApiSettings(
        _env_file=None,
        jwt_secret=None,
        jwt_accepted_secrets=(),
        jwks_url=None,
        jwt_issuer=None,
        jwt_audience=None,
        acl_file=None,
        dev_mode=False,
        otlp_endpoint=None,
    )


def create_viewer_app(
    store: EventStore, info: BundleInfo, *, loaded: int, skipped: int = 0, signer: ViewerSigner | None = None
) -> FastAPI:
    """The read-only app over `store` (already filled with the bundle's events; the caller closes it)."""
    settings = viewer_settings()
    signer = signer or ViewerSigner()
    app = FastAPI(title="mcpdiag bundle viewer", version="0.1.0", openapi_url=None, docs_url=None)
    app.state.api_settings = settings
    app.state.policy = AccessPolicy.from_file(None)
    app.state.verifier = TokenVerifier(settings, dev_signer=signer)
    app.state.dev_signer = signer
    app.state.store = store
    app.state.viewer_token = signer.token(settings)
    opened = OpenedBundle(**info.to_dict() | {"loaded": loaded, "skipped": skipped})

    @app.get("/api/me", response_model=ViewerMe, response_model_by_alias=True)
    async def me(principal: CurrentUser) -> ViewerMe:
        """The support viewer, and the bundle this app shows."""
        return ViewerMe(user_id=principal.user_id, role=principal.role.value, groups=[], bundle=opened)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in (
        diagnostics.router,
        problems.router,
        overview.router,
        status.router,
        debug.router,
        session.router,
        guides.router,
    ):
        app.include_router(router)
    mount_ui(app)
    install_api_error_handlers(app)
    app.add_middleware(ReadOnly)
    app.add_middleware(BodyBound)
    app.add_middleware(RequestIdMiddleware)
    return app
