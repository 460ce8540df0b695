"""Loopback servers for the failure zoo: a real MCP server, misbehaving endpoints, stdio scripts."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcpdiag.emitters.mcp.sdk import SDK_LINE

if SDK_LINE == 2:
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as Server
else:  # the 1.x line's server is FastMCP
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[int]:
    """Run an ASGI app under uvicorn in a background thread; yield its port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1, **config
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(5)


def _rpc_error(message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": message}}


async def _misbehave(request: Request) -> Response:
    name = request.path_params["name"]
    html = "<html><body>Access to this site is blocked by policy</body></html>"
    if name == "401":
        challenge = 'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"'
        return Response("unauthorized", 401, {"WWW-Authenticate": challenge})
    if name == "403-scope":
        challenge = 'Bearer error="insufficient_scope", scope="tools:write"'
        return Response("forbidden", 403, {"WWW-Authenticate": challenge})
    if name == "403-html":
        return Response(html, 403, media_type="text/html")
    if name == "407":
        return Response("proxy auth", 407, {"Proxy-Authenticate": 'Basic realm="corp"'})
    if name == "421":
        return Response("Invalid Host header", 421)
    if name == "429":
        return Response("slow down", 429, {"Retry-After": "7"})
    if name == "500":
        return Response("boom", 500)
    if name == "502":
        return Response("<html><body>502 Bad Gateway</body></html>", 502, media_type="text/html")
    if name == "503":
        return JSONResponse(_rpc_error("overloaded"), 503)
    if name == "200-html":
        return Response(html, 200, media_type="text/html")
    if name == "sse-cut":
        return Response(b"", 200, media_type="text/event-stream")
    if name == "redirect":
        return Response("", 307, {"Location": "https://login.example.com/sso?next=/mcp"})
    if name == "silent":
        await asyncio.sleep(30)
        return Response("late", 200)
    return Response("not found", 404)


async def _bad_tools(request: Request) -> Response:
    """A JSON-RPC server that initializes fine, then lists tools that are not valid tool definitions."""
    if request.method != "POST":
        return Response(status_code=405)
    message = await request.json()
    if "id" not in message:
        return Response(status_code=202)
    if message["method"] == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bad-tools", "version": "1.0"},
        }
    elif message["method"] == "tools/list":
        result = {"tools": [{"name": 42, "inputSchema": "none"}]}
    else:
        result = {}
    return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": result})


misbehaving_app = Starlette(
    routes=[
        Route("/s/{name}", _misbehave, methods=["GET", "POST", "DELETE"]),
        Route("/bad-tools", _bad_tools, methods=["GET", "POST", "DELETE"]),
    ]
)
"""Each `/s/<name>` path answers the way one broken server, proxy or gateway does."""

STDIO_EXIT_SCRIPT = "import sys; sys.stderr.write('fatal: missing API_KEY\\n'); sys.exit(3)"
STDIO_BANNER_SCRIPT = "print('Welcome to the zoo server v1.0'); import sys; sys.exit(0)"
PYTHON = sys.executable
SERVER_FILE = __file__


def _traceparent(meta: Any) -> str | None:
    """`traceparent` of a request's `_meta`: a dict on 2.x, a pydantic model with extra fields on 1.x."""
    if isinstance(meta, dict):
        return meta.get("traceparent")
    return getattr(meta, "traceparent", None) or (getattr(meta, "model_extra", None) or {}).get("traceparent")


def zoo_server(received: list[str | None] | None = None) -> Any:
    """A real MCP server (2.x `MCPServer` or 1.x `FastMCP`, whichever line is installed) with an echo tool,
    a failing tool and a slow tool.

    `traced_fail` fails like `fail` after appending the `_meta.traceparent` it received to `received`.
    """
    mcp = Server("zoo")

    @mcp.tool()
    def traced_fail(reason: str, ctx: Context) -> str:  # type: ignore[type-arg]
        if received is not None:
            received.append(_traceparent(ctx.request_context.meta))
        raise ValueError(reason)

    @mcp.tool()
    def echo(text: str) -> str:
        return text

    @mcp.tool()
    def fail(reason: str) -> str:
        raise ValueError(reason)

    @mcp.tool()
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    return mcp


if __name__ == "__main__":  # `python servers.py stdio` or `python servers.py http PORT`
    if sys.argv[1] == "stdio":
        zoo_server().run("stdio")
    else:
        app = zoo_server().streamable_http_app()
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
