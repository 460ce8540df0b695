"""The `mcp` and `tools` layers: initialize and `tools/list` through the real MCP SDK, with the emitters'
`ObservingTransport` on the (guarded) HTTP client, failures judged by the emitters' classifier."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from mcp import ClientSession

from mcpdiag.doctor.bounded import MAX_NAME_CHARS, BodyTooLargeError, ReadBudget, clip, shown
from mcpdiag.doctor.netguard import AddressRefusedError
from mcpdiag.doctor.network import connection_refused
from mcpdiag.doctor.options import DoctorTransport
from mcpdiag.doctor.report import SLOW_INITIALIZE_S, Outcome, StepFailed, StepName
from mcpdiag.emitters import Redactor, classify, exception_chain
from mcpdiag.emitters.mcp import SDK_LINE, ObservingTransport
from mcpdiag.emitters.mcp.hooks import MAX_READ_BYTES
from mcpdiag.emitters.mcp.sdk import McpError, seconds, types
from mcpdiag.emitters.mcp.sdk import field as sdk_field
from mcpdiag.emitters.mcp.streams import http_streams

MAX_TOOL_PAGES = 10
MAX_LISTED_TOOLS = 200
_SHOWN_TOOLS = 8
_LISTED_PROBLEMS = 50
_DETAIL_PART_CHARS = 2000
_SUMMARIES = {
    "MCP_TIMEOUT": "The server did not answer in time",
    "MCP_PROXY_SSE_ISSUE": "A proxy or gateway changed or cut the MCP stream",
    "MCP_INSPECTION_FAILED": "The server did not answer like an MCP server should",
    "MCP_AUTH_REQUIRED": "The server asks for sign-in",
    "MCP_ENDPOINT_NOT_FOUND": "No MCP endpoint at this URL",
    "MCP_CONNECTION_REFUSED": "The connection was refused or dropped",
    "MCP_SERVER_ERROR": "The server reported an error",
    "MCP_TLS_ERROR": "The secure connection failed",
}

StepResult = tuple[StepName, Outcome | StepFailed, float]


@dataclass(slots=True)
class _Progress:
    """How far a session got: the step under way started at `started`."""

    started: float = field(default_factory=time.monotonic)
    established: bool = False
    tripped: bool = False


@dataclass(slots=True)
class McpProbe:
    """One MCP session: where, how, with which headers, bounded by `timeout` seconds per request."""

    url: str
    transport: DoctorTransport
    headers: Mapping[str, str]
    http: httpx2.AsyncBaseTransport
    timeout: float
    redactor: Redactor
    reads: ReadBudget

    async def run(self) -> list[StepResult]:
        """Initialize, then list tools; the result of each step reached, with its duration (ms).

        An answer past the read bounds stops the session at once: the SDK would otherwise log the failed
        read and wait for a reply that never comes, up to the time bound."""
        results: list[StepResult] = []
        progress = _Progress()
        with anyio.CancelScope() as scope:

            def trip() -> None:
                progress.tripped = True
                scope.cancel()

            self.reads.on_trip = trip
            try:
                await self._session(results, progress)
            finally:
                self.reads.on_trip = None
        if progress.tripped and len(results) < 2:
            name: StepName = "tools" if progress.established else "mcp"
            summary = self.reads.overrun_summary or "The server's answer was too large."
            failed = StepFailed("MCP_INSPECTION_FAILED", summary, self.reads.overrun)
            results[:] = [r for r in results if r[0] != name] + [(name, failed, _ms(progress.started))]
        return results

    async def _session(self, results: list[StepResult], progress: _Progress) -> None:
        """Run the session, appending each step's result as it ends."""
        # The 1.x SDK speaks httpx: its requests reach the guarded httpx2 transport through a bridge.
        guarded: Any = self.http
        if SDK_LINE == 1:
            from mcpdiag.doctor.sdkbridge import Httpx2Bridge

            guarded = Httpx2Bridge(self.http)
        hook = ObservingTransport(guarded)
        invalid: list[Exception] = []  # what the transport could not parse (e.g. a garbage initialize)
        try:
            async with AsyncExitStack() as stack:
                read, write = await http_streams(
                    stack,
                    self.transport,
                    self.url,
                    hook,
                    headers=self.headers,
                    timeout=self.timeout,
                    read_timeout=self.timeout,
                )

                async def on_message(message: Any) -> None:
                    if isinstance(message, Exception):
                        invalid.append(message)

                session = await stack.enter_async_context(
                    ClientSession(
                        read, write, read_timeout_seconds=seconds(self.timeout), message_handler=on_message
                    )
                )
                init = await session.initialize()
                progress.established = True
                elapsed = _ms(progress.started)
                caps = sdk_field(init, "capabilities")
                outcome = initialized_outcome(
                    sdk_field(init, "protocol_version"), sdk_field(init, "server_info"), caps, elapsed
                )
                results.append(("mcp", outcome, elapsed))
                progress.started = time.monotonic()
                if caps.tools is None:
                    results.append(("tools", Outcome("The server offers no tools.", status="skipped"), 0.0))
                    return
                try:
                    tools = await _all_tools(session)
                except (McpError, ValueError) as exc:
                    results.append(("tools", self._failure(exc, hook, True), _ms(progress.started)))
                else:
                    results.append(("tools", tools_outcome(tools), _ms(progress.started)))
        except Exception as exc:
            established = progress.established
            if len(results) < 2:  # a failure while closing a finished session changes nothing
                real = invalid[-1] if invalid and not established else exc
                name: StepName = "tools" if established else "mcp"
                results.append((name, self._failure(real, hook, established), _ms(progress.started)))

    def _failure(self, exc: BaseException, hook: ObservingTransport, established: bool) -> StepFailed:
        chain = exception_chain(exc)
        if large := next((e for e in chain if isinstance(e, BodyTooLargeError)), None):
            return StepFailed("MCP_INSPECTION_FAILED", large.summary, str(large))
        seen = hook.last
        if seen is not None and seen.body_truncated and seen.status is not None and seen.status >= 400:
            # The hook read the error answer up to its bound and left the rest: an answer no MCP server sends.
            return StepFailed(
                "MCP_INSPECTION_FAILED",
                f"The server's error answer was larger than {MAX_READ_BYTES // 1024} KiB.",
                f"HTTP {seen.status} {seen.content_type or ''}: the body was cut at {MAX_READ_BYTES} bytes",
            )
        if refused := next((e for e in chain if isinstance(e, AddressRefusedError)), None):
            return connection_refused(urlsplit(self.url).hostname or "", refused)
        real = exc if chain or hook.last_exception is None else hook.last_exception
        found = classify(
            real,
            touchpoint="inspection",
            transport=self.transport,
            http=hook.last,
            session_established=established,
            redactor=self.redactor,
        )
        what = "Listing the tools failed" if established else _SUMMARIES.get(found.code, "Initialize failed")
        return StepFailed(found.code, f"{what}.", found.detail, http_status=found.http_status)


