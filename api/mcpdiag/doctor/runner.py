"""`run_doctor`: walk the ladder dns → tcp → tls → http → mcp → oauth → tools, stop at the first failure,
time each step, and emit the run as an `inspection` event under its Debug ID."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx2

from mcpdiag.doctor.bounded import BoundedTransport, ReadBudget, clip, origin_of, scoped_names
from mcpdiag.doctor.hints import with_transport_hint
from mcpdiag.doctor.http import HttpFinding, http_step
from mcpdiag.doctor.inspection import emit_inspection
from mcpdiag.doctor.mcp import McpProbe
from mcpdiag.doctor.netguard import guarded_transport
from mcpdiag.doctor.network import dns_step, tcp_step, tls_step
from mcpdiag.doctor.oauth import oauth_step
from mcpdiag.doctor.options import DoctorOptions, Target
from mcpdiag.doctor.report import STEP_NAMES, DoctorReport, Outcome, Step, StepFailed, StepName
from mcpdiag.doctor.sdklog import sdk_log_captured
from mcpdiag.emitters import Emitter, Redactor, code_info, new_trace_id, url_endpoint

STEP_TIMEOUT_S = 10.0
MAX_REDIRECTS = 5
# What a step may hand the redactor (then the report): bounded before redaction, cut at a word end.
MAX_SUMMARY_CHARS = 1000
MAX_DETAIL_CHARS = 16 * 1024
SDK_LOG_LINES = 5
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
    reads: ReadBudget = field(default_factory=ReadBudget)

    def transport(self) -> BoundedTransport:
        """A transport for one client of this run: vetted addresses, bounded reads, headers kept on the
        target's origin."""
        options = self.options
        return BoundedTransport(
            guarded_transport(options.policy, options.resolver, options.trust()),
            origin_of(httpx2.URL(self.target.url)),
            self.reads,
            scoped_names(options.headers),
        )

    def budget(self) -> float:
        """Seconds one step may take: at most STEP_TIMEOUT_S, and never past the run's bound."""
        return max(0.1, min(STEP_TIMEOUT_S, self.deadline - time.monotonic()))

    def record(self, name: StepName, result: Outcome | StepFailed, duration_ms: float | None) -> None:
        """Keep a step's outcome (redacted); a failure ends the ladder."""
        redactor = self.redactor
        detail = redactor.text(clip(result.detail, MAX_DETAIL_CHARS, redactor)) if result.detail else None
        summary = redactor.text(clip(result.summary, MAX_SUMMARY_CHARS, redactor))
        self._keep(name, result, duration_ms, summary, detail)

    async def arecord(self, name: StepName, result: Outcome | StepFailed, duration_ms: float | None) -> None:
        """`record` for what the server itself wrote (tool names, server info): bounded, then redacted off
        the event loop."""
        redactor = self.redactor
        detail = None
        if result.detail:
            detail = await redactor.atext(clip(result.detail, MAX_DETAIL_CHARS, redactor))
        summary = await redactor.atext(clip(result.summary, MAX_SUMMARY_CHARS, redactor))
        self._keep(name, result, duration_ms, summary, detail)

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

    def add_sdk_log(self, lines: list[str]) -> None:
        """What the SDK logged goes with an `mcp` or `tools` failure's detail (for support, redacted)."""
        sdk_steps = [self.steps[name] for name in ("mcp", "tools") if name in self.steps]
        failed = next((step for step in sdk_steps if step.status == "fail"), None)
        if failed is None or not lines:
            return
        shown = "\n".join(f"sdk log: {line}" for line in lines[:SDK_LOG_LINES])
        detail = f"{failed.detail}\n{shown}" if failed.detail else shown
        failed.detail = self.redactor.text(clip(detail, MAX_DETAIL_CHARS, self.redactor))

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
            try:
                outcome, finding = await http_step(target, options.transport, client, run.redactor)
            except StepFailed as failure:
                raise await with_transport_hint(failure, target.url, options.transport, client) from None
            out.append(outcome)
    if finding is not None and finding.auth_required:
        run.record("mcp", Outcome("Not tested: the server needs sign-in first.", status="skipped"), None)
        async with _client(run, {}) as anonymous:  # the caller's headers never go to other hosts
            with run.step("oauth") as out:
                await oauth_step(finding, anonymous)
        return
    probe = McpProbe(
        target.url, options.transport, options.headers, run.transport(), run.budget(), run.redactor, run.reads
    )
    run.current = ("mcp", time.monotonic())
    results = await probe.run()
    run.current = None
    for name, result, duration in results:
        if name == "tools":
            run.record("oauth", Outcome("The server did not ask for sign-in.", status="skipped"), None)
        await run.arecord(name, result, duration)


def _client(run: _Run, headers: dict[str, str]) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=run.transport(),
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
    url: str,
    options: DoctorOptions,
    *,
    emitter: Emitter | None = None,
    user_id: str | None = None,
    server: str | None = None,
) -> DoctorReport:
    """Test `url` layer by layer; `TargetError` if it is not an http(s) URL with a host.

    The run's `inspection` event is `server`'s when one is named; otherwise it is stored under
    `inspection.UNNAMED_RUNS` with the `inspection.UNNAMED_RUN_ATTR` mark, which keeps it off the server
    cards and the staff Overview."""
    target = Target.parse(url)
    secrets = known_secrets(target.url, dict(options.headers))
    if emitter is not None:
        for secret in secrets:
            emitter.register_secret(secret)
    report = DoctorReport(url=target.url, transport=options.transport, debug_id=new_trace_id())
    run = _Run(target, options, report, Redactor(secrets), time.monotonic() + options.timeout_s)
    started = time.monotonic()
    with sdk_log_captured() as sdk_lines:
        try:
            async with asyncio.timeout(options.timeout_s):
                await _walk(run)
        except _Stopped:
            pass
        except TimeoutError:
            run.timed_out()
    run.add_sdk_log(sdk_lines)
    for name in STEP_NAMES:
        run.steps.setdefault(name, Step(name, "skipped", None, _NOT_REACHED))
    report.steps = [run.steps[name] for name in STEP_NAMES]
    if run.failure is not None:
        report.code = run.failure.code
        report.action = code_info(run.failure.code).action.value
        report.refused = run.failure.refused
    if emitter is not None:
        emit_inspection(
            emitter,
            report,
            where=f"{options.transport} {target.origin}{urlsplit(target.url).path}",
            server=server,
            user_id=user_id,
            duration_ms=(time.monotonic() - started) * 1000,
            http_status=run.failure.http_status if run.failure else None,
            endpoint=url_endpoint(target.url),
            credentials=bool(options.headers),
        )
    return report


async def run_doctor_in_thread(
    url: str,
    options: DoctorOptions,
    *,
    executor: Executor | None = None,
    emitter: Emitter | None = None,
    user_id: str | None = None,
    server: str | None = None,
) -> DoctorReport:
    """`run_doctor` on an event loop of its own in a worker thread of `executor`: its CPU-bound work
    (parsing a server's answers, redacting what it reports) never holds up the caller's event loop."""

    def work() -> DoctorReport:
        return asyncio.run(run_doctor(url, options, emitter=emitter, user_id=user_id, server=server))

    return await asyncio.get_running_loop().run_in_executor(executor, work)
