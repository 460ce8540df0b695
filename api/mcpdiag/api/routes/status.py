"""`GET /api/mcp/connection/status`: the state of every server card the caller can see."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from mcpdiag.api.deps import CurrentUser, Policy, Store, strict_query
from mcpdiag.api.models import ConnectionStatusResponse
from mcpdiag.api.routes.common import error_responses
from mcpdiag.api.status import connection_status

router = APIRouter(prefix="/api/mcp", tags=["status"])


@router.get(
    "/connection/status",
    response_model=ConnectionStatusResponse,
    responses=error_responses(),
    dependencies=[Depends(strict_query())],
    summary="Connection state, OAuth need and last error of every server the caller can access",
)
async def status(principal: CurrentUser, store: Store, policy: Policy) -> ConnectionStatusResponse:
    """Every server the caller can access, with its state derived from the latest visible connection
    event (see `mcpdiag.api.status` for the rule). Servers without events answer `unknown`."""
    servers = policy.names(principal, await store.list_servers())
    states = await connection_status(
        store, servers, user_id=None if principal.is_staff else principal.user_id
    )
    return ConnectionStatusResponse(connection_status=states)
