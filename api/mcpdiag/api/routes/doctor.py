"""`POST /api/mcp/doctor`: test an MCP server configuration layer by layer before saving it.

SSRF-safe by default (only public addresses, re-checked on every connection and redirect), rate limited per
user, bounded in time, HTTP transports only (stdio would run arbitrary commands). Headers are secrets:
never echoed, never stored. Every run is stored as an `inspection` event under its Debug ID.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from mcpdiag.api.deps import CurrentUser, Settings
from mcpdiag.api.errors import DoctorUnavailableError, InvalidParameterError, RateLimitedError
from mcpdiag.api.routes.common import error_responses
from mcpdiag.collector.handlers import ErrorBody
from mcpdiag.collector.runtime import CollectorRuntime
from mcpdiag.emitters import CallableSink, Emitter
from mcpdiag.emitters.sinks import WireEvent

router = APIRouter(prefix="/api/mcp", tags=["doctor"])

MAX_HEADERS = 20
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "proxy-authorization"}
)
_STORE_WAIT_S = 10.0


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class DoctorRequest(_Camel):
    """The server configuration to test."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="The MCP endpoint, http:// or https://")
    transport: Literal["streamable-http", "sse"] = Field(
        default="streamable-http", description="stdio is refused here: use `mcpdiag doctor --stdio`"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Sent with every request; treated as secrets, never echoed"
    )

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name[:64]!r} is not a valid header name")
            if name.lower() in _FORBIDDEN_HEADERS:
                raise ValueError(f"{name} cannot be set")
            if len(text) > 8192 or any(c in text for c in "\r\n\x00"):
                raise ValueError(f"the value of {name} is too long or has line breaks")
        return value


class DoctorStepOut(_Camel):
    """One layer of the ladder; `detail` is null unless the caller is support or admin."""

    name: Literal["dns", "tcp", "tls", "http", "mcp", "oauth", "tools"]
    status: Literal["ok", "fail", "skipped", "warn"]
    duration_ms: float | None
    summary: str
    detail: str | None


class DoctorResult(_Camel):
    """The verdict: the first failure's catalog code and step, every step, the Debug ID and the action."""

    ok: bool
    code: str | None
    failed_step: str | None
    steps: list[DoctorStepOut]
    debug_id: str
    action: str | None
    guide: str | None = Field(
        default=None, description="The failure code's troubleshooting guide (GET /api/guides/{code})"
    )


class RateLimiter:
    """A sliding one-minute window of runs per user."""

    def __init__(self) -> None:
        self._runs: dict[str, deque[float]] = {}

    def check(self, user_id: str, per_minute: int) -> None:
        """Count a run for `user_id`; `RateLimitedError` when over `per_minute`."""
        now = time.monotonic()
        for user in [u for u, runs in self._runs.items() if not runs or runs[-1] < now - 60]:
            del self._runs[user]  # forget users idle for a minute: memory stays bounded
        runs = self._runs.setdefault(user_id, deque())
        while runs and runs[0] < now - 60:
            runs.popleft()
        if len(runs) >= per_minute:
            wait = max(1, int(runs[0] + 60 - now) + 1)
            raise RateLimitedError(
                f"at most {per_minute} connection tests per minute; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        runs.append(now)


def _limiter(app: FastAPI) -> RateLimiter:
    limiter: RateLimiter | None = getattr(app.state, "doctor_limiter", None)
    if limiter is None:
        limiter = app.state.doctor_limiter = RateLimiter()
    return limiter


def _store_sink(app: FastAPI) -> CallableSink:
    """A sink handing events to this app's collector pipeline (validated and redacted again)."""
    runtime: CollectorRuntime = app.state.collector
    loop = asyncio.get_running_loop()

    async def store(events: list[WireEvent]) -> None:
        intake = runtime.validator.check(events)
        if intake.events:
            await runtime.pipeline.submit(intake.events)

    def send(events: list[WireEvent]) -> None:
        # The emitter's worker is a thread: the pipeline lives on the app's event loop.
        asyncio.run_coroutine_threadsafe(store(events), loop).result(_STORE_WAIT_S)

    return CallableSink(send)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(),
    429: {"model": ErrorBody, "description": "Too many connection tests; see Retry-After"},
}


@router.post(
    "/doctor",
    response_model=DoctorResult,
    response_model_by_alias=True,
    responses=_RESPONSES,
    summary="Test an MCP server configuration layer by layer (dns, tcp, tls, http, mcp, oauth, tools)",
)
async def doctor(body: DoctorRequest, principal: CurrentUser, settings: Settings, request: Request) -> Any:
    """Walk the ladder and stop at the first failing step. Loopback, private, link-local and metadata
    addresses are refused (on every resolved address and every redirect) unless
    `MCPDIAG_DOCTOR_ALLOW_PRIVATE=1` or the host is in `MCPDIAG_DOCTOR_ALLOWED_DOMAINS`."""
    try:  # the doctor needs the MCP SDK (`mcpdiag[mcp]`); the rest of the API does not
        from mcpdiag.doctor import DoctorOptions, TargetError, policy_from, run_doctor
    except ImportError:
        raise DoctorUnavailableError("the connection test needs the MCP SDK: install mcpdiag[mcp]") from None
    _limiter(request.app).check(principal.user_id, settings.doctor_rate_per_minute)
    options = DoctorOptions(
        transport=body.transport,
        headers=body.headers,
        policy=policy_from(settings.doctor_allow_private, settings.doctor_allowed_hosts),
        timeout_s=settings.doctor_timeout_s,
    )
    emitter = Emitter(_store_sink(request.app), service="mcpdiag-doctor", flush_interval=0.05)
    try:
        report = await run_doctor(body.url, options, emitter=emitter, user_id=principal.user_id)
    except TargetError as exc:
        raise InvalidParameterError("url", str(exc).partition(": ")[2]) from None
    finally:
        await emitter.aclose(_STORE_WAIT_S)
    return report.to_dict(include_detail=principal.is_staff)
