"""The code catalog: stable diagnostic codes with severity, retryability, action and user-safe message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Severity(StrEnum):
    """How bad an event is; ordered from `debug` to `critical`."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for debug up to 4 for critical, for minimum-level filters and drop order."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
SEVERITY_RANK: Mapping[str, int] = MappingProxyType({s.value: i for s, i in _SEVERITY_RANK.items()})
_FAILURE_RANK = SEVERITY_RANK["warning"]


class Touchpoint(StrEnum):
    """Where in the host the event was observed."""

    CONNECT = "connect"
    OAUTH = "oauth"
    TOOL_CALL = "tool_call"
    TRANSPORT = "transport"
    INSPECTION = "inspection"
    LIFECYCLE = "lifecycle"


class Transport(StrEnum):
    """The MCP transport in use."""

    STDIO = "stdio"
    SSE = "sse"
    STREAMABLE_HTTP = "streamable-http"
    WEBSOCKET = "websocket"


class Action(StrEnum):
    """The call to action the UI renders next to a failure."""

    AUTHENTICATE = "authenticate"
    EDIT_SERVER = "edit_server"
    RETRY = "retry"
    DOCS = "docs"
    CONTACT_ADMIN = "contact_admin"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What the catalog knows about one code."""

    code: str
    title: str
    severity: Severity
    retryable: bool
    action: Action
    message: str
    """User-safe message template; `{server}` is replaced by the server name."""
    failure: bool = True

    def render(self, server: str) -> str:
        """The user-safe message for `server`."""
        return self.message.replace("{server}", server)


def _info(
    code: str,
    title: str,
    retryable: bool,
    action: Action,
    message: str,
    severity: Severity = Severity.ERROR,
) -> CodeInfo:
    return CodeInfo(
        code, title, severity, retryable, action, message, failure=severity.rank >= Severity.WARNING.rank
    )


_CODES = (
    _info(
        "MCP_AUTH_REQUIRED",
        "Sign-in required",
        False,
        Action.AUTHENTICATE,
        "{server} needs you to sign in, or your sign-in has expired. Authenticate to continue.",
    ),
    _info(
        "MCP_OAUTH_TIMEOUT",
        "Sign-in not completed",
        True,
        Action.AUTHENTICATE,
        "Sign-in to {server} was not completed in time. Start the sign-in again and finish it in the "
        "window that opens.",
    ),
    _info(
        "MCP_DNS_FAILURE",
        "Server address not found",
        False,
        Action.EDIT_SERVER,
        "The server address for {server} can't be found. Check the URL in the server settings.",
    ),
    _info(
        "MCP_CONNECTION_REFUSED",
        "Server not reachable",
        True,
        Action.RETRY,
        "{server} is not accepting connections right now; it may be down or restarting. Try again in "
        "a moment.",
    ),
    _info(
        "MCP_PROXY_SSE_ISSUE",
        "Blocked or altered by a proxy",
        False,
        Action.DOCS,
        "Something between you and {server} (a proxy, firewall or login page) changed or cut the "
        "connection. Your network may need to allow streaming responses.",
    ),
    _info(
        "MCP_DOMAIN_NOT_ALLOWED",
        "Server not allowed",
        False,
        Action.CONTACT_ADMIN,
        "Connections to {server} are not allowed by your organization's settings. Ask your "
        "administrator to allow this server.",
    ),
    _info(
        "MCP_INSPECTION_FAILED",
        "Server answered incorrectly",
        False,
        Action.CONTACT_ADMIN,
        "{server} was reached but did not answer like an MCP server should. Ask your administrator "
        "to check the server.",
    ),
    _info(
        "MCP_INTERNAL_ERROR",
        "Unexpected error",
        True,
        Action.RETRY,
        "Something unexpected went wrong with {server}. Try again; if it keeps happening, share the "
        "Debug ID with support.",
    ),
    _info(
        "MCP_OAUTH_FAILED",
        "Sign-in failed",
        False,
        Action.CONTACT_ADMIN,
        "Sign-in to {server} failed because the server's sign-in setup did not work. Ask your "
        "administrator to check it.",
    ),
    _info(
        "MCP_TLS_ERROR",
        "Secure connection failed",
        False,
        Action.CONTACT_ADMIN,
        "A secure connection to {server} could not be established (its certificate was not "
        "accepted). Ask your administrator to check the server's certificate.",
    ),
    _info(
        "MCP_TIMEOUT",
        "Server took too long",
        True,
        Action.RETRY,
        "{server} took too long to answer. Try again in a moment.",
    ),
    _info(
        "MCP_ENDPOINT_NOT_FOUND",
        "No MCP server at this address",
        False,
        Action.EDIT_SERVER,
        "There is no MCP server at the address configured for {server}. Check the URL and path in "
        "the server settings.",
    ),
    _info(
        "MCP_SESSION_EXPIRED",
        "Session ended",
        True,
        Action.RETRY,
        "{server} ended the session. Retry to start a new one.",
        Severity.WARNING,
    ),
    _info(
        "MCP_RATE_LIMITED",
        "Too many requests",
        True,
        Action.RETRY,
        "{server} is receiving too many requests. Wait a little before trying again.",
        Severity.WARNING,
    ),
    _info(
        "MCP_SERVER_ERROR",
        "Server error",
        True,
        Action.RETRY,
        "{server} ran into a problem on its side. Try again in a moment.",
    ),
    _info(
        "MCP_STDIO_SPAWN_FAILED",
        "Server program could not start",
        False,
        Action.EDIT_SERVER,
        "The program for {server} could not be started: the command is missing or not executable. "
        "Check the command in the server settings.",
    ),
    _info(
        "MCP_PROCESS_EXITED",
        "Server program stopped",
        True,
        Action.CONTACT_ADMIN,
        "The program for {server} stopped unexpectedly. Ask your administrator to check its configuration.",
    ),
    _info(
        "MCP_TOOL_ERROR",
        "Tool reported an error",
        False,
        Action.NONE,
        "A tool on {server} reported an error.",
        Severity.WARNING,
    ),
    _info(
        "MCP_CONNECTED",
        "Connected",
        False,
        Action.NONE,
        "Connected to {server}.",
        Severity.INFO,
    ),
    _info(
        "MCP_DISCONNECTED",
        "Disconnected",
        False,
        Action.NONE,
        "Disconnected from {server}.",
        Severity.INFO,
    ),
    _info(
        "MCP_OAUTH_STARTED",
        "Sign-in started",
        False,
        Action.NONE,
        "Sign-in to {server} started.",
        Severity.INFO,
    ),
    _info(
        "MCP_OAUTH_COMPLETED",
        "Signed in",
        False,
        Action.NONE,
        "Signed in to {server}.",
        Severity.INFO,
    ),
)

CATALOG: Mapping[str, CodeInfo] = MappingProxyType({info.code: info for info in _CODES})
"""Every known code → its `CodeInfo`."""

LIFECYCLE_CODES = frozenset({"MCP_CONNECTED", "MCP_DISCONNECTED", "MCP_OAUTH_STARTED", "MCP_OAUTH_COMPLETED"})
ENDED_BY_ATTR = "ended_by"
"""The attr of an MCP_DISCONNECTED whose session ended in a failure (its last request failed): that failure's
code. The server's state is then that failure's, not a clean `idle`."""
INVALID_PREFIX = "mcpdiag.invalid."
"""The attrs that keep a field value the host passed that the wire contract has no room for (`…code`,
`…touchpoint`, `…server`): the event is shipped with the default instead, never refused by the collector."""
TOOL_ERROR = "MCP_TOOL_ERROR"
"""A tool's own error (`isError`): the server worked, so it is counted apart from the server's failures."""


def counts_as_failure(code: str, severity: str) -> bool:
    """Whether an event of `code` at `severity` is a failure of its server: warning or worse, and not a
    tool's own error (`TOOL_ERROR`: the server worked). The one definition the cards, the summaries and the
    bundles count by: a lifecycle event a sender marked warning or worse (a connection that dropped) is one
    everywhere, and an informational one nowhere."""
    return SEVERITY_RANK.get(severity, 0) >= _FAILURE_RANK and code != TOOL_ERROR


FALLBACK_CODE = "MCP_INTERNAL_ERROR"


def code_info(code: str) -> CodeInfo:
    """The catalog entry for `code`; unknown codes count as `MCP_INTERNAL_ERROR`."""
    return CATALOG.get(code) or CATALOG[FALLBACK_CODE]
