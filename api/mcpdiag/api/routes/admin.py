"""`GET /api/admin/audit`: the audit log of Debug ID lookups and bundle exports, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from mcpdiag.api.deps import AdminUser, Store, strict_query
from mcpdiag.api.models import AuditPage, AuditRecord
from mcpdiag.api.routes.common import error_responses
from mcpdiag.store.base import MAX_PAGE

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get(
    "/audit",
    response_model=AuditPage,
    responses=error_responses(403),
    dependencies=[Depends(strict_query(scalar=("cursor", "limit")))],
    summary="The audit log, newest first",
)
async def audit(
    principal: AdminUser,
    store: Store,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPage:
    """Who looked up which Debug ID or exported which bundle, when, in which scope."""
    page = await store.audit_page(limit=limit, cursor=cursor)
    return AuditPage(
        items=[AuditRecord.model_validate(item) for item in page.items], next_cursor=page.next_cursor
    )
