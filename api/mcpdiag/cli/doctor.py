"""`mcpdiag doctor`: the ladder on the command line, for a URL or (only here) a stdio command.

Register it on the main Typer app with `app.command("doctor")(doctor_command)`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

import typer
from mcp import StdioServerParameters

from mcpdiag.doctor.mcp import initialized_outcome, tools_outcome
from mcpdiag.doctor.netguard import AddressPolicy
from mcpdiag.doctor.options import DoctorOptions, DoctorTransport, TargetError
from mcpdiag.doctor.report import STEP_NAMES, DoctorReport, Outcome, Step, StepFailed, StepName, StepStatus
from mcpdiag.doctor.runner import run_doctor
from mcpdiag.emitters import Emitter, MCPDiagnosticError, MemorySink, code_info, new_trace_id
from mcpdiag.emitters.mcp import open_session

SYMBOLS = {"ok": "✓", "fail": "✗", "warn": "!", "skipped": "·"}
_STDIO_SKIP = "Not used by a stdio server."


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value` → (name, value); `typer.BadParameter` otherwise."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c in text for c in "\r\n"):
        raise typer.BadParameter(f"expected 'Name: value', got {name.strip()[:40]!r}", param_hint="--header")
    return name.strip(), value.strip()


def render(report: DoctorReport, target: str) -> str:
    """The ladder for people: one line per step with ✓/✗/!, the timing, then the verdict and action."""
    lines = [f"mcpdiag doctor · {target} ({report.transport})", ""]
    for step in report.steps:
        timing = f"{step.duration_ms:7.0f} ms" if step.duration_ms is not None else " " * 10
        lines.append(f"  {SYMBOLS[step.status]} {step.name:<6}{timing}  {step.summary}")
        if step.status == "fail" and step.detail:
            lines += [f"{' ' * 22}{line}" for line in step.detail.splitlines()[:12]]
    lines.append("")
    if report.ok:
        warned = len(report.warnings)
        lines.append("Healthy" + (f", with {warned} warning{'s' * (warned != 1)}." if warned else "."))
    else:
        lines.append(f"Failed at {report.failed_step}: {report.code}")
        action = report.action or "none"
        lines.append(f"Action: {action.replace('_', ' ')}")
        lines.append(f"Guide: mcpdiag explain {report.code}  ({report.guide})")
    lines.append(f"Debug ID: {report.debug_id}")
    return "\n".join(lines)


async def _stdio_report(command: list[str], timeout: float) -> DoctorReport:
    """The ladder of a stdio server: the network steps do not apply; `mcp` and `tools` run for real."""

    report = DoctorReport(url=" ".join(command), transport="stdio", debug_id=new_trace_id())
    steps = {name: Step(name, "skipped", None, _STDIO_SKIP) for name in STEP_NAMES}
    emitter = Emitter(MemorySink(), service="mcpdiag-doctor")
    params = StdioServerParameters(command=command[0], args=command[1:])
    started = time.monotonic()
    failing: StepName = "mcp"
    result: Outcome | StepFailed
    try:
        async with (
            asyncio.timeout(timeout),
            open_session(
                "doctor", emitter=emitter, stdio=params, transport="stdio", read_timeout=timeout
            ) as session,
        ):
            elapsed = (time.monotonic() - started) * 1000
            outcome = initialized_outcome(
                session.protocol_version, session.server_info, session.server_capabilities, elapsed
            )
            steps["mcp"] = _step("mcp", outcome, elapsed)
            failing, started = "tools", time.monotonic()
            result = tools_outcome((await session.list_tools()).tools)
    except MCPDiagnosticError as exc:
        result = StepFailed(exc.code, exc.message_safe, exc.classification.detail)
    except TimeoutError:
        result = StepFailed("MCP_TIMEOUT", f"The server did not answer within {timeout:.0f} s.")
    finally:
        emitter.close(1)
    steps[failing] = _step(failing, result, (time.monotonic() - started) * 1000)
    if isinstance(result, StepFailed):
        report.code, report.action = result.code, code_info(result.code).action.value
    report.steps = [steps[name] for name in STEP_NAMES]
    return report


def _step(name: StepName, result: Outcome | StepFailed, duration_ms: float) -> Step:
    status: StepStatus = "fail" if isinstance(result, StepFailed) else result.status
    return Step(name, status, duration_ms, result.summary, result.detail)


def doctor_command(
    target: Annotated[
        list[str] | None,
        typer.Argument(help="The server URL; with --stdio, the command and its arguments after --"),
    ] = None,
    transport: Annotated[
        str, typer.Option("--transport", "-t", help="streamable-http (default) or sse")
    ] = "streamable-http",
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value', sent with every request")
    ] = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Run a stdio server: mcpdiag doctor --stdio -- CMD")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Bound on the whole run, seconds")] = 20.0,
) -> None:
    """Test an MCP server layer by layer: dns, tcp, tls, http, mcp, oauth, tools. Exit 1 if a step fails."""
    words = list(target or [])
    if not words:
        raise typer.BadParameter("give a URL, or --stdio -- COMMAND ARGS", param_hint="TARGET")
    if stdio:
        report = asyncio.run(_stdio_report(words, timeout))
    else:
        if len(words) > 1:
            raise typer.BadParameter("one URL only (for a command, use --stdio --)", param_hint="TARGET")
        if transport not in ("streamable-http", "sse"):
            raise typer.BadParameter("streamable-http or sse", param_hint="--transport")
        chosen: DoctorTransport = "sse" if transport == "sse" else "streamable-http"
        headers = dict(parse_header(h) for h in header or [])
        # The CLI runs on the operator's own machine: private and loopback addresses are fair game.
        policy = AddressPolicy(allow_private=True)
        options = DoctorOptions(transport=chosen, headers=headers, timeout_s=timeout, policy=policy)
        try:
            report = asyncio.run(run_doctor(words[0], options))
        except TargetError as exc:
            raise typer.BadParameter(str(exc).partition(": ")[2], param_hint="TARGET") from None
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(render(report, words[0] if not stdio else " ".join(words)))
    raise typer.Exit(0 if report.ok else 1)
