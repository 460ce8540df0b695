"""mcpdiag.ui: the static web UI (no build step), served by the API under /ui."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
"""HTML, ES modules and CSS of the UI; the API serves this folder at `/ui/`."""

__all__ = ["STATIC_DIR"]
