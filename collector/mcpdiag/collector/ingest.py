"""The ingest router: `POST /v1/events` (JSON or NDJSON batches) and `POST /v1/logs` (OTLP/HTTP logs)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from mcpdiag.collector.auth import check_ingest_key, presented_key
from mcpdiag.collector.body import (
    JSON,
    MAX_BODY_BYTES,
    NDJSON,
    PROTOBUF,
    media_type,
    parse_events,
    read_body,
)
from mcpdiag.collector.budget import key_id
from mcpdiag.collector.errors import InvalidBodyError, RequestTimeoutError, UnsupportedMediaTypeError
from mcpdiag.collector.handlers import ErrorBody
from mcpdiag.collector.lane import Steps
from mcpdiag.collector.otlp import body_events, encode_response
from mcpdiag.collector.runtime import CollectorRuntime, get_runtime
from mcpdiag.collector.validation import Intake, Rejection
from mcpdiag.emitters.redact import quoted

log = structlog.get_logger("mcpdiag.collector.ingest")

Runtime = Annotated[CollectorRuntime, Depends(get_runtime)]


def require_ingest_key(request: Request, runtime: Runtime) -> None:
    """Refuse (401) a request without one of the configured ingest keys; count the key that matched."""
    check_ingest_key(request.headers, runtime.settings.ingest_keys)
    # By a digest, never the key: during a rotation this tells when no host uses the old key any more.
    runtime.metrics.key_requests.labels(key_id(presented_key(request.headers))).inc()


class IngestResponse(BaseModel):
    """How many events will be stored, and why each refused one was refused."""

    accepted: int
    rejected: list[Rejection]


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Empty body, malformed JSON or protobuf, wrong shape (`empty_body`, `invalid_json`, ...)",
        401: "Missing or unknown ingest key (`unauthorized`)",
        408: "The body did not arrive within `MCPDIAG_BODY_TIMEOUT_S` (`request_timeout`)",
        413: "Body over 8 MiB decompressed, over 1000 events or log records, or an event over 16 KiB",
        415: "Content-Type or Content-Encoding not supported",
        503: "Queue or spool full, or shutting down; retry after `Retry-After` seconds",
    }.items()
}

router = APIRouter(tags=["ingest"], dependencies=[Depends(require_ingest_key)])
EVENTS_PATH = "/v1/events"
LOGS_PATH = "/v1/logs"
INGEST_BODIES = {EVENTS_PATH: MAX_BODY_BYTES, LOGS_PATH: MAX_BODY_BYTES}
"""The ingest routes' bodies, which they read themselves (`read_body`), and their bound (`BodyBound`)."""


async def _body(request: Request, runtime: CollectorRuntime) -> bytes:
    # uvicorn bounds idle keep-alive connections but not a body that trickles in: without a deadline a
    # slowloris client holds a connection (and a request slot) for as long as it likes.
    timeout = runtime.settings.body_timeout_s
    try:
        async with asyncio.timeout(timeout):
            return await read_body(
                request.stream(),
                content_encoding=request.headers.get("content-encoding"),
                content_length=request.headers.get("content-length"),
            )
    except ClientDisconnect as exc:
        raise InvalidBodyError(
            "the client went away before sending the whole body", code="incomplete_body"
        ) from exc
    except TimeoutError as exc:
        raise RequestTimeoutError(f"the request body did not arrive within {timeout:g} s") from exc


async def _store(runtime: CollectorRuntime, intake: Intake, endpoint: str, key: str | None) -> None:
    """Hand the valid events to the pipeline and wait until they are stored or durably spooled."""
    await runtime.pipeline.submit(intake.events, key_id=key_id(key))
    metrics = runtime.metrics
    metrics.accepted.labels(endpoint).inc(len(intake.events))
    metrics.count_events(intake.events)
    if intake.rejected:
        metrics.rejected.labels(endpoint).inc(len(intake.rejected))
    for rule, count in intake.redactions.items():
        metrics.redactions.labels(rule).inc(count)
    log.info("events ingested", endpoint=endpoint, accepted=len(intake.events), rejected=len(intake.rejected))


@router.post(
    EVENTS_PATH,
    status_code=202,
    response_model=IngestResponse,
    responses=_ERRORS,
    summary="Ingest diagnostic events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": {"type": "object", "properties": {"events": {"type": "array"}}}},
                NDJSON: {"schema": {"type": "string", "description": "one event per line"}},
            },
        }
    },
)
async def post_events(request: Request, runtime: Runtime) -> IngestResponse:
    """Store the valid events of a batch; each invalid one is reported by index with the field at fault.

    The 202 is sent once every accepted event is in the store or fsynced to the spool.
    """
    content_type = request.headers.get("content-type")
    if media_type(content_type) not in (JSON, NDJSON):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be {JSON} or {NDJSON}, got {quoted(media_type(content_type) or 'none')}"
        )
    body = await _body(request, runtime)

    def check() -> Steps[Intake]:
        items = parse_events(body, content_type)
        yield
        return (yield from runtime.validator.check_steps(items))

    # Parsing and validating a thousand events is CPU work: off the event loop, so other requests move, on
    # one thread with the requests taking turns (`CheckLane`: several threads under the GIL took longer).
    intake = await runtime.checks.run_steps(check())
    key = presented_key(request.headers)
    runtime.budget.admit(intake, key)
    await _store(runtime, intake, "events", key)
    return IngestResponse(accepted=len(intake.events), rejected=intake.rejected)


@router.post(
    LOGS_PATH,
    responses={
        200: {
            "description": "ExportLogsServiceResponse, in the request's encoding",
            "content": {PROTOBUF: {}, JSON: {}},
        },
        **_ERRORS,
    },
    summary="Ingest OTLP/HTTP logs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                JSON: {"schema": {"type": "object", "description": "OTLP/JSON ExportLogsServiceRequest"}},
            },
        }
    },
)
async def post_logs(request: Request, runtime: Runtime) -> Response:
    """Store one event per OTLP log record; records naming no server are counted as rejected."""
    kind = media_type(request.headers.get("content-type"))
    if kind not in (PROTOBUF, JSON):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be {PROTOBUF} or {JSON}, got {quoted(kind or 'none')}"
        )
    body = await _body(request, runtime)

    def check() -> Steps[Intake]:
        items = body_events(body, kind)
        yield
        return (yield from runtime.validator.check_steps(items, truncate_detail=True))

    intake = await runtime.checks.run_steps(check())
    key = presented_key(request.headers)
    runtime.budget.admit(intake, key)
    await _store(runtime, intake, "logs", key)
    content, content_type = encode_response(intake.rejected, kind)
    return Response(content, media_type=content_type)
