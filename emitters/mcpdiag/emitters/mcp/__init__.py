"""MCP SDK integration (the `mcp` extra): sessions whose failures are classified, emitted and raised."""

from __future__ import annotations

from mcpdiag.emitters.mcp.hooks import (
    ObservingTransport,
    TraceRecordingStream,
    sent_trace_id,
    stderr_tail,
    tcp_reachable,
)
from mcpdiag.emitters.mcp.oauth import OAuthTimeoutError, ObservedOAuth
from mcpdiag.emitters.mcp.session import DiagnosedSession, host_allowed, open_session

__all__ = [
    "DiagnosedSession",
    "OAuthTimeoutError",
    "ObservedOAuth",
    "ObservingTransport",
    "TraceRecordingStream",
    "host_allowed",
    "open_session",
    "sent_trace_id",
    "stderr_tail",
    "tcp_reachable",
]
