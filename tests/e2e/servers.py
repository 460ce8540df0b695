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
from mcp import UrlElicitationRequiredError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcpdiag.emitters.mcp.sdk import SDK_LINE, types

if SDK_LINE == 2:
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError
else:  # the 1.x line's server is FastMCP
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]


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


def _rpc_error(message: str, code: int = -32000, request_id: Any = 1, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


async def _request_id(request: Request) -> Any:
    try:
        message = await request.json()
    except ValueError:
        return None
    return message.get("id") if isinstance(message, dict) else None


async def _misbehave(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "header-mismatch":  # a 2026 server whose Mcp-* headers a gateway rewrote on the way
        message = "Mcp-Method header does not match the request body's method"
        return JSONResponse(_rpc_error(message, -32020, await _request_id(request)), 400)
    if name == "version":  # a server that serves only the 2026-07-28 protocol, as the 2.x SDK answers
        message = "connection is serving the 2026-07-28 protocol; the initialize handshake is not accepted"
        data = {"supported": ["2026-07-28"], "requested": "2025-11-25"}
        return JSONResponse(_rpc_error(message, -32022, await _request_id(request), data), 400)
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


async def _stub(request: Request) -> Response:
    """A JSON-RPC server that initializes fine, then (`/bad-tools`) lists tools that are not valid tool
    definitions, or (`/needs-capability`) answers a tool call the way a 2026 server does when the client
    lacks a capability the tool needs: 400 and -32021, or (`/forgets-session`) answers everything after
    initialize the way a restarted server does: 404 "Session not found"."""
    if request.method != "POST":
        return Response(status_code=405)
    message = await request.json()
    if "id" not in message:
        return Response(status_code=202)
    if message["method"] != "initialize" and request.url.path == "/forgets-session":
        # What the SDK's server answers for a session id it no longer knows (it was restarted).
        forgotten = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
        return JSONResponse(forgotten, 404)
    if message["method"] == "tools/call" and request.url.path == "/needs-capability":
        data = {"requiredCapabilities": {"elicitation": {}}}
        error = _rpc_error("tools/call requires the elicitation capability", -32021, message["id"], data)
        return JSONResponse(error, 400)
    if message["method"] == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "bad-tools", "version": "1.0"},
        }
    elif message["method"] == "tools/list" and request.url.path == "/bad-tools":
        result = {"tools": [{"name": 42, "inputSchema": "none"}]}
    elif message["method"] == "tools/list":
        result = {"tools": [{"name": "book", "inputSchema": {"type": "object"}}]}
    else:
        result = {}
    session = {"mcp-session-id": "stub-session"} if message["method"] == "initialize" else {}
    return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": result}, headers=session)


misbehaving_app = Starlette(
    routes=[
        Route("/s/{name}", _misbehave, methods=["GET", "POST", "DELETE"]),
        Route("/bad-tools", _stub, methods=["GET", "POST", "DELETE"]),
        Route("/needs-capability", _stub, methods=["GET", "POST", "DELETE"]),
        Route("/forgets-session", _stub, methods=["GET", "POST", "DELETE"]),
    ]
)
"""Each `/s/<name>` path answers the way one broken server, proxy or gateway does."""

STDIO_EXIT_SCRIPT = "import sys; sys.stderr.write('fatal: missing API_KEY\\n'); sys.exit(3)"
STDIO_BANNER_SCRIPT = "print('Welcome to the zoo server v1.0'); import sys; sys.exit(0)"
# A server written for the other SDK line: after an upgrade (or a downgrade) its import fails at start.
STDIO_DRIFT_SCRIPT = (
    "from mcp.server.fastmcp import FastMCP"
    if SDK_LINE == 2
    else "from mcp.server.mcpserver import MCPServer"
)
PYTHON = sys.executable
SERVER_FILE = __file__


def _traceparent(meta: Any) -> str | None:
    """`traceparent` of a request's `_meta`: a dict on 2.x, a pydantic model with extra fields on 1.x."""
    if isinstance(meta, dict):
        return meta.get("traceparent")
    return getattr(meta, "traceparent", None) or (getattr(meta, "model_extra", None) or {}).get("traceparent")


def zoo_server(received: list[str | None] | None = None, *, elicits: bool = False) -> Any:
    """A real MCP server (2.x `MCPServer` or 1.x `FastMCP`, whichever line is installed) with an echo tool,
    a failing tool and a slow tool.

    `traced_fail` fails like `fail` after appending the `_meta.traceparent` it received to `received`.
    With `elicits`, a `connect_account` tool needs the user to complete a URL elicitation first (-32042).
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

    if elicits:

        @mcp.tool()
        def connect_account() -> str:
            """Needs the user to link an account in their browser first."""
            link = {"mode": "url", "message": "Link your account", "url": "https://accounts.example.com/link"}
            params = types.ElicitRequestURLParams.model_validate({**link, "elicitationId": "link-1"})
            raise UrlElicitationRequiredError([params])

    @mcp.tool()
    def fail(reason: str) -> str:
        raise ValueError(reason)

    @mcp.tool()
    def refuse(reason: str) -> str:
        """Fails with `reason` in its error text, on both SDK lines (2.x shows an unexpected error's name
        only)."""
        raise ToolError(reason)

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
