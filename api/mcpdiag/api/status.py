"""Connection status of server cards, derived from the latest visible events.

The rule, per server and per caller (a user sees their own and server-wide events, staff see all):

* The **state event** is the latest visible event of severity ≥ info on a connection touchpoint
  (`connect`, `oauth`, `transport`, `inspection`, `lifecycle`; tool calls never change the state).
  `MCP_CONNECTED` / `MCP_OAUTH_COMPLETED` → `connected`; `MCP_OAUTH_STARTED` → `connecting`;
  `MCP_DISCONNECTED` → `disconnected`; any event of severity ≥ warning (a failure; unknown codes count
  as `MCP_INTERNAL_ERROR`) → `error`; anything else, or no event at all → `unknown`.
* `requiresOAuth` is true when the state event is `MCP_AUTH_REQUIRED`, `MCP_OAUTH_TIMEOUT`,
  `MCP_OAUTH_FAILED`, or a pending `MCP_OAUTH_STARTED`.
* `lastError` is the latest visible failure (severity ≥ warning) on those same touchpoints, even when
  the server has connected since (so `MCP_TOOL_ERROR` and other tool-call failures never show there);
  its `message` is the event's `messageSafe`, never `detail`.
* `updatedAt` is the state event's `ts` (null when the state is `unknown` for lack of events).
* A connection test (`mcpdiag doctor`) that named no server is stored under `doctor:<host>` with the
  `doctor.unnamed` mark: such a name is no server card, for anyone (its latest event, as staff see it,
  carries the mark). A test that named a server is that server's `inspection` like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mcpdiag.api.models import ConnectionState, LastError, ServerStatus
from mcpdiag.emitters import SEVERITY_RANK, Severity, Touchpoint
from mcpdiag.store.base import EventStore

STATE_TOUCHPOINTS = tuple(t.value for t in Touchpoint if t is not Touchpoint.TOOL_CALL)
LIFECYCLE_STATES: Mapping[str, ConnectionState] = {
    "MCP_CONNECTED": "connected",
    "MCP_OAUTH_COMPLETED": "connected",
    "MCP_OAUTH_STARTED": "connecting",
    "MCP_DISCONNECTED": "disconnected",
}
OAUTH_CODES = frozenset({"MCP_AUTH_REQUIRED", "MCP_OAUTH_TIMEOUT", "MCP_OAUTH_FAILED", "MCP_OAUTH_STARTED"})
UNNAMED_DOCTOR_RUN = "doctor.unnamed"  # the attr `mcpdiag.doctor` sets on such a run's event


def is_unnamed_doctor_run(event: Mapping[str, Any] | None) -> bool:
    """Whether `event` records a connection test that named no server (no card of its own)."""
    if event is None or event.get("touchpoint") != "inspection":
        return False
    attrs = event.get("attrs")
    return isinstance(attrs, Mapping) and attrs.get(UNNAMED_DOCTOR_RUN) is True


def state_of(event: Mapping[str, Any] | None) -> ConnectionState:
    """The connection state a state event implies (see the module docstring)."""
    if event is None:
        return "unknown"
    code = str(event.get("code"))
    if code in LIFECYCLE_STATES:
        return LIFECYCLE_STATES[code]
    if SEVERITY_RANK.get(str(event.get("severity")), 0) >= Severity.WARNING.rank:
        return "error"
    return "unknown"


def server_status(
    state_event: Mapping[str, Any] | None, error_event: Mapping[str, Any] | None
) -> ServerStatus:
    """The status card of one server from its state event and its last failure."""
    last_error = None
    if error_event is not None:
        last_error = LastError(
            code=str(error_event["code"]),
            message=str(error_event.get("messageSafe", "")),
            retryable=bool(error_event.get("retryable", False)),
            trace_id=str(error_event.get("traceId", "")),
            at=str(error_event["ts"]),
        )
    return ServerStatus(
        connection_state=state_of(state_event),
        requires_o_auth=state_event is not None and state_event.get("code") in OAUTH_CODES,
        last_error=last_error,
        updated_at=str(state_event["ts"]) if state_event is not None else None,
    )


async def connection_status(
    store: EventStore, servers: Sequence[str], *, user_id: str | None
) -> dict[str, ServerStatus]:
    """The status of each of `servers` as the caller (`user_id` scope, None = staff) sees it."""
    states = await store.last_events(
        servers, user_id=user_id, touchpoints=STATE_TOUCHPOINTS, min_severity=Severity.INFO
    )
    errors = await store.last_events(
        servers, user_id=user_id, touchpoints=STATE_TOUCHPOINTS, min_severity=Severity.WARNING
    )
    hidden = {server for server, event in states.items() if is_unnamed_doctor_run(event)}
    unseen = [server for server in servers if server not in states]
    if user_id is not None and unseen:
        # Another user's test is invisible to this caller; staff's view of the name decides.
        latest = await store.last_events(unseen, touchpoints=STATE_TOUCHPOINTS, min_severity=Severity.INFO)
        hidden |= {server for server, event in latest.items() if is_unnamed_doctor_run(event)}
    return {
        server: server_status(states.get(server), errors.get(server))
        for server in servers
        if server not in hidden
    }
