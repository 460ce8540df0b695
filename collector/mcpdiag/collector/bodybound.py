"""`BodyBound`: every request body is read within a bound, before any route (or its authentication) runs.

FastAPI reads a route's JSON body whole before it solves the route's dependencies, so without a bound one
anonymous request of 400 MB to a route with a body parameter held 400 MB and more. The routes that read
their bodies themselves (ingest, the admin's uploads) have their own, larger bounds, which the app names
by path; every other route gets `MAX_JSON_BODY_BYTES`. A body declared longer is refused before it is
read, one sent without a length as soon as it passes the bound; both are answered with 413 in the usual
error shape. (Starlette's own limit answers in plain text, over any response the route gave.)
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcpdiag.collector.body import MAX_JSON_BODY_BYTES
from mcpdiag.collector.handlers import error_response

_MIB = 1024 * 1024


def size_text(size: int) -> str:
    """`size` bytes for a message: `8 MiB`, `1.5 MiB`, `20 KiB`."""
    if size >= _MIB:
        return f"{size / _MIB:,.1f}".removesuffix(".0") + " MiB"
    return f"{max(1, round(size / 1024)):,} KiB"


class BodyTooLarge(HTTPException):
    """A body that passed its bound while the route read it (413; an HTTP error, which FastAPI passes on
    from the body's reading, where any other error would become a 400)."""

    def __init__(self, bound: int) -> None:
        super().__init__(413, f"the request body exceeds {size_text(bound)}")


def route_path(scope: Scope) -> str:
    """The path a route is matched on: without the `root_path` a proxy mounts the service under
    (`--root-path /diag`), which ASGI puts in front of `path` as routing removes it."""
    root: str = scope.get("root_path", "")
    path: str = scope["path"]
    return path[len(root) :] if root and path.startswith(root) else path


class BodyBound:
    """ASGI middleware: bodies of the paths in `larger` within their bound, every other within
    `MAX_JSON_BODY_BYTES`."""

    def __init__(self, app: ASGIApp, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bound = self.larger.get(route_path(scope), MAX_JSON_BODY_BYTES)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > bound:
            message = f"the request body of {int(declared):,} bytes exceeds {size_text(bound)}"
            await error_response(413, "payload_too_large", message)(scope, receive, send)
            return
        read = 0

        async def bounded() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > bound:
                    raise BodyTooLarge(bound)
            return message

        await self.app(scope, bounded, send)
