"""MCP SDK integration (the `mcp` extra): sessions whose failures are classified, emitted and raised."""

from __future__ import annotations

from mcpdiag.emitters.mcp.hooks import ObservingTransport, stderr_tail, tcp_reachable
from mcpdiag.emitters.mcp.session import DiagnosedSession, host_allowed, open_session

__all__ = [
    "DiagnosedSession",
    "ObservingTransport",
    "host_allowed",
    "open_session",
    "stderr_tail",
    "tcp_reachable",
]
