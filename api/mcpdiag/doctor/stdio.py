"""The ladder of a stdio server (CLI only: the API never runs commands): the network steps do not apply,
`mcp` and `tools` run for real through the emitters' `open_session`, named for the server."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import PurePath

from mcp import StdioServerParameters

from mcpdiag.doctor.bounded import clip
from mcpdiag.doctor.mcp import initialized_outcome, tools_outcome
from mcpdiag.doctor.report import STEP_NAMES, DoctorReport, Outcome, Step, StepFailed, StepName, StepStatus
from mcpdiag.doctor.sdklog import sdk_log_captured
from mcpdiag.emitters import Emitter, MCPDiagnosticError, MemorySink, code_info, new_trace_id
from mcpdiag.emitters.mcp import open_session

_SKIPPED = "Not used by a stdio server."
# Programs that run the server named by a later argument (npx -y @scope/server-x, uvx mcp-server-time, ...).
_LAUNCHERS = frozenset(
    {"npx", "uvx", "bunx", "pnpx", "pipx", "node", "deno", "bun", "npm", "pnpm", "yarn", "uv", "docker",
     "podman", "python", "pypy"}
)  # fmt: skip
_SUBCOMMANDS = frozenset({"run", "exec", "x", "dlx", "tool", "start"})
_INLINE_CODE = {
    "python": {"-c"},
    "pypy": {"-c"},
    "node": {"-e", "-p", "--eval"},
    "bun": {"-e"},
    "deno": {"eval"},
}
_VERSION = re.compile(r"(?<=.)@[^/@]*$")
_MAX_DETAIL_CHARS = 16 * 1024


def stdio_name(command: list[str]) -> str:
    """A name for the server a command runs, for messages: the script, package or image a launcher is
    given (`npx -y @scope/server-x` → `server-x`), else the program itself."""
    program = _stem(command[0]) or "server"
    launcher = re.sub(r"[\d.]+$", "", program)  # python3.11 is python
    if launcher not in _LAUNCHERS:
        return program
    for before, word in itertools.pairwise(command):
        if before in _INLINE_CODE.get(launcher, ()):
            break  # `python -c CODE`: the code is no name
        if word.startswith("-") or "=" in word or word in _SUBCOMMANDS:
            continue
        return _stem(_VERSION.sub("", word)) or program
    return program


def _stem(word: str) -> str:
    name = PurePath(word.rstrip("/")).name
    for suffix in (".py", ".js", ".mjs", ".cjs", ".ts", ".exe"):
        name = name.removesuffix(suffix)
    return name[:64]


async def stdio_report(command: list[str], timeout: float, name: str) -> DoctorReport:
    """Start `command`, initialize and list its tools; failures are worded for the server `name`."""
    report = DoctorReport(url=" ".join(command), transport="stdio", debug_id=new_trace_id())
    steps = {step: Step(step, "skipped", None, _SKIPPED) for step in STEP_NAMES}
    session_events = Emitter(MemorySink(), service="mcpdiag-doctor")  # the session's own: not the run's
    params = StdioServerParameters(command=command[0], args=command[1:])
    started = time.monotonic()
    failing: StepName = "mcp"
    result: Outcome | StepFailed
    with sdk_log_captured() as sdk_lines:
        try:
            async with (
                asyncio.timeout(timeout),
                open_session(
                    name, emitter=session_events, stdio=params, transport="stdio", read_timeout=timeout
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
            detail = "\n".join(
                filter(None, [exc.classification.detail, *(f"sdk log: {x}" for x in sdk_lines[:5])])
            )
            result = StepFailed(exc.code, exc.message_safe, clip(detail, _MAX_DETAIL_CHARS) or None)
        except TimeoutError:
            result = StepFailed("MCP_TIMEOUT", f"{name} did not answer within {timeout:.0f} s.")
        finally:
            session_events.close(1)
    steps[failing] = _step(failing, result, (time.monotonic() - started) * 1000)
    if isinstance(result, StepFailed):
        report.code, report.action = result.code, code_info(result.code).action.value
    report.steps = [steps[step] for step in STEP_NAMES]
    return report


def _step(name: StepName, result: Outcome | StepFailed, duration_ms: float) -> Step:
    status: StepStatus = "fail" if isinstance(result, StepFailed) else result.status
    return Step(name, status, duration_ms, result.summary, result.detail)
