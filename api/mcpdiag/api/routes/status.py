"""`GET /api/mcp/connection/status`: the state of every server card the caller can see, a page at a time."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mcpdiag.api.deps import CurrentUser, Policy, Store, strict_query
from mcpdiag.api.errors import InvalidParameterError
from mcpdiag.api.models import ConnectionStatusResponse
from mcpdiag.api.principal import ALL_SERVERS, Principal
from mcpdiag.api.routes.common import error_responses
from mcpdiag.api.status import connection_status
from mcpdiag.store import EventStore

router = APIRouter(prefix="/api/mcp", tags=["status"])
MAX_STATUS_PAGE = 1000


def _cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).rstrip(b"=").decode()


def _after(cursor: str | None) -> str | None:
    """The last server name of the previous page (cursors are the name, base64url: positions, not secrets)."""
    if cursor is None:
        return None
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidParameterError("cursor", "is not a cursor of this listing") from None
    if not 0 < len(name) <= 128:
        raise InvalidParameterError("cursor", "is not a cursor of this listing")
    return name


async def server_page(
    store: EventStore, policy: Policy, principal: Principal, *, after: str | None, limit: int
) -> tuple[list[str], str | None]:
    """The next `limit` names the caller can access after `after`, and the cursor of the page after.

    Staff walk the store's sorted server list (with the ACL's and their claim's names merged in); a user's
    names are their grants, a bounded list, paged in memory."""
    if principal.is_staff or ALL_SERVERS in principal.servers:
        stored = await store.list_servers(after=after, limit=limit + 1)
        named = {
            n for n in {*policy.servers, *principal.servers} - {ALL_SERVERS} if after is None or n > after
        }
        # Names from the ACL or the claim join the store's page only up to where the store's page ends:
        # beyond it, stored names not fetched yet may sort before them.
        boundary = stored[limit] if len(stored) > limit else None
        candidates = sorted({*stored, *(n for n in named if boundary is None or n <= boundary)})
    else:
        candidates = [n for n in policy.names(principal, ()) if after is None or n > after]
    page = candidates[:limit]
    return page, _cursor(page[-1]) if len(candidates) > limit else None


@router.get(
    "/connection/status",
    response_model=ConnectionStatusResponse,
    responses=error_responses(),
    dependencies=[Depends(strict_query(scalar=("limit", "cursor")))],
    summary="Connection state, OAuth need and last error of every server the caller can access",
)
async def status(
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    limit: Annotated[int, Query(ge=1, le=MAX_STATUS_PAGE, description="Servers per page")] = 500,
    cursor: Annotated[
        str | None, Query(max_length=256, description="`nextCursor` of the previous page")
    ] = None,
) -> ConnectionStatusResponse:
    """Servers the caller can access, in name order, a page at a time, each with its state derived from
    the latest visible connection event (see `mcpdiag.api.status`). Servers without events answer
    `unknown`. Follow `nextCursor` until it is null."""
    servers, next_cursor = await server_page(store, policy, principal, after=_after(cursor), limit=limit)
    states = await connection_status(
        store, servers, user_id=None if principal.is_staff else principal.user_id
    )
    return ConnectionStatusResponse(connection_status=states, next_cursor=next_cursor)
