"""What the routes share: error responses for `/docs`, and the "404 unless you may see it" server check."""

from __future__ import annotations

from typing import Any

from mcpdiag.api.acl import AccessPolicy
from mcpdiag.api.errors import NotFoundError
from mcpdiag.api.principal import Principal
from mcpdiag.collector.handlers import ErrorBody
from mcpdiag.emitters.redact import quoted
from mcpdiag.store.base import EventStore

_DESCRIPTIONS = {
    400: "A bad parameter (`invalid_parameter`, the message names it) or a tampered cursor",
    401: "Missing, malformed, unsigned, expired or wrongly addressed token (with `WWW-Authenticate: Bearer`)",
    403: "The caller's role does not allow this endpoint",
    404: "No such server or Debug ID, or none the caller may see (the two answer alike)",
    409: "A Debug ID prefix matching several traces",
    429: "Too many at once for one caller (the message says how many are allowed)",
    503: "The event store (or the JWKS endpoint) is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route answering with these error statuses."""
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in (400, 401, 503, *statuses)}


def not_found(server: str) -> NotFoundError:
    """The one answer for a server that does not exist and for one the caller may not access."""
    return NotFoundError(f"server {quoted(server)} not found")


def check_access(policy: AccessPolicy, principal: Principal, server: str) -> None:
    """Raise 404 unless `principal` may access `server`."""
    if not policy.can_access(principal, server):
        raise not_found(server)


async def check_exists(store: EventStore, policy: AccessPolicy, principal: Principal, server: str) -> None:
    """Raise 404 unless `server` has stored events, an ACL entry, or is named in the caller's claim."""
    if policy.is_named(principal, server):
        return
    if not await store.has_server(server):
        raise not_found(server)
