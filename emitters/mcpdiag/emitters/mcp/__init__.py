"""MCP SDK integration (the `mcp` extra): sessions whose failures are classified, emitted and raised.

Works with whichever MCP SDK line is installed, 1.x (1.28 and later) or 2.x: `SDK_LINE` says which.
"""

from __future__ import annotations

from mcpdiag.emitters.mcp.hooks import ObservingTransport, stderr_tail, tcp_reachable
from mcpdiag.emitters.mcp.oauth import OAuthCallbackError, OAuthTimeoutError, ObservedOAuth
from mcpdiag.emitters.mcp.sdk import SDK_LINE, SDK_VERSION, is_error
from mcpdiag.emitters.mcp.session import DiagnosedSession, host_allowed, host_key, open_session
from mcpdiag.emitters.mcp.tracing import TraceRecordingStream, sent_trace_id

__all__ = [
    "SDK_LINE",
    "SDK_VERSION",
    "DiagnosedSession",
    "OAuthCallbackError",
    "OAuthTimeoutError",
    "ObservedOAuth",
    "ObservingTransport",
    "TraceRecordingStream",
    "host_allowed",
    "host_key",
    "is_error",
    "open_session",
    "sent_trace_id",
    "stderr_tail",
    "tcp_reachable",
]