async def _all_tools(session: ClientSession) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page: types.ListToolsResult = await session.list_tools(
            params=None if cursor is None else _page_params(cursor)
        )
        tools += page.tools
        cursor = sdk_field(page, "next_cursor")
        if not cursor:
            break
    return tools


def _page_params(cursor: str) -> Any:
    return types.PaginatedRequestParams(cursor=cursor)


def initialized_outcome(
    protocol: str | None,
    info: types.Implementation | None,
    caps: types.ServerCapabilities | None,
    elapsed_ms: float,
) -> Outcome:
    """The `mcp` step of a session that initialized: who the server is, what it offers, how fast (every
    name the server chose is bounded: see `bounded.shown`)."""
    offered = [name for name in ("tools", "resources", "prompts", "logging", "completions")
               if getattr(caps, name, None) is not None]  # fmt: skip
    names = (shown(info.name), shown(info.version)) if info is not None else ()
    who = " ".join(filter(None, names)) or "An unnamed server"
    summary = (
        f"{who}, protocol {shown(protocol)}; offers {', '.join(offered) if offered else 'no capabilities'}."
    )
    detail = f"serverInfo: {who}\nprotocolVersion: {shown(protocol)}\n"
    dumped = caps.model_dump(exclude_none=True) if caps is not None else None
    detail += f"capabilities: {clip(str(dumped), _DETAIL_PART_CHARS)}"
    if elapsed_ms > SLOW_INITIALIZE_S * 1000:
        return Outcome(f"Slow: initialize took {elapsed_ms / 1000:.1f} s. {summary}", detail, status="warn")
    return Outcome(summary, detail)


def tools_outcome(tools: list[types.Tool]) -> Outcome:
    """The `tools` step: how many, their names, schema problems, missing descriptions and over-long names
    (warnings); at most `MAX_LISTED_TOOLS` names are listed, each bounded (see `bounded.shown`)."""
    names = [shown(tool.name) for tool in tools]
    problems = [f"{shown(tool.name)}: {problem}" for tool in tools for problem in _schema_problems(tool)]
    undescribed = [shown(tool.name) for tool in tools if not (tool.description or "").strip()]
    too_long = sum(len(tool.name) > MAX_NAME_CHARS for tool in tools)
    listed = ", ".join(names[:_SHOWN_TOOLS]) + (" …" if len(names) > _SHOWN_TOOLS else "")
    summary = f"{len(tools)} tool{'s' if len(tools) != 1 else ''}" + (f": {listed}." if tools else ".")
    unlisted = len(problems) - _LISTED_PROBLEMS
    detail = "\n".join([f"tools: {_listing(names)}"] + [f"schema: {p}" for p in problems[:_LISTED_PROBLEMS]]
                       + [f"schema: … and {unlisted} more"] * (unlisted > 0)
                       + [f"no description: {_listing(undescribed)}"] * bool(undescribed))  # fmt: skip
    if problems or undescribed or too_long:
        issues = [f"{len(problems)} schema problem{'s' * (len(problems) != 1)}"] * bool(problems)
        issues += [f"{len(undescribed)} without a description (models pick tools by it)"] * bool(undescribed)
        issues += [f"{too_long} with a name over {MAX_NAME_CHARS} characters"] * bool(too_long)
        return Outcome(f"{summary} Warning: {'; '.join(issues)}.", detail, status="warn")
    return Outcome(summary, detail)


def _listing(names: list[str]) -> str:
    more = len(names) - MAX_LISTED_TOOLS
    return ", ".join(names[:MAX_LISTED_TOOLS]) + (f" … and {more} more" if more > 0 else "")


def _schema_problems(tool: types.Tool) -> list[str]:
    schema = sdk_field(tool, "input_schema")
    problems = []
    if schema.get("type") != "object":
        problems.append("inputSchema type is not 'object'")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        problems.append("inputSchema properties is not an object")
    required = schema.get("required", [])
    if isinstance(properties, dict) and isinstance(required, list):
        missing = [r for r in required if not isinstance(r, str) or r not in properties]
        problems += [
            f"required property {shown(str(r))!r} is not defined" for r in missing[:_LISTED_PROBLEMS]
        ]
    return problems


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000
