"""Which MCP SDK line is installed (1.x or 2.x), detected once at import, and the few names that differ.

The two lines share the client API the hooks use (`ClientSession`, `streamable_http_client`, `sse_client`,
`stdio_client`, `OAuthClientProvider`), with different spellings around it: 2.x has `MCPError`, `mcp_types`
(snake_case fields), float timeouts and `httpx2`; 1.x has `McpError`, `mcp.types` (camelCase fields),
`timedelta` timeouts and `httpx`. Everything else in `mcpdiag.emitters.mcp` imports those names from here.
The type checker sees the 2.x names; at run time they are the installed line's (httpx2 is a fork of httpx
with the same API, so one annotation covers both).
"""

from __future__ import annotations

from datetime import timedelta
from importlib import metadata
from typing import TYPE_CHECKING, Any, Final, Literal

import mcp


def _line() -> Literal[1, 2]:
    # A feature test, not the version string: it also holds for a source checkout or a vendored copy.
    return 2 if hasattr(mcp, "MCPError") else 1


SDK_LINE: Final[Literal[1, 2]] = _line()
"""1 for `mcp` 1.x (1.28 and later), 2 for `mcp` 2.x."""


def _version() -> str:
    try:
        return metadata.version("mcp")
    except metadata.PackageNotFoundError:  # an unpackaged copy of the SDK
        return f"{SDK_LINE}.x"


SDK_VERSION: Final[str] = _version()
"""The installed `mcp` distribution's version."""

if TYPE_CHECKING or SDK_LINE == 2:
    import httpx2 as http
    import mcp_types as types
    from mcp import MCPError as McpError
else:
    import httpx as http
    from mcp import McpError, types


def _keeps_redirects_in_origin() -> bool:
    # From 1.30 (and on 2.x) the SDK follows a redirect only within the endpoint's origin; 1.28 and 1.29
    # follow any redirect the HTTP client follows.
    from mcp.shared import _httpx_utils

    return hasattr(_httpx_utils, "stream_within_origin")


SDK_KEEPS_REDIRECTS_IN_ORIGIN: Final[bool] = _keeps_redirects_in_origin()
"""Whether the SDK itself refuses to follow an MCP request's redirect to another origin."""

__all__ = [
    "SDK_KEEPS_REDIRECTS_IN_ORIGIN",
    "SDK_LINE",
    "SDK_VERSION",
    "McpError",
    "field",
    "http",
    "is_error",
    "seconds",
    "types",
]


def seconds(value: float | None) -> Any:
    """A timeout in the form the installed SDK's session takes (float seconds on 2.x, `timedelta` on 1.x)."""
    if value is None or SDK_LINE == 2:
        return value
    return timedelta(seconds=value)


def field(model: object, name: str) -> Any:
    """`model.<name>` by its snake_case name (2.x), else by its camelCase spelling (1.x); None if neither."""
    if hasattr(model, name):
        return getattr(model, name)
    head, *rest = name.split("_")
    return getattr(model, head + "".join(part.title() for part in rest), None)


def is_error(result: object) -> bool:
    """Whether a `CallToolResult` reports a failed tool call (`is_error` on 2.x, `isError` on 1.x)."""
    return bool(field(result, "is_error"))
