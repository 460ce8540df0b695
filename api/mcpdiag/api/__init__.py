"""mcpdiag.api: the FastAPI app, auth/RBAC, routes, the bundle exporter and the `mcpdiag` CLI.

The names below are imported on first use (`mcpdiag.emitters.lazy`): importing a submodule such as the
bundle's leak scanner does not load the web stack.
"""

from __future__ import annotations

import typing

from mcpdiag.emitters.lazy import lazy_exports

if typing.TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "mcpdiag.api.acl": ("AccessPolicy", "AclFileError", "ServerAcl", "can_see_event", "visible_event"),
        "mcpdiag.api.app": ("create_app",),
        "mcpdiag.api.audit": ("record_audit",),
        "mcpdiag.api.auth": ("TokenVerifier",),
        "mcpdiag.api.errors": (
            "AmbiguousDebugIdError",
            "ApiError",
            "AuthenticationError",
            "ForbiddenError",
            "IdentityProviderUnavailableError",
            "InvalidParameterError",
            "NotFoundError",
        ),
        "mcpdiag.api.principal": ("ALL_SERVERS", "Principal", "Role"),
        "mcpdiag.api.settings": ("ApiSettings", "get_api_settings"),
        "mcpdiag.api.status": ("connection_status",),
    },
)
