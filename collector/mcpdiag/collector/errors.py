"""Errors raised by the collector: ingest requests it refuses, and a damaged spool."""

from __future__ import annotations


class CollectorError(Exception):
    """Base class of every collector error; `code` is the machine-readable error code."""

    code = "collector_error"


class SpoolCorruptError(CollectorError):
    """A spooled batch whose framing or checksum does not match: torn or damaged on disk."""

    code = "spool_corrupt"


class IngestError(CollectorError):
    """A request the ingest endpoints refuse; `status` is the HTTP status, `code` the error code."""

    status = 400
    code = "invalid_request"

    def __init__(
        self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidBodyError(IngestError):
    """A body that is empty, not valid JSON, nested too deeply or shaped wrongly (400)."""

    code = "invalid_body"


class RequestTimeoutError(IngestError):
    """A body that did not arrive within `MCPDIAG_BODY_TIMEOUT_S` (408): a stalled or slowloris client."""

    status = 408
    code = "request_timeout"


class UnauthorizedError(IngestError):
    """A missing or unknown ingest key (401)."""

    status = 401
    code = "unauthorized"


class PayloadTooLargeError(IngestError):
    """A body, an event or an event count over its limit (413)."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(IngestError):
    """A content type or content encoding the endpoint does not speak (415)."""

    status = 415
    code = "unsupported_media_type"


class OverloadedError(IngestError):
    """The collector cannot take more events right now; the client should retry after `Retry-After` (503)."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class SpoolFullError(OverloadedError):
    """The store is down and the spool has reached `MCPDIAG_SPOOL_MAX_MB` (503)."""

    code = "spool_full"
