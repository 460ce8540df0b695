"""`GET /healthz` (the process answers) and `GET /readyz` (the store answers and the spool has room)."""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mcpdiag.api.deps import Store
from mcpdiag.api.models import Health, Readiness
from mcpdiag.collector.handlers import ErrorDetail
from mcpdiag.collector.runtime import CollectorRuntime

log = structlog.get_logger("mcpdiag.api.health")

router = APIRouter(tags=["health"])

# Below a probe's usual timeout, so a hung store answers 503 instead of letting the probe time out.
PING_TIMEOUT_S = 2.0


class ReadinessChecks(BaseModel):
    """The outcome of each readiness check."""

    store: Literal["ok", "unavailable"]
    spool: Literal["ok", "full"]


class NotReadyDetail(ErrorDetail):
    """The first failing check as `code`, every failing one in `message`, and each outcome in `checks`."""

    checks: ReadinessChecks


class NotReady(BaseModel):
    """Not ready: the usual error shape, with the outcome of each check."""

    error: NotReadyDetail


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up and serving."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": NotReady,
            "description": "`store_unavailable` (the store does not answer) or `spool_full` (no room left "
            "to spool while the store is down)",
        }
    },
    summary="Readiness",
)
async def readyz(request: Request, store: Store) -> Readiness | JSONResponse:
    """Ready when the event store answers and ingest is not refusing events for a full spool; else 503."""
    failures: list[tuple[str, str]] = []
    store_ok = await _store_answers(store)
    if not store_ok:
        failures.append(("store_unavailable", f"the event store ({type(store).__name__}) does not answer"))
    runtime: CollectorRuntime = request.app.state.collector
    spool = runtime.spool
    # The condition ingest refuses on: a full spool still draining into a healthy store takes new events.
    spool_full = spool.full and not runtime.pipeline.store_healthy
    if spool_full:
        failures.append(
            (
                "spool_full",
                f"the spool is full ({spool.size_bytes} of {spool.max_bytes} bytes) and the store is not "
                "taking writes: new events are refused",
            )
        )
    if not failures:
        return Readiness(store=type(store).__name__)
    checks = ReadinessChecks(store="ok" if store_ok else "unavailable", spool="full" if spool_full else "ok")
    detail = NotReadyDetail(
        code=failures[0][0], message="; ".join(message for _, message in failures), checks=checks
    )
    return JSONResponse(NotReady(error=detail).model_dump(), status_code=503, headers={"Retry-After": "5"})


async def _store_answers(store: Store) -> bool:
    try:
        await asyncio.wait_for(store.ping(), PING_TIMEOUT_S)
    except Exception as exc:
        log.warning("readiness: store does not answer", error_type=type(exc).__name__, error=str(exc))
        return False
    return True
