"""What the demo's users do: real MCP sessions through `open_session`, ending as their server fails."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from mcpdiag.cli.demo.servers import DemoServers, dying_stdio
from mcpdiag.emitters import Emitter, MCPDiagnosticError
from mcpdiag.emitters.mcp import DiagnosedSession, open_session

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
SLOW_READ_TIMEOUT = 1.5
"""How long the demo host waits for an answer from "weather", which never answers."""
OAUTH_TIMEOUT = 1.0
"""How long the demo host waits for a sign-in nobody completes (a real host waits minutes)."""


class _MemoryTokens:
    """The host's token storage (the SDK's `TokenStorage`), in memory and always empty of tokens."""

    def __init__(self) -> None:
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        return None

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def _nobody_opens(authorization_url: str) -> None:
    """The host shows the sign-in link; the user never follows it."""


async def _never_returns() -> AuthorizationCodeResult:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


def abandoned_sign_in(server_url: str) -> OAuthClientProvider:
    """The OAuth provider of a host whose user starts signing in and never comes back."""
    metadata = OAuthClientMetadata(
        client_name="mcpdiag demo chat app",
        redirect_uris=[AnyUrl("http://127.0.0.1:1/oauth/callback")],
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
    )
    return OAuthClientProvider(server_url, metadata, _MemoryTokens(), _nobody_opens, _never_returns)


@dataclass
class DemoHost:
    """The demo's stand-in for a chat app: one emitter, the servers' URLs, and open sessions per user."""

    emitter: Emitter
    servers: DemoServers
    sessions: dict[str, DiagnosedSession] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _holders: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect_github(self, user_id: str) -> str | None:
        """Open `user_id`'s long-lived github session (a host keeps it open), then use a few tools."""
        first: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._holders.append(asyncio.create_task(self._hold_github(user_id, first), name=f"github-{user_id}"))
        return await first

    async def _hold_github(self, user_id: str, first: asyncio.Future[str | None]) -> None:
        # anyio task groups inside the session must be left by the task that entered them: this one.
        try:
            async with open_session(
                "github",
                emitter=self.emitter,
                url=self.servers.urls["github"],
                user_id=user_id,
                timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
            ) as session:
                self.sessions[user_id] = session
                await session.list_tools()
                first.set_result(await self.use_github(user_id, failures=user_id == "alice"))
                await self._closing.wait()
        except Exception as exc:
            if not first.done():
                first.set_exception(exc)
        finally:
            self.sessions.pop(user_id, None)

    async def use_github(self, user_id: str, *, failures: bool | None = None) -> str | None:
        """Call github tools on the user's open session: searches work, two tools fail."""
        session = self.sessions.get(user_id)
        if session is None:
            return None
        failing = self.rng.random() < 0.5 if failures is None else failures
        await session.call_tool("search_issues", {"query": self.rng.choice(["login", "flaky ci", "docs"])})
        if failing:
            await session.call_tool("create_issue", {"repo": "acme/legacy", "title": "Login loops"})
            await session.call_tool("get_file", {"path": "docs/setup.md"})
        return session.last_debug_id

    async def fail(self, server: str, user_id: str | None) -> str | None:
        """Connect `user_id` (None: a server-wide connection) to a failing `server`; its Debug ID."""
        url = self.servers.urls.get(server)
        try:
            if server == "local-files":
                session = open_session(
                    server, emitter=self.emitter, stdio=dying_stdio(), transport="stdio", user_id=user_id
                )
            elif server == "notion":
                assert url is not None
                session = open_session(
                    server,
                    emitter=self.emitter,
                    url=url,
                    user_id=user_id,
                    oauth=abandoned_sign_in(url),
                    oauth_timeout=OAUTH_TIMEOUT,
                    timeout=CONNECT_TIMEOUT,
                    read_timeout=READ_TIMEOUT,
                )
            else:
                read_timeout = SLOW_READ_TIMEOUT if server == "weather" else READ_TIMEOUT
                session = open_session(
                    server,
                    emitter=self.emitter,
                    url=url,
                    user_id=user_id,
                    timeout=CONNECT_TIMEOUT,
                    read_timeout=read_timeout,
                )
            async with session as connected:
                await connected.list_tools()
        except MCPDiagnosticError as err:
            return err.debug_id
        return None

    async def close(self) -> None:
        """Close the open sessions (each emits MCP_DISCONNECTED)."""
        self._closing.set()
        await asyncio.gather(*self._holders, return_exceptions=True)
        self._holders.clear()


@dataclass(frozen=True)
class Scenario:
    """One thing a demo user does, the codes it produces, and how often it happened in the past day."""

    server: str
    user_id: str | None
    codes: tuple[str, ...]
    run: Callable[[DemoHost], Awaitable[str | None]]
    history: int = 8
    """Copies spread over the past `window_h` hours."""
    window_h: float = 24.0


def _failing(server: str, user_id: str | None) -> Callable[[DemoHost], Awaitable[str | None]]:
    async def run(host: DemoHost) -> str | None:
        return await host.fail(server, user_id)

    return run


def _github(user_id: str) -> Callable[[DemoHost], Awaitable[str | None]]:
    async def run(host: DemoHost) -> str | None:
        return await host.connect_github(user_id)

    return run


SCENARIOS = (
    Scenario("github", "alice", ("MCP_CONNECTED", "MCP_TOOL_ERROR"), _github("alice"), history=20),
    Scenario("github", "bob", ("MCP_CONNECTED",), _github("bob"), history=10),
    Scenario("docs-search", "alice", ("MCP_PROXY_SSE_ISSUE",), _failing("docs-search", "alice"), 14, 6),
    Scenario("notion", "alice", ("MCP_OAUTH_STARTED", "MCP_OAUTH_TIMEOUT"), _failing("notion", "alice"), 6),
    Scenario("local-files", None, ("MCP_PROCESS_EXITED",), _failing("local-files", None), 16, 12),
    Scenario("weather", "alice", ("MCP_TIMEOUT",), _failing("weather", "alice"), 12, 3),
    Scenario("weather", "bob", ("MCP_TIMEOUT",), _failing("weather", "bob"), 8, 3),
    Scenario("jira", None, ("MCP_DNS_FAILURE",), _failing("jira", None), 10, 20),
)
"""The initial fill: every scenario once, now; `history` copies of its events earlier (see history.py)."""


async def trickle_step(host: DemoHost) -> str | None:
    """One more thing happening: a github tool call on an open session, or a failing connection again."""
    if host.rng.random() < 0.4:
        return await host.use_github(host.rng.choice(["alice", "bob"]))
    failing = [s for s in SCENARIOS if s.server != "github"]
    return await host.rng.choice(failing).run(host)
