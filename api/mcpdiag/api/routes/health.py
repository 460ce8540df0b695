"""`GET /healthz` (the process answers) and `GET /readyz` (the store answers too)."""

from __future__ import annotations

from fastapi import APIRouter

from mcpdiag.api.deps import Store
from mcpdiag.api.models import Health, Readiness
from mcpdiag.api.routes.common import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up and serving."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: error_responses()[503]}, summary="Readiness")
async def readyz(store: Store) -> Readiness:
    """The event store answers; 503 `store_unavailable` otherwise."""
    await store.ping()
    return Readiness(store=type(store).__name__)
