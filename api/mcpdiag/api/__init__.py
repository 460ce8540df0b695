"""mcpdiag.api: the FastAPI app — auth/RBAC, routes and audit, HTTP only."""

from __future__ import annotations

from mcpdiag.api.acl import AccessPolicy, AclFileError, ServerAcl, can_see_event, visible_event
from mcpdiag.api.app import create_app
from mcpdiag.api.audit import record_audit
from mcpdiag.api.auth import TokenVerifier
from mcpdiag.api.errors import (
    AmbiguousDebugIdError,
    ApiError,
    AuthenticationError,
    ForbiddenError,
    IdentityProviderUnavailableError,
    InvalidParameterError,
    NotFoundError,
)
from mcpdiag.api.principal import ALL_SERVERS, Principal, Role
from mcpdiag.api.settings import ApiSettings, get_api_settings
from mcpdiag.api.status import connection_status

__all__ = [
    "ALL_SERVERS",
    "AccessPolicy",
    "AclFileError",
    "AmbiguousDebugIdError",
    "ApiError",
    "ApiSettings",
    "AuthenticationError",
    "ForbiddenError",
    "IdentityProviderUnavailableError",
    "InvalidParameterError",
    "NotFoundError",
    "Principal",
    "Role",
    "ServerAcl",
    "TokenVerifier",
    "can_see_event",
    "connection_status",
    "create_app",
    "get_api_settings",
    "record_audit",
    "visible_event",
]
