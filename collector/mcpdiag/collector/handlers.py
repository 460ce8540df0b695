"""The HTTP face of errors: `{"error": {"code", "message"}}` with the right status, never a trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from mcpdiag.collector.errors import CollectorError, IngestError
from mcpdiag.collector.logging import REDACTION
from mcpdiag.emitters.event import field_path
from mcpdiag.store import StoreError

log = structlog.get_logger("mcpdiag.collector.http")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    """What went wrong: a machine-readable code and a message naming the problem."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every endpoint answers with; its message redacted (it may quote what was sent)."""
    body = {"error": {"code": code, "message": shown_message(message)}}
    return JSONResponse(body, status_code=status, headers=headers)


def shown_message(message: str) -> str:
    """`message` as an error body shows it: redacted as our own prose is (`LogRedaction.prose`)."""
    return REDACTION.prose(message)


async def _ingest_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestError)
    runtime = getattr(request.app.state, "collector", None)
    if runtime is not None:
        runtime.metrics.requests_refused.labels(exc.code).inc()
    log.info("ingest request refused", status=exc.status, code=exc.code, message=exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _collector_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CollectorError | StoreError)
    log.warning("collector error", code=exc.code, error=str(exc))
    return error_response(503, exc.code, str(exc), {"Retry-After": "1"})


def unreadable_json(error: Mapping[str, Any]) -> JSONResponse | None:
    """The 400 for a JSON body FastAPI could not parse (its own message is only "JSON decode error"): what
    is wrong and where; None for any other validation error."""
    if error.get("type") != "json_invalid":
        return None
    at = tuple(error.get("loc", ()))[-1:]
    problem = str((error.get("ctx") or {}).get("error", "it cannot be read"))
    where = f" (at character {at[0]:,})" if at and isinstance(at[0], int) else ""
    return error_response(400, "invalid_json", f"the body is not valid JSON: {problem}{where}")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if (unreadable := unreadable_json(first)) is not None:
        return unreadable
    where = field_path(tuple(part for part in first.get("loc", ()) if part != "body")) or "request"
    return error_response(400, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", error_type=type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the request id identifies it in the logs")


def install_error_handlers(app: FastAPI) -> None:
    """Map collector errors, request validation and HTTP errors to the JSON error shape."""
    app.add_exception_handler(IngestError, _ingest_error)
    app.add_exception_handler(CollectorError, _collector_error)
    app.add_exception_handler(StoreError, _collector_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
