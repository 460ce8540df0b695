"""What one MCP session knows about itself, and how it turns a failure into an emitted error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO, TypeVar

from mcpdiag.emitters.classifier import Classification, classification_for, exception_chain
from mcpdiag.emitters.codes import ENDED_BY_ATTR
from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.errors import MCPDiagnosticError, StreamCutError
from mcpdiag.emitters.mcp.hooks import ObservingTransport, stderr_tail, tcp_reachable
from mcpdiag.emitters.mcp.oauth import ObservedOAuth
from mcpdiag.emitters.mcp.sdk import McpError
from mcpdiag.emitters.mcp.tracing import sent_trace_id
from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.text import clip

TransportName = Literal["streamable-http", "sse", "stdio"]
_T = TypeVar("_T")
_MAX_TOOL_DETAIL = 500


def tool_error_text(result: object, redactor: Redactor | None = None) -> str | None:
    """The text a failed tool call returned (its text content blocks), redacted (by `redactor`, else the
    rules alone) and cut for `detail` (`clip`); None if none."""
    content = getattr(result, "content", None) or ()
    text = " ".join(t for c in content if isinstance(t := getattr(c, "text", None), str))
    return clip(text, _MAX_TOOL_DETAIL, redactor) or None


@dataclass
class SessionRun:
    """What one session knows about itself: where it is, what the hooks saw, how to report."""

    server: str
    emitter: Emitter
    transport: TransportName
    url: str | None
    context: dict[str, Any]
    hook: ObservingTransport | None = None
    oauth: ObservedOAuth | None = None
    errlog: TextIO | None = None
    established: bool = False
    tool: str | None = None
    invalid_messages: list[Exception] = field(default_factory=list)
    endpoint: str | None = None
    """Where the session connects (`url_endpoint` / `command_endpoint`): named in its connection events."""
    ended_by: str | None = None
    """The code of the session's last failure, unless a request succeeded since: a session that closes
    with it set ended in that failure, and its MCP_DISCONNECTED says so (`ENDED_BY_ATTR`)."""

    def event_fields(self, touchpoint: str | None = None) -> dict[str, Any]:
        """Fields every event of the session carries; those off a tool call also name the endpoint (an
        unknown keyword travels as an attr), which is what a re-check of the server tests."""
        fields: dict[str, Any] = {"transport": self.transport, **self.context}
        if touchpoint != "tool_call" and self.endpoint is not None:
            fields["endpoint"] = self.endpoint
        return fields

    def emit(self, code: str, touchpoint: str, **fields: Any) -> dict[str, Any]:
        return self.emitter.emit_event(
            code, server=self.server, touchpoint=touchpoint, **self.event_fields(touchpoint), **fields
        )

    def report_oauth(
        self,
        code: str,
        *,
        detail: str | None = None,
        duration_ms: float | None = None,
        trace_id: str | None = None,
    ) -> None:
        """Emit a sign-in event (MCP_OAUTH_STARTED / MCP_OAUTH_COMPLETED) at touchpoint `oauth`."""
        self.emit(code, "oauth", detail=detail, duration_ms=duration_ms, trace_id=trace_id)

    async def request(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Await one SDK request; on 1.x it ends at once with `StreamCutError` if the hook saw its answer
        lost (where the SDK itself would wait for the read timeout). An answer clears `ended_by`."""
        answer = await self._answer(call)
        self.ended_by = None
        return answer

    async def _answer(self, call: Callable[[], Awaitable[_T]]) -> _T:
        answers = self.hook.answers if self.hook is not None else None
        if answers is None:
            return await call()
        with answers.watching() as watch:
            return await call()
        raise watch.lost or StreamCutError("the request's answer was lost")

    def report_tool_error(self, tool: str, detail: str | None) -> str:
        """Emit MCP_TOOL_ERROR for a tool call that returned an error result; its Debug ID."""
        event = self.emit("MCP_TOOL_ERROR", "tool_call", tool=tool, detail=detail, trace_id=sent_trace_id())
        return str(event["traceId"])

    def refuse(self, code: str, touchpoint: str, detail: str) -> MCPDiagnosticError:
        """Emit `code` chosen without an exception and return the error to raise."""
        event = self.emit(code, touchpoint, detail=detail)
        self.ended_by = code
        found = classification_for(code, server=self.server, detail=detail)
        return MCPDiagnosticError.from_classification(found, debug_id=str(event["traceId"]), event=event)

    def fail(
        self, exc: BaseException, touchpoint: str, tool: str | None = None, trace_id: str | None = None
    ) -> MCPDiagnosticError:
        """Classify and emit `exc` (under the failed request's `trace_id`, if any); the error to raise."""
        event, found = self.emitter.capture_event(
            exc,
            server=self.server,
            touchpoint=touchpoint,
            http=self.hook.last if self.hook is not None else None,
            session_established=self.established,
            proxy_in_use=self.hook.proxy_in_use if self.hook is not None else False,
            stderr_tail=stderr_tail(self.errlog),
            tool=tool,
            trace_id=trace_id,
            **self.event_fields(touchpoint),
        )
        assert isinstance(found, Classification)
        self.ended_by = found.code
        return MCPDiagnosticError.from_classification(found, debug_id=str(event["traceId"]), event=event)

    def disconnected(self) -> None:
        """Emit the session's MCP_DISCONNECTED, naming the failure it ended in, if any (`ended_by`)."""
        ended = {ENDED_BY_ATTR: self.ended_by} if self.ended_by else {}
        self.emit("MCP_DISCONNECTED", "lifecycle", **ended)

    async def fail_at_boundary(self, exc: BaseException) -> MCPDiagnosticError:
        """The error for a failure that left the transport: pick the touchpoint, probe a cut stream."""
        tool = self.tool
        touchpoint = "tool_call" if tool else "transport" if self.established else "connect"
        chain = exception_chain(exc)
        real: BaseException = exc
        if not chain and self.hook is not None and self.hook.last_exception is not None:
            real = self.hook.last_exception  # only cancellations reached us: the raw HTTP error says more
        oauth_failure = self.oauth.failure if self.oauth is not None else None
        if oauth_failure is not None and (not chain or oauth_failure in chain):
            real, touchpoint = (exc if chain else oauth_failure), "oauth"
        elif self.invalid_messages and not self.established and not (self.hook and self.hook.last):
            # An unparsable message is the answer itself, unless it is the SDK's view of an HTTP answer
            # the hook already saw (1.x reports a 200 HTML page as an "Unexpected content type" message).
            real, touchpoint = self.invalid_messages[-1], "inspection"
        return await self.diagnose(real, touchpoint, tool)

    async def diagnose(self, exc: BaseException, touchpoint: str, tool: str | None) -> MCPDiagnosticError:
        """Like `fail`, after a reachability probe tells a dead server from a cut stream.

        The event takes the trace id the failed request carried, so it joins the server's trace.
        """
        if self._stream_cut(exc) and self.url is not None and await self._gone(self.url):
            # Nothing listens any more: the server died, no proxy cut the stream.
            refused = ConnectionRefusedError(111, "server no longer accepts connections")
            refused.__cause__ = exc
            exc = refused
        return self.fail(exc, touchpoint, tool, sent_trace_id())

    async def _gone(self, url: str) -> bool:
        """True if nothing listens at the server's address any more (probed a few times: a dying process
        closes its open connections a moment before its listening socket)."""
        for attempt in range(4):
            if await tcp_reachable(url) is False:
                return True
            if attempt < 3:
                await asyncio.sleep(0.1)
        return False

    def _stream_cut(self, exc: BaseException) -> bool:
        if not self.established or self.transport == "stdio" or (self.hook and self.hook.last):
            return False
        for e in exception_chain(exc):
            if isinstance(e, McpError) and e.error.code == -32000:
                return True
            if type(e).__name__ in ("RemoteProtocolError", "ReadError", "ConnectError", "StreamCutError"):
                return True
        return False
