"""Server cards: what is known about a server from the events one caller may see, and the one rule that
turns those facts into the card (state, last failure, counts), so no part of a card contradicts another.

The facts, per server and per caller (a user sees their own and server-wide events, staff see all):

* A **failure** is an event of severity ≥ warning that is not a tool's own error (`MCP_TOOL_ERROR`): a
  failure during a tool call (the stdio process died, the server timed out or rate-limited the call) is
  a failure of the server like a failure to connect; a tool that ran and reported an error is not.
* The **connection event** is the latest event of severity ≥ info on a connection touchpoint (`connect`,
  `oauth`, `transport`, `inspection`, `lifecycle`); the **call failure** the latest failure during a
  tool call. The state comes from the newer of the two (tool errors never change it), with the caller's
  latest successful connection (`MCP_CONNECTED` / `MCP_OAUTH_COMPLETED`) telling an expired sign-in from one
  never made: `mcpdiag.api.states` is that rule (`state`, and the coarser `connectionState` from it).
* `lastError` is the latest failure, even when the server has connected since; it is `resolved` when
  the state is `connected` or `idle` (a later connection event shows the server working again or
  closed normally). Its `message` is the event's `messageSafe`, never `detail`.
* `recent` counts the failures and the tool errors of the last 24 h, so a failure in the window is
  always the card's `lastError` (or older than it), and "no failures" always means none in the window.
* `requiresOAuth` is true when the state event is `MCP_AUTH_REQUIRED`, `MCP_OAUTH_TIMEOUT`,
  `MCP_OAUTH_FAILED`, or a pending `MCP_OAUTH_STARTED` (or a disconnect whose session ended in one of
  them, `states.ended_by`); `updatedAt` is the state event's `ts`.
* `endpoint` is what the newest of those events (connection event, connection failure, last success) that
  names one says (`attrs.endpoint`: the emitter's URL without credentials or query, or the stdio command).
* A connection test (`mcpdiag doctor`) that named no server is stored under `doctor:runs` with the
  `doctor.unnamed` mark: such a name is no server card, for anyone (its latest event, as staff see it and at
  any severity, carries the mark; `doctor_run_names`), nor a server of the staff Overview. A test that named
  a server is that server's `inspection` like any other.

`derive_status` is the rule; `mcpdiag.api.states` the part that names the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcpdiag.api.models import Endpoint, LastError, RecentCounts, ServerStatus
from mcpdiag.api.states import (
    RESOLVED_STATES,
    SUCCESS_CODES,
    derive_state,
    ended_by,
    is_failure,
    legacy_state,
)
from mcpdiag.emitters import CATALOG, Severity, Touchpoint, format_ts, url_endpoint
from mcpdiag.emitters.codes import TOOL_ERROR
from mcpdiag.emitters.endpoint import MAX_ENDPOINT_CHARS
from mcpdiag.store.base import EventStore, Summary

Event = Mapping[str, Any]

STATE_TOUCHPOINTS = tuple(t.value for t in Touchpoint if t is not Touchpoint.TOOL_CALL)
CALL_FAILURE_CODES = tuple(sorted(c for c, info in CATALOG.items() if info.failure and c != TOOL_ERROR))
CARD_WINDOW = "24h"
CARD_SPAN = timedelta(hours=24)
OAUTH_CODES = frozenset({"MCP_AUTH_REQUIRED", "MCP_OAUTH_TIMEOUT", "MCP_OAUTH_FAILED", "MCP_OAUTH_STARTED"})
UNNAMED_DOCTOR_RUN = "doctor.unnamed"  # the attr `mcpdiag.doctor` sets on such a run's event
DOCTOR_PREFIX = "doctor:"  # the names it stores them under (`doctor:runs`; `doctor:<host>` before)


def is_unnamed_doctor_run(event: Mapping[str, Any] | None) -> bool:
    """Whether `event` records a connection test that named no server (no card of its own)."""
    if event is None or event.get("touchpoint") != "inspection":
        return False
    attrs = event.get("attrs")
    return isinstance(attrs, Mapping) and attrs.get(UNNAMED_DOCTOR_RUN) is True


async def doctor_run_names(store: EventStore, servers: Sequence[str]) -> set[str]:
    """Which of `servers` hold connection tests that named no server, not a server: those whose latest
    event on a state touchpoint, as staff see it and at any severity (a run the doctor's own address policy
    stopped is stored at debug), is such a test. Whoever asks, the same answer: another user's test is
    invisible to a user, not its name. Only names the doctor stores such tests under (`doctor:…`) are asked
    about: an event any ingest key may send with the mark must not hide a real server."""
    candidates = [server for server in servers if server.startswith(DOCTOR_PREFIX)]
    if not candidates:
        return set()
    latest = await store.last_events(candidates, touchpoints=STATE_TOUCHPOINTS, min_severity=Severity.DEBUG)
    return {server for server, event in latest.items() if is_unnamed_doctor_run(event)}


def newest(*events: Event | None) -> Event | None:
    """The latest of `events` by (ts, id); None when all are None."""
    present = [e for e in events if e is not None]
    return max(present, key=lambda e: (str(e["ts"]), str(e["id"]))) if present else None


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Failures and tool errors of one server in a window, as one caller sees them."""

    window: str
    since: datetime
    failures: int = 0
    tool_errors: int = 0


