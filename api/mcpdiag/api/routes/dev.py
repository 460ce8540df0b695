"""Development mode only: demo users and a token endpoint so the UI can be tried without an identity
provider. The router is not mounted at all unless `MCPDIAG_DEV_MODE=1`."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mcpdiag.api.auth import DevSigner
from mcpdiag.api.deps import Settings
from mcpdiag.api.errors import InvalidParameterError

router = APIRouter(prefix="/api/dev", tags=["dev"])
TOKEN_TTL_S = 8 * 3600


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DemoUser(_Camel):
    """A user the demo can sign in as."""

    user_id: str
    label: str
    role: str
    description: str
    groups: list[str] = Field(default_factory=list)
    servers: list[str] | str = Field(default_factory=list)


DEMO_USERS = (
    DemoUser(
        user_id="alice",
        label="Alice — end user",
        role="user",
        description="Sees her own diagnostics and server-wide ones on the servers she uses.",
        groups=["engineering"],
        servers=["github", "jira", "notion", "docs-search", "local-files", "weather"],
    ),
    DemoUser(
        user_id="bob",
        label="Bob — end user",
        role="user",
        description="Uses fewer servers; never sees Alice's events.",
        groups=["sales"],
        servers=["github", "weather"],
    ),
    DemoUser(
        user_id="sam",
        label="Sam — support",
        role="support",
        description="Reads every server and the technical detail; looks up Debug IDs.",
    ),
    DemoUser(
        user_id="ada",
        label="Ada — admin",
        role="admin",
        description="Everything support can do, plus support bundles and the audit log.",
    ),
)


class DemoUsers(_Camel):
    """The demo users."""

    users: list[DemoUser]


class TokenRequest(_Camel):
    """Which demo user to sign in as."""

    user_id: str = Field(max_length=64)


class TokenResponse(_Camel):
    """A bearer token for the UI."""

    token: str
    expires_in: int


@router.get("/users", response_model=DemoUsers, response_model_by_alias=True)
async def users() -> DemoUsers:
    """The demo users (development mode only)."""
    return DemoUsers(users=list(DEMO_USERS))


@router.post("/token", response_model=TokenResponse, response_model_by_alias=True)
async def token(body: TokenRequest, settings: Settings, request: Request) -> TokenResponse:
    """A short-lived token for a demo user (development mode only), signed with this process's own
    development key: only this instance accepts it."""
    user = next((u for u in DEMO_USERS if u.user_id == body.user_id), None)
    if user is None:
        raise InvalidParameterError("userId", "not a demo user")
    signer: DevSigner = request.app.state.dev_signer
    now = int(time.time())
    claims = {
        "sub": user.user_id,
        "iat": now,
        "exp": now + TOKEN_TTL_S,
        settings.roles_claim: [user.role] if user.role != "user" else [],
        settings.groups_claim: user.groups,
        settings.servers_claim: user.servers,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return TokenResponse(token=signer.sign(claims), expires_in=TOKEN_TTL_S)
