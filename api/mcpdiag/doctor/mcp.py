"""The `mcp` and `tools` layers: initialize and `tools/list` through the real MCP SDK (whichever line is
installed, 1.x or 2.x), with the emitters' `ObservingTransport` on the (guarded) HTTP client, failures judged
by the emitters' classifier."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from mcpdiag.doctor.netguard import AddressRefusedError
from mcpdiag.doctor.options import DoctorTransport
from mcpdiag.doctor.report import SLOW_INITIALIZE_S, Outcome, StepFailed, StepName
from mcpdiag.emitters import Redactor, classify, exception_chain
from mcpdiag.emitters.mcp import SDK_LINE, ObservingTransport
from mcpdiag.emitters.mcp.sdk import McpError, field, http, seconds, types

MAX_TOOL_PAGES = 10
_SHOWN_TOOLS = 8
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
class McpProbe:
    """One MCP session: where, how, with which headers, bounded by `timeout` seconds per request."""

    url: str
    transport: DoctorTransport
    headers: Mapping[str, str]
    http: httpx2.AsyncBaseTransport
    timeout: float
    redactor: Redactor

    async def run(self) -> list[StepResult]:
        """Initialize, then list tools; the result of each step reached, with its duration (ms)."""
        # The 1.x SDK speaks httpx: its requests reach the guarded httpx2 transport through a bridge.
        guarded: Any = self.http
        if SDK_LINE == 1:
            from mcpdiag.doctor.sdkbridge import Httpx2Bridge

            guarded = Httpx2Bridge(self.http)
        hook = ObservingTransport(guarded)
        results: list[StepResult] = []
        started = time.monotonic()
        established = False
        invalid: list[Exception] = []  # what the transport could not parse (e.g. a garbage initialize)
        try:
            async with AsyncExitStack() as stack:
                read, write = await self._streams(stack, hook)

                async def on_message(message: Any) -> None:
                    if isinstance(message, Exception):
                        invalid.append(message)

                session = await stack.enter_async_context(
                    ClientSession(
                        read, write, read_timeout_seconds=seconds(self.timeout), message_handler=on_message
                    )
                )
                init = await session.initialize()
                established = True
                elapsed = _ms(started)
                caps = field(init, "capabilities")
                outcome = initialized_outcome(
                    field(init, "protocol_version"), field(init, "server_info"), caps, elapsed
                )
                results.append(("mcp", outcome, elapsed))
                started = time.monotonic()
                if caps.tools is None:
                    results.append(("tools", Outcome("The server offers no tools.", status="skipped"), 0.0))
                    return results
                try:
                    tools = await _all_tools(session)
                except (McpError, ValueError) as exc:
                    results.append(("tools", self._failure(exc, hook, True), _ms(started)))
                else:
                    results.append(("tools", tools_outcome(tools), _ms(started)))
        except Exception as exc:
            if len(results) < 2:  # a failure while closing a finished session changes nothing
                real = invalid[-1] if invalid and not established else exc
                name: StepName = "tools" if established else "mcp"
                results.append((name, self._failure(real, hook, established), _ms(started)))
        return results

    async def _streams(self, stack: AsyncExitStack, hook: ObservingTransport) -> tuple[Any, Any]:
        limits = http.Timeout(self.timeout)

        def client_factory(
            headers: dict[str, str] | None = None,
            timeout: http.Timeout | None = None,
            auth: http.Auth | None = None,
        ) -> http.AsyncClient:
            return http.AsyncClient(
                transport=hook, headers=headers, timeout=limits, auth=auth, follow_redirects=True
            )

        if self.transport == "sse":
            streams = await stack.enter_async_context(
                sse_client(
                    self.url,
                    headers=dict(self.headers),
                    timeout=self.timeout,
                    sse_read_timeout=self.timeout,
                    httpx_client_factory=client_factory,
                )
            )
            return streams[0], streams[1]
        client = await stack.enter_async_context(client_factory(dict(self.headers)))
        streams = await stack.enter_async_context(streamable_http_client(self.url, http_client=client))
        return streams[0], streams[1]

    def _failure(self, exc: BaseException, hook: ObservingTransport, established: bool) -> StepFailed:
        chain = exception_chain(exc)
        if refused := next((e for e in chain if isinstance(e, AddressRefusedError)), None):
            return StepFailed(
                "MCP_DOMAIN_NOT_ALLOWED",
                "Refused: the server redirected to an address the connection test may not reach.",
                f"{refused}; no request was sent there",
            )
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
        cursor = field(page, "next_cursor")
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
    """The `mcp` step of a session that initialized: who the server is, what it offers, how fast."""
    offered = [name for name in ("tools", "resources", "prompts", "logging", "completions")
               if getattr(caps, name, None) is not None]  # fmt: skip
    who = " ".join(filter(None, (info.name, info.version))) if info is not None else "An unnamed server"
    summary = f"{who}, protocol {protocol}; offers {', '.join(offered) if offered else 'no capabilities'}."
    detail = f"serverInfo: {who}\nprotocolVersion: {protocol}\n"
    detail += f"capabilities: {caps.model_dump(exclude_none=True) if caps is not None else None}"
    if elapsed_ms > SLOW_INITIALIZE_S * 1000:
        return Outcome(f"Slow: initialize took {elapsed_ms / 1000:.1f} s. {summary}", detail, status="warn")
    return Outcome(summary, detail)


def tools_outcome(tools: list[types.Tool]) -> Outcome:
    """The `tools` step: how many, their names, schema problems and missing descriptions (warnings)."""
    names = [tool.name for tool in tools]
    problems = [f"{tool.name}: {problem}" for tool in tools for problem in _schema_problems(tool)]
    undescribed = [tool.name for tool in tools if not (tool.description or "").strip()]
    shown = ", ".join(names[:_SHOWN_TOOLS]) + (" …" if len(names) > _SHOWN_TOOLS else "")
    summary = f"{len(tools)} tool{'s' if len(tools) != 1 else ''}" + (f": {shown}." if tools else ".")
    detail = "\n".join([f"tools: {', '.join(names)}"] + [f"schema: {p}" for p in problems]
                       + [f"no description: {', '.join(undescribed)}"] * bool(undescribed))  # fmt: skip
    if problems or undescribed:
        issues = [f"{len(problems)} schema problem{'s' * (len(problems) != 1)}"] * bool(problems)
        issues += [f"{len(undescribed)} without a description (models pick tools by it)"] * bool(undescribed)
        return Outcome(f"{summary} Warning: {'; '.join(issues)}.", detail, status="warn")
    return Outcome(summary, detail)


def _schema_problems(tool: types.Tool) -> list[str]:
    schema = field(tool, "input_schema")
    problems = []
    if schema.get("type") != "object":
        problems.append("inputSchema type is not 'object'")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        problems.append("inputSchema properties is not an object")
    required = schema.get("required", [])
    if isinstance(properties, dict) and isinstance(required, list):
        problems += [f"required property {r!r} is not defined" for r in required if r not in properties]
    return problems


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000
