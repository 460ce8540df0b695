"""`run_doctor`: walk the ladder dns → tcp → tls → http → mcp → oauth → tools, stop at the first failure,
time each step, and emit the run as an `inspection` event under its Debug ID."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx2

from mcpdiag.api.doctor.http import HttpFinding, http_step
from mcpdiag.api.doctor.mcp import McpProbe
from mcpdiag.api.doctor.netguard import guarded_transport
from mcpdiag.api.doctor.network import dns_step, tcp_step, tls_step
from mcpdiag.api.doctor.oauth import oauth_step
from mcpdiag.api.doctor.options import DoctorOptions, Target
from mcpdiag.api.doctor.report import STEP_NAMES, DoctorReport, Outcome, Step, StepFailed, StepName
from mcpdiag.emitters import Emitter, Redactor, code_info, new_trace_id

STEP_TIMEOUT_S = 10.0
MAX_REDIRECTS = 5
_NOT_REACHED = "Not tested: an earlier step failed."


class _Stopped(Exception):
    """A step failed: the ladder ends here."""


@dataclass
class _Run:
    target: Target
    options: DoctorOptions
    report: DoctorReport
    redactor: Redactor
    deadline: float
    steps: dict[StepName, Step] = field(default_factory=dict)
    failure: StepFailed | None = None
    current: tuple[StepName, float] | None = None

    def budget(self) -> float:
        """Seconds one step may take: at most STEP_TIMEOUT_S, and never past the run's bound."""
        return max(0.1, min(STEP_TIMEOUT_S, self.deadline - time.monotonic()))

    def record(self, name: StepName, result: Outcome | StepFailed, duration_ms: float | None) -> None:
        """Keep a step's outcome (redacted); a failure ends the ladder."""
        detail = self.redactor.text(result.detail) if result.detail else None
        self._keep(name, result, duration_ms, self.redactor.text(result.summary), detail)

    async def arecord(self, name: StepName, result: Outcome | StepFailed, duration_ms: float | None) -> None:
        """`record` for what the server itself wrote (tool names, server info, of any size): a long text
        is redacted off the event loop."""
        detail = await self.redactor.atext(result.detail) if result.detail else None
        self._keep(name, result, duration_ms, await self.redactor.atext(result.summary), detail)

    def _keep(
        self,
        name: StepName,
        result: Outcome | StepFailed,
        duration_ms: float | None,
        summary: str,
        detail: str | None,
    ) -> None:
        status = "fail" if isinstance(result, StepFailed) else result.status
        self.steps[name] = Step(name, status, duration_ms, summary, detail)
        if isinstance(result, StepFailed):
            self.failure = result
            raise _Stopped

    @contextmanager
    def step(self, name: StepName) -> Iterator[list[Outcome]]:
        """Time the block; the block appends its `Outcome`, or raises `StepFailed`."""
        found: list[Outcome] = []
        started = time.monotonic()
        self.current = (name, started)
        try:
            yield found
        except StepFailed as failure:
            self.current = None
            self.record(name, failure, (time.monotonic() - started) * 1000)
        self.current = None
        self.record(name, found[0], (time.monotonic() - started) * 1000)

    def timed_out(self) -> None:
        """The run's bound passed: the step under way fails with MCP_TIMEOUT."""
        name, started = self.current or ("dns", time.monotonic())
        failure = StepFailed(
            "MCP_TIMEOUT",
            f"The test took longer than {self.options.timeout_s:.0f} s and was stopped.",
            f"step {name} still running at the run's bound",
        )
        with suppress(_Stopped):
            self.record(name, failure, (time.monotonic() - started) * 1000)


