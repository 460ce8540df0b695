"""The demo's MCP servers on loopback: a healthy one with tools, a "proxy" answering HTML, an OAuth-protected
one with its authorization server, one that never answers, and a stdio server that dies at start."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mcpdiag.cli.serving import ManagedServer, loopback_socket, managed_server, wait_started

PROXY_PAGE = """<!doctype html><html><head><title>Corporate proxy</title></head>
<body><h1>Sign in to continue</h1><p>Access to this site requires authentication.</p></body></html>"""
STDIO_DIES = "import sys; sys.stderr.write('fatal: missing API_KEY\\n'); sys.exit(3)"
UNRESOLVABLE_URL = "https://mcp.nonexistent.invalid/mcp"
SILENCE_S = 60.0
DEMO_SERVERS_HOST = "127.0.0.1"
"""Where the demo's MCP servers listen (`serving.loopback_socket`): the one address its doctor may reach."""


def healthy_server() -> MCPServer:
    """A real MCP server (the demo's "github"): a tool that works, one that raises, one returning an error."""
    mcp = MCPServer("demo-github")

    @mcp.tool()
    def search_issues(query: str) -> str:
        """Search issues."""
        return f"3 issues match {query!r}: #12 login loop, #31 flaky CI, #42 docs typo"

    @mcp.tool()
    def create_issue(repo: str, title: str) -> str:
        """Create an issue."""
        raise PermissionError(f"repository {repo} is archived; issues are read-only")

    @mcp.tool()
    def get_file(path: str) -> CallToolResult:
        """Read a file from the default branch."""
        return CallToolResult(content=[TextContent(type="text", text=f"{path}: no such file")], is_error=True)

    return mcp


async def _proxy_page(request: Request) -> Response:
    # A captive proxy or SSO gateway: 200 with a login page where MCP JSON-RPC was expected.
    return HTMLResponse(PROXY_PAGE)


def proxy_app() -> Starlette:
    """Answers every MCP request with an HTML login page (the demo's "docs-search")."""
    return Starlette(routes=[Route("/mcp", _proxy_page, methods=["GET", "POST", "DELETE"])])


def silent_app(closing: asyncio.Event) -> Starlette:
    """Accepts the request and never answers in time (the demo's "weather"); gives up once `closing`."""

    async def silent(request: Request) -> Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), SILENCE_S)
        return Response("too late", 504)

    return Starlette(routes=[Route("/mcp", silent, methods=["GET", "POST", "DELETE"])])


def oauth_app() -> Starlette:
    """A bearer-protected MCP endpoint and the authorization server it points to (the demo's "notion").

    Nobody completes the sign-in, so no token is ever issued and `/mcp` always answers 401.
    """

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def mcp_endpoint(request: Request) -> Response:
        metadata = f"{base(request)}/.well-known/oauth-protected-resource/mcp"
        return Response("unauthorized", 401, {"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"'})

    async def resource_metadata(request: Request) -> Response:
        return JSONResponse({"resource": f"{base(request)}/mcp", "authorization_servers": [base(request)]})

    async def server_metadata(request: Request) -> Response:
        issuer = base(request)
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "registration_endpoint": f"{issuer}/register",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def register(request: Request) -> Response:
        metadata: dict[str, Any] = await request.json()
        client = {"client_id": f"demo-{secrets.token_hex(4)}", "client_secret": secrets.token_hex(16)}
        return JSONResponse(
            {
                **metadata,
                **client,
                "client_id_issued_at": 0,
                "token_endpoint_auth_method": "client_secret_post",
            },
            201,
        )

    async def token(request: Request) -> Response:
        return JSONResponse({"error": "invalid_grant"}, 400)

    async def authorize(request: Request) -> Response:
        return HTMLResponse("<h1>Sign in to Notion (demo)</h1>")

    return Starlette(
        routes=[
            Route("/mcp", mcp_endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/.well-known/oauth-protected-resource/mcp", resource_metadata),
            Route("/.well-known/oauth-authorization-server", server_metadata),
            Route("/register", register, methods=["POST"]),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
        ]
    )


def dying_stdio() -> StdioServerParameters:
    """A stdio server that writes an error to stderr and exits 3 (the demo's "local-files")."""
    return StdioServerParameters(command=sys.executable, args=["-c", STDIO_DIES])


@dataclass
class DemoServers:
    """The loopback servers the demo runs, and the MCP URL of each."""

    urls: dict[str, str] = field(default_factory=dict)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _running: list[tuple[ManagedServer, asyncio.Task[None]]] = field(default_factory=list)

    async def start(self) -> None:
        """Start every HTTP server on a free loopback port."""
        apps = {
            "github": healthy_server().streamable_http_app(),
            "docs-search": proxy_app(),
            "notion": oauth_app(),
            "weather": silent_app(self._closing),
        }

        async def start_one(name: str, app: Any) -> None:
            sock = loopback_socket()
            server = managed_server(app, host=DEMO_SERVERS_HOST, port=0, quiet=True, graceful_s=1)
            task = asyncio.create_task(server.serve(sockets=[sock]), name=f"demo-server-{name}")
            self._running.append((server, task))
            await wait_started(server, task)
            self.urls[name] = f"http://{DEMO_SERVERS_HOST}:{sock.getsockname()[1]}/mcp"

        await asyncio.gather(*(start_one(name, app) for name, app in apps.items()))
        self.urls["jira"] = UNRESOLVABLE_URL

    async def stop(self) -> None:
        """Stop every server (a request still waiting is cut after a second)."""
        self._closing.set()
        for server, _ in self._running:
            server.should_exit = True
        await asyncio.gather(*(task for _, task in self._running), return_exceptions=True)
        self._running.clear()
