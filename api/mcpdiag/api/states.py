"""The honest connection state of a server card, from the event its state comes from.

What a failure code says about a server, told apart so the card can say what to do:

* `needs_auth` — the caller has to sign in: `MCP_AUTH_REQUIRED` when they never got in before,
  `MCP_OAUTH_TIMEOUT` (a sign-in not completed), a pending `MCP_OAUTH_STARTED`, or a re-check that reached the
  server's sign-in (it cannot sign in as anyone) when the caller has no earlier connection.
* `auth_expired` — `MCP_AUTH_REQUIRED` after the failure's user (or a server-wide session) had connected:
  the sign-in ran out.
* `misconfigured` — the configuration is wrong: DNS, no MCP endpoint at that URL, the stdio command missing,
  TLS, a domain the policy refuses, a broken OAuth setup.
* `unreachable` — nothing answers or something between cuts it: refused, timed out, a proxy's page.
* `failing` — the server answers but is broken: 5xx, not MCP, its process exited, it ended the session,
  rate limited, anything unclassified.
* `degraded` — connected, but calls fail: a failure during a tool call that leaves the session up (a timeout,
  a 5xx, a rate limit on the call). A failure during a call that ends the session (the process died, nothing
  listens any more, the session or sign-in ended) is that failure's state instead. Tool errors (a tool that
  ran and reported an error) never change the state.
* `connected` — the latest state event is a connection (or a passing re-check) of the last 24 h.
* `idle` — no session now and nothing wrong: a clean `MCP_DISCONNECTED` (one that names the failure its
  session ended in, `ended_by`, is that failure's state), a connection older than 24 h
  (on-demand servers connect when used), or a re-check that reached the sign-in of a server the caller had
  connected to.
* `unknown` — no event at all.

`connectionState`, the coarser field hosts already read, is a function of this state (see `legacy_state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from mcpdiag.api.models import ConnectionState, ServerState
from mcpdiag.emitters.codes import ENDED_BY_ATTR, counts_as_failure

Event = Mapping[str, Any]

SUCCESS_CODES = ("MCP_CONNECTED", "MCP_OAUTH_COMPLETED")
IDLE_AFTER = timedelta(hours=24)
"""A connection this old, with nothing since, is no evidence of a session now."""
SIGN_IN_UNTESTED = "doctor.signIn"  # `mcpdiag.doctor.inspection.SIGN_IN_ATTR` (the API needs no doctor)
"""The attr a re-check sets (value `untested`) when it reached a sign-in it could not do."""

CATEGORIES: Mapping[str, ServerState] = {
    "MCP_AUTH_REQUIRED": "needs_auth",
    "MCP_OAUTH_TIMEOUT": "needs_auth",
    "MCP_DNS_FAILURE": "misconfigured",
    "MCP_ENDPOINT_NOT_FOUND": "misconfigured",
    "MCP_STDIO_SPAWN_FAILED": "misconfigured",
    "MCP_TLS_ERROR": "misconfigured",
    "MCP_DOMAIN_NOT_ALLOWED": "misconfigured",
    "MCP_OAUTH_FAILED": "misconfigured",
    "MCP_CONNECTION_REFUSED": "unreachable",
    "MCP_TIMEOUT": "unreachable",
    "MCP_PROXY_SSE_ISSUE": "unreachable",
    "MCP_SERVER_ERROR": "failing",
    "MCP_INTERNAL_ERROR": "failing",
    "MCP_INSPECTION_FAILED": "failing",
    "MCP_PROCESS_EXITED": "failing",
    "MCP_SESSION_EXPIRED": "failing",
    "MCP_RATE_LIMITED": "failing",
}
"""The state a failure of each code means; unknown codes count as `MCP_INTERNAL_ERROR` (failing)."""
SESSION_ENDING = frozenset(
    {"MCP_PROCESS_EXITED", "MCP_CONNECTION_REFUSED", "MCP_SESSION_EXPIRED", "MCP_AUTH_REQUIRED"}
)
"""Failures during a call after which there is no session any more (the others leave it `degraded`)."""
FAILURE_STATES = frozenset(
    {"needs_auth", "auth_expired", "misconfigured", "unreachable", "failing", "degraded"}
)
RESOLVED_STATES = frozenset({"connected", "idle"})
"""States in which the last failure is history: the server worked (or closed normally) since."""


def is_failure(event: Event | None) -> bool:
    """Whether `event` is a failure of the server: severity ≥ warning and not a tool's own error."""
    if event is None:
        return False
    return counts_as_failure(str(event.get("code")), str(event.get("severity")))


def _at(event: Event) -> datetime:
    return datetime.fromisoformat(str(event["ts"]).replace("Z", "+00:00"))


def _signed_in_before(event: Event, success: Event | None) -> bool:
    """Whether `success` is an earlier connection of the user `event` concerns (or a server-wide one)."""
    if success is None or (str(success["ts"]), str(success["id"])) >= (str(event["ts"]), str(event["id"])):
        return False
    return success.get("userId") in (event.get("userId"), None)


def ended_by(event: Event | None) -> str | None:
    """The failure the session of an MCP_DISCONNECTED ended in (its `ended_by` attr), or None."""
    attrs = event.get("attrs") if event is not None and event.get("code") == "MCP_DISCONNECTED" else None
    found = attrs.get(ENDED_BY_ATTR) if isinstance(attrs, Mapping) else None
    return found if isinstance(found, str) else None


def failure_state(event: Event, success: Event | None) -> ServerState:
    """The state a failure means, given the caller's latest successful connection."""
    code = str(event.get("code"))
    state = CATEGORIES.get(code, "failing")
    if code == "MCP_AUTH_REQUIRED" and _signed_in_before(event, success):
        return "auth_expired"
    return state


def derive_state(state_event: Event | None, success: Event | None, now: datetime) -> ServerState:
    """The state of a server from the event its state comes from (the latest connection event or failure
    during a call) and the caller's latest successful connection."""
    if state_event is None:
        return "unknown"
    code = str(state_event.get("code"))
    if state_event.get("touchpoint") == "tool_call":
        if code in SESSION_ENDING:
            return failure_state(state_event, success)
        return "degraded"  # only failures during calls are state events there
    if is_failure(state_event):
        return failure_state(state_event, success)
    if code in SUCCESS_CODES:
        return "idle" if now - _at(state_event) > IDLE_AFTER else "connected"
    if code == "MCP_DISCONNECTED":
        ended = ended_by(state_event)
        # A session that ended in a failure: that failure's state, not a resolved one.
        return "idle" if ended is None else failure_state({**state_event, "code": ended}, success)
    if code == "MCP_OAUTH_STARTED":
        return "needs_auth"
    attrs = state_event.get("attrs")
    if (
        code == "MCP_AUTH_REQUIRED"
        and isinstance(attrs, Mapping)
        and attrs.get(SIGN_IN_UNTESTED) == "untested"
    ):
        return "idle" if _signed_in_before(state_event, success) else "needs_auth"
    return "unknown"


def legacy_state(state: ServerState, state_event: Event | None) -> ConnectionState:
    """`connectionState`, the five values hosts read before `state` existed: connected (or degraded) →
    connected, idle → disconnected, a pending sign-in → connecting, a sign-in needed without a failure (a
    re-check reached it) → disconnected, the other states (failures) → error."""
    if state in ("connected", "degraded"):
        return "connected"
    if state == "unknown":
        return "unknown"
    if state_event is not None and state_event.get("code") == "MCP_OAUTH_STARTED":
        return "connecting"
    if state == "idle" or not (is_failure(state_event) or ended_by(state_event)):
        return "disconnected"
    return "error"
