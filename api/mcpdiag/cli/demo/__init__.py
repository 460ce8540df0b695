"""`mcpdiag demo`: the service with realistic diagnostics from real MCP sessions against demo servers."""

from __future__ import annotations

from mcpdiag.cli.demo.runner import Demo, DemoOptions, run_demo

__all__ = ["Demo", "DemoOptions", "run_demo"]
