"""Errors of the query API, and their HTTP face: `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mcpdiag.collector.handlers import error_response, install_error_handlers, unreadable_json
from mcpdiag.store.errors import InvalidCursorError, InvalidQueryError, StoreUnavailableError

log = structlog.get_logger("mcpdiag.api.http")

BEARER_CHALLENGE = 'Bearer realm="mcpdiag"'


class ApiError(Exception):
    """Base class of the API's errors: `status` is the HTTP status, `code` the machine-readable code."""

    status = 400
    code = "api_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidParameterError(ApiError):
    """A query or path parameter with a bad value; the message starts with the parameter's name (400)."""

    code = "invalid_parameter"

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class AuthenticationError(ApiError):
    """No token, or one that is malformed, unsigned, expired or meant for someone else (401)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        error = "invalid_request" if message.startswith("missing") else "invalid_token"
        super().__init__(message, headers={"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="{error}"'})


class ForbiddenError(ApiError):
    """A verified caller whose role does not allow the endpoint (403)."""

    status = 403
    code = "forbidden"


class NotFoundError(ApiError):
    """Nothing there, or nothing the caller may see: the two answer alike (404)."""

    status = 404
    code = "not_found"


class IdentityProviderUnavailableError(ApiError):
    """The JWKS endpoint could not be reached, so no token can be checked right now (503)."""

    status = 503
    code = "identity_provider_unavailable"


class AmbiguousDebugIdError(ApiError):
    """A Debug ID prefix that matches several traces (409); `candidates` are their first 12 characters."""

    status = 409
    code = "ambiguous_debug_id"

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        super().__init__(
            f"debugId: {prefix!r} matches {len(candidates)} traces ({', '.join(candidates)}); "
            "paste more characters"
        )
        self.candidates = candidates


class RateLimitedError(ApiError):
    """Too many runs of a rate-limited operation (the MCP doctor) by one user (429)."""

    status = 429
    code = "rate_limited"


class DoctorUnavailableError(ApiError):
    """The MCP SDK (the `mcp` extra) is not installed in this deployment (503)."""

    status = 503
    code = "doctor_unavailable"


class PayloadTooLargeError(ApiError):
    """An upload over its bound (413)."""

    status = 413
    code = "payload_too_large"


class ImportBusyError(ApiError):
    """An import is already running in this process (409): one at a time, so each gets the whole store."""

    status = 409
    code = "import_running"


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    log.info("request refused", status=exc.status, code=exc.code, message=exc.message)
    response = error_response(exc.status, exc.code, exc.message, exc.headers)
    return response


async def _invalid_query(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidQueryError)
    name = "from" if exc.field == "since" else "to" if exc.field == "until" else exc.field
    return error_response(400, "invalid_parameter", f"{name}: {str(exc).partition(': ')[2]}")


async def _invalid_cursor(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, "invalid_cursor", f"cursor: {exc}")


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable", error=str(exc))
    return error_response(
        503, "store_unavailable", "the event store is unavailable; retry shortly", {"Retry-After": "1"}
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if (unreadable := unreadable_json(first)) is not None:
        return unreadable
    # ("query", "code", 0) names the parameter `code`: list positions and the location kind are noise here.
    skip = ("query", "path", "header", "body")
    loc = [str(part) for part in first.get("loc", ()) if part not in skip and not isinstance(part, int)]
    name = ".".join(loc) or "request"
    return error_response(400, "invalid_parameter", f"{name}: {first.get('msg', 'invalid value')}")


def install_api_error_handlers(app: FastAPI) -> None:
    """The collector's handlers plus the API's: bad parameters and cursors → 400, store down → 503."""
    install_error_handlers(app)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidQueryError, _invalid_query)
    app.add_exception_handler(InvalidCursorError, _invalid_cursor)
    app.add_exception_handler(StoreUnavailableError, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
