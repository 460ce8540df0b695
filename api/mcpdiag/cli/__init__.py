"""mcpdiag.cli: the `mcpdiag` command — serve, demo, search, tail, bundle, doctor and version."""

from __future__ import annotations

from mcpdiag.cli.app import app, main

__all__ = ["app", "main"]
