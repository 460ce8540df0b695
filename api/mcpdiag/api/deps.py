"""FastAPI dependencies as `Annotated` aliases: the caller (`CurrentUser`, `StaffUser`, `AdminUser`), the
`Store`, the access `Policy`, the `Settings`, and the strict query-string check."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mcpdiag.api.acl import AccessPolicy
from mcpdiag.api.auth import TokenVerifier
from mcpdiag.api.errors import ForbiddenError, InvalidParameterError
from mcpdiag.api.principal import Principal
from mcpdiag.api.settings import ApiSettings
from mcpdiag.emitters.redact import quoted, redact_text
from mcpdiag.store.base import EventStore

_PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.$\[\]-]{0,39}")
"""What a query parameter's name looks like (`from`, `includeDetail`, `severity[$ne]`): shown unquoted."""

_bearer = HTTPBearer(auto_error=False, description="A JWT signed with MCPDIAG_JWT_SECRET or a JWKS key")


async def get_settings(request: Request) -> ApiSettings:
    """The settings the app was created with."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


async def get_store(request: Request) -> EventStore:
    """The app's event store (opened by the lifespan)."""
    store: EventStore = request.app.state.store
    return store


async def get_policy(request: Request) -> AccessPolicy:
    """The access policy loaded from the ACL file."""
    policy: AccessPolicy = request.app.state.policy
    return policy


async def get_verifier(request: Request) -> TokenVerifier:
    """The app's token verifier (holds the JWKS cache)."""
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


async def current_user(
    request: Request,
    verifier: Annotated[TokenVerifier, Depends(get_verifier)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 with `WWW-Authenticate: Bearer` for a missing or untrusted token."""
    principal = await verifier.principal(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


async def staff_user(principal: CurrentUser) -> Principal:
    """The caller, if support or admin; 403 otherwise."""
    if not principal.is_staff:
        raise ForbiddenError("this endpoint is for support and admins")
    return principal


async def admin_user(principal: CurrentUser) -> Principal:
    """The caller, if admin; 403 otherwise."""
    if not principal.is_admin:
        raise ForbiddenError("this endpoint is for admins")
    return principal


StaffUser = Annotated[Principal, Depends(staff_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
Store = Annotated[EventStore, Depends(get_store)]
Policy = Annotated[AccessPolicy, Depends(get_policy)]
Settings = Annotated[ApiSettings, Depends(get_settings)]


def strict_query(
    *, repeatable: Collection[str] = (), scalar: Collection[str] = ()
) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing query strings a typed endpoint would not notice: unknown or bracketed names
    (`severity[$ne]=`), a scalar given twice, or a JSON object/array where a plain value belongs."""
    known = {*repeatable, *scalar}

    # Every dependency here is `async def`: FastAPI runs plain `def` ones in a worker thread (a costly hop).
    async def check(request: Request) -> None:
        seen: set[str] = set()
        for name, value in request.query_params.multi_items():
            if name not in known:
                # The name is the caller's text: shown as it is when it reads as a parameter name and holds
                # nothing to redact, else quoted as any refused value is (redacted, short).
                plain = _PARAMETER_NAME.fullmatch(name) is not None and redact_text(name) == name
                raise InvalidParameterError(name if plain else quoted(name), "unknown query parameter")
            if name in seen and name not in repeatable:
                raise InvalidParameterError(name, "given more than once")
            seen.add(name)
            if value.lstrip()[:1] in ("{", "[") or "\x00" in value:
                raise InvalidParameterError(name, "must be a plain value, not a JSON object or array")

    return check
