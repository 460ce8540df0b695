"""`POST /api/mcp/doctor`: test an MCP server configuration layer by layer before saving it.

SSRF-safe by default (only public addresses, re-checked on every connection and redirect), rate limited per
user, bounded in time, HTTP transports only (stdio would run arbitrary commands). Headers are secrets:
never echoed, never stored. Every run is stored as an `inspection` event under its Debug ID.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from mcpdiag.api.deps import CurrentUser, Policy, Settings
from mcpdiag.api.errors import DoctorUnavailableError, InvalidParameterError, RateLimitedError
from mcpdiag.api.routes.common import check_access, error_responses
from mcpdiag.collector.handlers import ErrorBody
from mcpdiag.collector.runtime import CollectorRuntime
from mcpdiag.emitters import CallableSink, Emitter
from mcpdiag.emitters.sinks import WireEvent

router = APIRouter(prefix="/api/mcp", tags=["doctor"])

MAX_HEADERS = 20
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "proxy-authorization"}
)
_STORE_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class DoctorNetwork:
    """The boundary a run crosses: DNS and the TLS trust store (None: the system's). Tests override the
    `doctor_network` dependency to resolve their test names to loopback servers."""

    resolver: Callable[[str, int], Awaitable[list[str]]] | None = None
    ssl_context: ssl.SSLContext | None = None


def doctor_network() -> DoctorNetwork:
    """The system resolver and trust store."""
    return DoctorNetwork()


class _Camel(BaseModel):
    # `hide_input_in_errors`: a request holds headers, which are secrets (the 422 says what is wrong).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, hide_input_in_errors=True)


class DoctorRequest(_Camel):
    """The server configuration to test."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str = Field(min_length=1, max_length=2048, description="The MCP endpoint, http:// or https://")
    transport: Literal["streamable-http", "sse"] = Field(
        default="streamable-http", description="stdio is refused here: use `mcpdiag doctor --stdio`"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Sent with every request; treated as secrets, never echoed"
    )
    server: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The server's name, when the configuration belongs to one the caller can access: the "
        "run is then stored as that server's inspection (and shows on its card). Without it the run is "
        "stored under its Debug ID only and adds no server card.",
    )

    @field_validator("server")
    @classmethod
    def _printable_server(cls, value: str | None) -> str | None:
        if value is not None and (_CONTROL.search(value) or not value.strip()):
            raise ValueError("must be a server name without control characters")
        return value

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_HEADERS:
            raise ValueError(f"at most {MAX_HEADERS} headers")
        for position, (name, text) in enumerate(value.items(), 1):
            if not _TOKEN.match(name):
                # Not quoted back: a header written wrong is most often a credential (`X-Api-Key=<key>`).
                raise ValueError(
                    f"header {position} has no valid name (letters, digits and !#$%&'*+-.^_`|~ only)"
                )
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
    refused: bool = Field(
        default=False,
        description="The doctor's own address policy stopped the run (MCPDIAG_DOCTOR_ALLOW): the server "
        "was not tested, and its card keeps its state",
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


class DoctorWorkers:
    """The threads doctor runs work in (never the app's event loop): `workers` run at once, `waiting` more
    may queue for a thread, and any beyond are answered 429 instead of queueing without bound."""

    def __init__(self, workers: int = 4, waiting: int = 16) -> None:
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="mcpdiag-doctor")
        self.capacity = workers + waiting
        self.admitted = 0  # only the event loop's thread counts: no lock needed

    @contextmanager
    def admission(self) -> Iterator[ThreadPoolExecutor]:
        """Count a run in for the block; `RateLimitedError` when every place is taken."""
        if self.admitted >= self.capacity:
            raise RateLimitedError(
                "too many connection tests are running; retry in a few seconds", headers={"Retry-After": "5"}
            )
        self.admitted += 1
        try:
            yield self.executor
        finally:
            self.admitted -= 1


def _workers(app: FastAPI) -> DoctorWorkers:
    workers: DoctorWorkers | None = getattr(app.state, "doctor_workers", None)
    if workers is None:
        workers = app.state.doctor_workers = DoctorWorkers()
    return workers


def _store_sink(app: FastAPI) -> CallableSink:
    """A sink handing events to this app's collector pipeline (validated and redacted again)."""
    runtime: CollectorRuntime = app.state.collector
    loop = asyncio.get_running_loop()

    async def store(events: list[WireEvent]) -> None:
        intake = runtime.validator.check(events)
        if intake.events:
            await runtime.pipeline.submit(intake.events, budgeted=False)  # its Debug ID must resolve

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
async def doctor(
    body: DoctorRequest,
    principal: CurrentUser,
    settings: Settings,
    policy: Policy,
    request: Request,
    network: Annotated[DoctorNetwork, Depends(doctor_network)],
) -> Any:
    """Walk the ladder and stop at the first failing step. Loopback, private, link-local and metadata
    addresses are refused (on every resolved address and every redirect) unless the address or the host is
    in `MCPDIAG_DOCTOR_ALLOW` (CIDRs, host names; `MCPDIAG_DOCTOR_ALLOWED_DOMAINS` is read too) or
    `MCPDIAG_DOCTOR_ALLOW_PRIVATE=1`. Headers go to the
    URL's origin only; every answer read is bounded (2 MiB, 8 MiB per run). A run naming `server` (one the
    caller can access, else 404) is stored as that server's inspection; without, it adds no server card."""
    try:  # the doctor needs the MCP SDK (`mcpdiag[mcp]`); the rest of the API does not
        from mcpdiag.doctor import (
            DoctorOptions,
            TargetError,
            policy_from,
            run_doctor_in_thread,
            system_resolver,
        )
    except ImportError:
        raise DoctorUnavailableError("the connection test needs the MCP SDK: install mcpdiag[mcp]") from None
    if body.server is not None:  # a run only lands on a card its caller may read (else 404, as elsewhere)
        check_access(policy, principal, body.server)
    _limiter(request.app).check(principal.user_id, settings.doctor_rate_per_minute)
    options = DoctorOptions(
        transport=body.transport,
        headers=body.headers,
        policy=policy_from(
            settings.doctor_allow_private, settings.doctor_allowed_hosts, settings.doctor_allowed_networks
        ),
        timeout_s=settings.doctor_timeout_s,
        ssl_context=network.ssl_context,
        resolver=network.resolver or system_resolver,
    )
    # The run shows its Debug ID at once: its events are never folded into a follow-up.
    emitter = Emitter(
        _store_sink(request.app), service="mcpdiag-doctor", flush_interval=0.05, coalesce_window=0
    )
    try:
        with _workers(request.app).admission() as executor:
            report = await run_doctor_in_thread(
                body.url,
                options,
                executor=executor,
                emitter=emitter,
                user_id=principal.user_id,
                server=body.server,
            )
    except TargetError as exc:
        raise InvalidParameterError("url", str(exc).partition(": ")[2]) from None
    finally:
        await emitter.aclose(_STORE_WAIT_S)
    return report.to_dict(include_detail=principal.is_staff)