async def _walk(run: _Run) -> None:
    target, options = run.target, run.options
    with run.step("dns") as out:
        outcome, addresses = await dns_step(target, options)
        out.append(outcome)
    with run.step("tcp") as out:
        outcome, address = await tcp_step(target, addresses, run.budget())
        out.append(outcome)
    with run.step("tls") as out:
        out.append(await tls_step(target, address, options, run.budget()))
    finding: HttpFinding | None = None
    async with _client(run, dict(options.headers)) as client:
        with run.step("http") as out:
            outcome, finding = await http_step(target, options.transport, client, run.redactor)
            out.append(outcome)
    if finding is not None and finding.auth_required:
        run.record("mcp", Outcome("Not tested: the server needs sign-in first.", status="skipped"), None)
        async with _client(run, {}) as anonymous:  # the caller's headers never go to other hosts
            with run.step("oauth") as out:
                await oauth_step(finding, anonymous)
        return
    trust = options.trust()
    probe = McpProbe(
        target.url,
        options.transport,
        options.headers,
        guarded_transport(options.policy, options.resolver, trust),
        run.budget(),
        run.redactor,
    )
    run.current = ("mcp", time.monotonic())
    results = await probe.run()
    run.current = None
    for name, result, duration in results:
        if name == "tools":
            run.record("oauth", Outcome("The server did not ask for sign-in.", status="skipped"), None)
        await run.arecord(name, result, duration)


def _client(run: _Run, headers: dict[str, str]) -> httpx2.AsyncClient:
    options = run.options
    return httpx2.AsyncClient(
        transport=guarded_transport(options.policy, options.resolver, options.trust()),
        headers=headers,
        timeout=httpx2.Timeout(run.budget()),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
    )


def known_secrets(url: str, headers: dict[str, str]) -> list[str]:
    """What a run must never echo or store: header values (and their tokens), URL passwords and query."""
    found = [v for value in headers.values() for v in (value, value.partition(" ")[2]) if v]
    parts = urlsplit(url)
    found += [unquote(parts.password)] if parts.password else []
    found += [value for _, value in parse_qsl(parts.query) if len(value) >= 8]
    return found


async def run_doctor(
    url: str, options: DoctorOptions, *, emitter: Emitter | None = None, user_id: str | None = None
) -> DoctorReport:
    """Test `url` layer by layer; `TargetError` if it is not an http(s) URL with a host."""
    target = Target.parse(url)
    secrets = known_secrets(target.url, dict(options.headers))
    if emitter is not None:
        for secret in secrets:
            emitter.register_secret(secret)
    report = DoctorReport(url=target.url, transport=options.transport, debug_id=new_trace_id())
    run = _Run(target, options, report, Redactor(secrets), time.monotonic() + options.timeout_s)
    started = time.monotonic()
    try:
        async with asyncio.timeout(options.timeout_s):
            await _walk(run)
    except _Stopped:
        pass
    except TimeoutError:
        run.timed_out()
    for name in STEP_NAMES:
        run.steps.setdefault(name, Step(name, "skipped", None, _NOT_REACHED))
    report.steps = [run.steps[name] for name in STEP_NAMES]
    if run.failure is not None:
        report.code = run.failure.code
        report.action = code_info(run.failure.code).action.value
    if emitter is not None:
        _emit(emitter, run, user_id, (time.monotonic() - started) * 1000)
    return report


def _emit(emitter: Emitter, run: _Run, user_id: str | None, duration_ms: float) -> None:
    report, failure = run.report, run.failure
    failed = report.failed_step
    lines = [f"doctor {run.options.transport} {run.target.origin}{urlsplit(run.target.url).path}"]
    for step in report.steps:
        lines.append(f"{step.name}: {step.status} — {step.summary}")
        lines += [f"  {line}" for line in (step.detail or "").splitlines()[:12]]
    attrs: dict[str, object] = {"doctor": True, "doctor.failedStep": failed}
    attrs["doctor.warnings"] = len(report.warnings)
    # Step names are values (`oauth=fail`): as keys, `doctor.oauth` would read as a secret field.
    attrs["doctor.steps"] = " ".join(f"{step.name}={step.status}" for step in report.steps)
    emitter.emit_event(
        report.code or "MCP_CONNECTED",
        server=f"doctor:{run.target.host}"[:128],
        touchpoint="inspection",
        trace_id=report.debug_id,
        user_id=user_id,
        transport=run.options.transport,
        severity=None if failure else "info",
        message_safe=(report.step(failed).summary if failed else "Connection test passed.")[:500],
        detail="\n".join(lines),
        http_status=failure.http_status if failure else None,
        duration_ms=round(duration_ms, 1),
        attrs={k: v for k, v in attrs.items() if v is not None},
    )
