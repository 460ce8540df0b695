"""mcpdiag.api: the FastAPI app, auth/RBAC, routes, the bundle exporter and the `mcpdiag` CLI."""
