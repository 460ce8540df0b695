"""mcpdiag.ui: the static web UI (no build step), served by the API under /ui."""
