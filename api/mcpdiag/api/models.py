"""Response models of the query API: what `/docs` promises, camelCase on the wire."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mcpdiag.api.derived import output_type
from mcpdiag.emitters import Action, DiagnosticEvent, Severity, Touchpoint

ConnectionState = Literal["connected", "connecting", "disconnected", "error", "unknown"]
"""The coarse state hosts read before `ServerState` (kept, as a function of it: see `mcpdiag.api.states`)."""
ServerState = Literal[
    "connected",
    "idle",
    "needs_auth",
    "auth_expired",
    "unreachable",
    "misconfigured",
    "degraded",
    "failing",
    "unknown",
]
"""A server's honest state for one caller (the rule: `mcpdiag.api.states`)."""


class ApiModel(BaseModel):
    """camelCase aliases on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


if TYPE_CHECKING:
    EventOut = dict[str, Any]
else:
    EventOut = output_type(
        DiagnosticEvent,
        name="EventOut",
        doc="One stored diagnostic event (the wire event). `detail` is present only for support and admins.",
        descriptions={"detail": "Support/admin only; absent for plain users"},
    )
"""`DiagnosticEvent`'s fields, enums and nested `SourceOut` as the API returns them (see `derived`)."""


class DiagnosticsPage(ApiModel):
    """One page of a server's events, newest first; pass `nextCursor` back as `cursor` for the next."""

    server: str
    items: list[EventOut]
    next_cursor: str | None


class LastError(ApiModel):
    """The latest failure of the server the caller may see (a tool's own error is not one)."""

    code: str
    message: str = Field(description="The event's messageSafe")
    retryable: bool
    trace_id: str
    at: str
    touchpoint: str = Field(description="Where it happened; tool_call = the server failed during a call")
    tool: str | None = Field(default=None, description="The tool being called, for a failure during a call")
    resolved: bool = Field(
        description="A later connection event shows the server connected again or closed normally"
    )


class RecentCounts(ApiModel):
    """What happened in the card's window, counted over the same events as `lastError`."""

    window: str = Field(description="The window, e.g. 24h")
    since: str = Field(description="RFC 3339: the window's start")
    failure_count: int = Field(
        description="Failures of the server (severity warning or worse, tool errors excluded)"
    )
    tool_error_count: int = Field(
        description="Tool errors (MCP_TOOL_ERROR): the tool ran and reported an error"
    )


class Endpoint(ApiModel):
    """Where the host connects to the server, as its latest connection events report it: a URL without
    credentials or query, or a stdio command's name. What "Re-check" tests."""

    address: str = Field(description="URL (no userinfo, no query) or the stdio command name")
    transport: str | None = Field(default=None, description="stdio, sse or streamable-http")


class ServerStatus(ApiModel):
    """A server card: its state, last failure and recent counts, derived from the same events."""

    state: ServerState = Field(
        description="connected · idle (no session now, nothing wrong: on-demand servers) · needs_auth · "
        "auth_expired · unreachable · misconfigured (DNS, no endpoint, spawn failure, TLS, …) · degraded "
        "(connected, calls failing) · failing · unknown (no events)"
    )
    connection_state: ConnectionState = Field(
        description="The coarse state of earlier versions, derived from `state`: connected or degraded → "
        "connected, idle → disconnected, a pending sign-in → connecting, other failures → error"
    )
    requires_o_auth: bool = Field(alias="requiresOAuth")
    last_error: LastError | None
    updated_at: str | None = Field(description="ts of the event the state comes from; null when unknown")
    recent: RecentCounts
    endpoint: Endpoint | None = Field(
        default=None, description="The server's endpoint from its latest connection events, when they name it"
    )


class ConnectionStatusResponse(ApiModel):
    """State of every server the caller can access."""

    connection_status: dict[str, ServerStatus]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null at the end"
    )


class CodeCount(ApiModel):
    """Occurrences of one code in the window."""

    count: int
    first_seen: str
    last_seen: str


class SummaryResponse(ApiModel):
    """Counts for one server over a window: the server card's badge."""

    server: str
    window: str
    since: str
    total: int
    error_count: int = Field(description="Events of severity error or critical")
    failure_count: int = Field(
        description="Failures of the server (severity warning or worse, tool errors excluded)"
    )
    tool_error_count: int = Field(description="Tool errors (MCP_TOOL_ERROR)")
    by_severity: dict[str, int]
    by_code: dict[str, CodeCount]
    last_error: EventOut | None = Field(
        description="The latest failure in the window: the server card's lastError when it is that recent"
    )
    state: ServerState | None = Field(default=None, description="The server card's state (see ServerStatus)")
    endpoint: Endpoint | None = Field(
        default=None, description="The server card's endpoint (what Re-check tests)"
    )