def window_counts(summary: Summary, window: str) -> WindowCounts:
    """The card's counts from a store summary of the window: its failures (`counts_as_failure`) and its
    tool errors, whatever their severity (the catalog's is warning)."""
    tools = summary.by_code[TOOL_ERROR].count if TOOL_ERROR in summary.by_code else 0
    return WindowCounts(window, summary.since, failures=summary.failures, tool_errors=tools)


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What one caller's visible events say about one server."""

    summary: Summary
    window: str = CARD_WINDOW
    connection_event: Event | None = None
    connection_failure: Event | None = None
    call_failure: Event | None = None
    last_success: Event | None = None
    """The latest `MCP_CONNECTED` / `MCP_OAUTH_COMPLETED` on any touchpoint."""

    @property
    def counts(self) -> WindowCounts:
        """Failures and tool errors of the window."""
        return window_counts(self.summary, self.window)

    @property
    def last_failure(self) -> Event | None:
        """The latest failure on any touchpoint."""
        connection = self.connection_failure if is_failure(self.connection_failure) else None
        return newest(connection, self.call_failure)

    @property
    def state_event(self) -> Event | None:
        """The event the state comes from: the latest connection event or failure during a call."""
        return newest(self.connection_event, self.call_failure)

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint the newest connection event naming one reports."""
        named = [
            e for e in (self.connection_event, self.connection_failure, self.last_success) if endpoint_of(e)
        ]
        latest = newest(*named)
        if latest is None:
            return None
        transport = latest.get("transport")
        return Endpoint(
            address=endpoint_of(latest) or "", transport=transport if isinstance(transport, str) else None
        )


def endpoint_of(event: Event | None) -> str | None:
    """`attrs.endpoint` of `event` when it is shaped like one an emitter names: a URL as `url_endpoint` gives
    it, or a command's file name (a bare path or anything else an attr happens to be called is not one)."""
    attrs = event.get("attrs") if event is not None else None
    value = attrs.get("endpoint") if isinstance(attrs, Mapping) else None
    if not isinstance(value, str) or not value or len(value) > MAX_ENDPOINT_CHARS:
        return None
    if url_endpoint(value) == value or not any(c in value for c in "/\\:"):
        return value
    return None


def derive_status(facts: ServerFacts, now: datetime) -> ServerStatus:
    """The card of one server at `now`: state, last failure and counts, all from the same facts."""
    state_event, failure = facts.state_event, facts.last_failure
    state = derive_state(state_event, facts.last_success, now)
    last_error = None
    if failure is not None:
        last_error = LastError(
            code=str(failure["code"]),
            message=str(failure.get("messageSafe", "")),
            retryable=bool(failure.get("retryable", False)),
            trace_id=str(failure.get("traceId", "")),
            at=str(failure["ts"]),
            touchpoint=str(failure.get("touchpoint", "")),
            tool=failure.get("tool"),
            resolved=state in RESOLVED_STATES,
        )
    counts = facts.counts
    return ServerStatus(
        state=state,
        connection_state=legacy_state(state, state_event),
        requires_o_auth=state_event is not None
        and (state_event.get("code") in OAUTH_CODES or ended_by(state_event) in OAUTH_CODES),
        last_error=last_error,
        updated_at=str(state_event["ts"]) if state_event is not None else None,
        recent=RecentCounts(
            window=counts.window,
            since=format_ts(counts.since),
            failure_count=counts.failures,
            tool_error_count=counts.tool_errors,
        ),
        endpoint=facts.endpoint,
    )


async def _call_failures(store: EventStore, servers: Sequence[str], user_id: str | None) -> dict[str, Event]:
    """The latest failure during a tool call per server. The store filters by codes it is given, so the
    catalog's failure codes find one behind a newer tool error; the latest severe call event adds a
    failure under an unknown code (one older than a tool error is not found: a documented blind spot)."""
    calls = ("tool_call",)
    known = await store.last_events(
        servers, user_id=user_id, touchpoints=calls, codes=CALL_FAILURE_CODES, min_severity=Severity.WARNING
    )
    latest = await store.last_events(
        servers, user_id=user_id, touchpoints=calls, min_severity=Severity.WARNING
    )
    found: dict[str, Event] = {}
    for server in servers:
        event = newest(known.get(server), latest.get(server) if is_failure(latest.get(server)) else None)
        if event is not None:
            found[server] = event
    return found


async def server_facts(
    store: EventStore,
    servers: Sequence[str],
    *,
    user_id: str | None,
    window: str = CARD_WINDOW,
    span: timedelta = CARD_SPAN,
) -> dict[str, ServerFacts]:
    """The facts of each of `servers` as the caller (`user_id` scope, None = staff) sees them."""
    connection = await store.last_events(
        servers, user_id=user_id, touchpoints=STATE_TOUCHPOINTS, min_severity=Severity.INFO
    )
    failures = await store.last_events(
        servers, user_id=user_id, touchpoints=STATE_TOUCHPOINTS, min_severity=Severity.WARNING
    )
    calls = await _call_failures(store, servers, user_id)
    successes = await store.last_events(
        servers, user_id=user_id, codes=SUCCESS_CODES, min_severity=Severity.INFO
    )
    since = store.clock() - span
    summaries = await store.summaries(servers, since, user_id=user_id)  # one query for every card
    facts = {}
    for server in servers:
        facts[server] = ServerFacts(
            summary=summaries[server],
            window=window,
            connection_event=connection.get(server),
            connection_failure=failures.get(server),
            call_failure=calls.get(server),
            last_success=successes.get(server),
        )
    return facts


async def connection_status(
    store: EventStore, servers: Sequence[str], *, user_id: str | None
) -> dict[str, ServerStatus]:
    """The card of each of `servers` as the caller (`user_id` scope, None = staff) sees it."""
    facts = await server_facts(store, servers, user_id=user_id)
    hidden = await doctor_run_names(store, servers)
    now = store.clock()
    return {server: derive_status(facts[server], now) for server in servers if server not in hidden}