class DebugLookup(ApiModel):
    """Every visible event of one trace, oldest first, and (for staff) the user's events around it."""

    debug_id: str
    trace_id: str
    items: list[EventOut]
    related: list[EventOut] = Field(
        description="Support/admin: the same user's events on the same server within ±10 minutes"
    )
    kept_until: str | None = Field(
        default=None,
        description="RFC 3339: until when every event of `items` is kept at least. A lookup by support or "
        "admins keeps them MCPDIAG_REPORTED_RETENTION_DAYS (default 90) past now, beyond normal retention",
    )


class DebugReport(ApiModel):
    """What reporting a Debug ID kept: the trace's events the caller may see, and until when."""

    debug_id: str
    trace_id: str
    kept: int = Field(description="How many events of the trace are kept")
    kept_until: str = Field(description="RFC 3339: every kept event is stored at least until then")


class AuditRecord(ApiModel):
    """Who looked up or exported what, when, and in which scope."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    id: str
    at: str
    actor: str
    role: str
    action: str
    target: str | None = None
    scope: dict[str, Any] = Field(default_factory=dict)
    result_count: int | None = None
    request_id: str | None = None


class AuditPage(ApiModel):
    """One page of the audit log, newest first."""

    items: list[AuditRecord]
    next_cursor: str | None


class Health(ApiModel):
    """Liveness."""

    status: Literal["ok"] = "ok"


class Readiness(ApiModel):
    """Readiness: the store answers."""

    status: Literal["ready"] = "ready"
    store: str


class ProblemOut(ApiModel):
    """Failures of one fingerprint (server, code, touchpoint, tool) over the window."""

    fingerprint: str
    server: str
    code: str
    title: str = Field(description="The catalog's short title of the code")
    touchpoint: Touchpoint
    tool: str | None
    severity: Severity = Field(description="The highest severity among its events")
    count: int = Field(description="Occurrences (coalesced repeats count as many as they stand for)")
    first_seen: str
    last_seen: str
    users_affected: int = Field(description="Distinct users among the events the caller may see")
    server_wide: bool = Field(description="Whether any occurrence affected everyone (no user)")
    latest_debug_id: str
    latest_event_id: str
    trend: list[int] = Field(description="Occurrences per bucket of the window, oldest first")
    action: Action


class ProblemsResponse(ApiModel):
    """A server's problems, busiest first, with the buckets their trends count into."""

    server: str
    since: str = Field(alias="from")
    until: str = Field(alias="to")
    bucket_seconds: int
    bucket_starts: list[str]
    items: list[ProblemOut]


class TimelineResponse(ApiModel):
    """A server's occurrences per bucket of the window, by severity (the drawer's chart)."""

    server: str
    since: str = Field(alias="from")
    until: str = Field(alias="to")
    bucket_seconds: int
    bucket_starts: list[str]
    by_severity: dict[Severity, list[int]]


class ServerTrend(ApiModel):
    """One server's failures over the window, for the Overview's sparkline or heatmap row."""

    server: str
    failures: int = Field(
        description="Failures of the server (warning or worse, tool errors excluded), as cards count"
    )
    tool_errors: int = Field(
        default=0, description="Tool errors (MCP_TOOL_ERROR): tools that ran and reported one"
    )
    users_affected: int = Field(description="Distinct users with a failure")
    trend: list[int] = Field(description="Failures per bucket")
    worst_severity: Severity | None


class Incident(ApiModel):
    """What the bundle analysis would say of a server, computed live: its dominant code, when it started,
    and the hours that spiked."""

    server: str
    code: str
    title: str
    share: float = Field(description="The code's share of the server's failures in the window, 0-1")
    count: int
    onset: str = Field(description="When the dominant code was first seen in the window")
    spikes: list[str] = Field(description="Bucket starts whose failures exceed 3x the median bucket")
    latest_debug_id: str
    action: Action


class OverviewResponse(ApiModel):
    """The fleet at a glance (support and admins): every server's trend, the top problems, incidents."""

    since: str = Field(alias="from")
    until: str = Field(alias="to")
    bucket_seconds: int
    bucket_starts: list[str]
    servers: list[ServerTrend]
    top_problems: list[ProblemOut]
    incidents: list[Incident]
    users_affected: int = Field(description="Distinct users with a failure on any server")
