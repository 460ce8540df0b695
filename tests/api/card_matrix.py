"""Event sequences a server card must summarise without contradicting itself, shared by the API test
(`tests/api/test_status_card.py`) and the browser test of the rendered card (`tests/ui/test_cards.py`).

Each case is one server's history as one user ("own") sees it next to server-wide events ("wide") and
another user's ("other"), and what its card must say: the honest state (connected, idle, needs_auth,
auth_expired, unreachable, misconfigured, degraded, failing) and the coarse `connectionState` it gives, the
last failure and whether a later connection event resolved it, and the counts of the last 24 h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from mcpdiag.emitters import CATALOG, DiagnosticEvent
from tests.factories import make_event

Who = Literal["own", "wide", "other"]


@dataclass(frozen=True)
class Step:
    """One event: how long ago, its code, whose it is, and where it happened."""

    minutes_ago: float
    code: str
    who: Who = "own"
    touchpoint: str | None = None
    severity: str | None = None
    attrs: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Card:
    """What the card of a case must say to the user who owns the "own" events."""

    state: str
    """The honest state (`state`); `connectionState` follows from it (`legacy`)."""
    last_error: str | None = None
    resolved: bool = False
    failures: int = 0
    tool_errors: int = 0
    requires_oauth: bool = False
    connection: str | None = None
    """`connectionState` when it is not what `state` alone gives (a pending sign-in: connecting)."""

    @property
    def legacy(self) -> str:
        """`connectionState`: connected or degraded → connected, idle → disconnected, failures → error."""
        if self.connection is not None:
            return self.connection
        coarse = {
            "connected": "connected",
            "degraded": "connected",
            "idle": "disconnected",
            "unknown": "unknown",
        }
        return coarse.get(self.state, "error")


@dataclass(frozen=True)
class Case:
    """A server's history and the card it gives its user (and, when it differs, support staff)."""

    server: str
    steps: tuple[Step, ...]
    user: Card
    staff: Card | None = None


UNTESTED_SIGN_IN = (("doctor", True), ("doctor.signIn", "untested"))
"""The attrs of a re-check that reached a sign-in it could not do (stored at severity info)."""

CASES = (
    # The stdio process died during a tool call: the card says so, even though the call was a tool call.
    Case(
        "died-mid-call",
        (Step(30, "MCP_CONNECTED"), Step(5, "MCP_PROCESS_EXITED", touchpoint="tool_call")),
        Card("failing", "MCP_PROCESS_EXITED", failures=1),
    ),
    # A tool error after the mid-call death does not hide the death (tool errors never change the state).
    Case(
        "died-then-tool-error",
        (
            Step(40, "MCP_CONNECTED"),
            Step(20, "MCP_PROCESS_EXITED", touchpoint="tool_call"),
            Step(10, "MCP_TOOL_ERROR", touchpoint="tool_call"),
        ),
        Card("failing", "MCP_PROCESS_EXITED", failures=1, tool_errors=1),
    ),
    # The session ended in that death: its MCP_DISCONNECTED names it, and the card still says so (it said
    # idle and resolved, found by a pass as an embedding developer).
    Case(
        "died-mid-call-then-closed",
        (
            Step(30, "MCP_CONNECTED"),
            Step(5, "MCP_PROCESS_EXITED", touchpoint="tool_call"),
            Step(5, "MCP_DISCONNECTED", attrs=(("ended_by", "MCP_PROCESS_EXITED"),)),
        ),
        Card("failing", "MCP_PROCESS_EXITED", failures=1),
    ),
    # A call that timed out ended the session (the host's block left with it): the server is unreachable.
    Case(
        "timed-out-then-closed",
        (
            Step(30, "MCP_CONNECTED"),
            Step(6, "MCP_TIMEOUT", touchpoint="tool_call"),
            Step(5, "MCP_DISCONNECTED", attrs=(("ended_by", "MCP_TIMEOUT"),)),
        ),
        Card("unreachable", "MCP_TIMEOUT", failures=1),
    ),
    # A sign-in that ran out mid-session, then the close: the sign-in expired.
    Case(
        "signed-out-then-closed",
        (
            Step(30, "MCP_CONNECTED"),
            Step(6, "MCP_AUTH_REQUIRED", touchpoint="tool_call"),
            Step(5, "MCP_DISCONNECTED", attrs=(("ended_by", "MCP_AUTH_REQUIRED"),)),
        ),
        Card("auth_expired", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
    # A call failed, the next one worked, then the session closed: a clean close.
    Case(
        "recovered-then-closed",
        (
            Step(30, "MCP_CONNECTED"),
            Step(6, "MCP_TIMEOUT", touchpoint="tool_call"),
            Step(5, "MCP_DISCONNECTED"),
        ),
        Card("idle", "MCP_TIMEOUT", resolved=True, failures=1),
    ),
    # The session closed normally long after an old failure: the failure is history, not the state.
    Case(
        "closed-after-old-error",
        (Step(180, "MCP_DNS_FAILURE"), Step(120, "MCP_CONNECTED"), Step(60, "MCP_DISCONNECTED")),
        Card("idle", "MCP_DNS_FAILURE", resolved=True, failures=1),
    ),
    Case(
        "reconnected-after-failure",
        (Step(30, "MCP_TIMEOUT"), Step(5, "MCP_CONNECTED")),
        Card("connected", "MCP_TIMEOUT", resolved=True, failures=1),
    ),
    Case(
        "only-lifecycle",
        (Step(30, "MCP_CONNECTED"), Step(20, "MCP_DISCONNECTED"), Step(10, "MCP_CONNECTED")),
        Card("connected"),
    ),
    Case(
        "tool-errors-only",
        (
            Step(30, "MCP_CONNECTED"),
            *(Step(20 - i, "MCP_TOOL_ERROR", touchpoint="tool_call") for i in range(3)),
        ),
        Card("connected", tool_errors=3),
    ),
    # Rate limited during a call: the session is up and calls fail — degraded, and counted as a failure.
    Case(
        "rate-limited-call",
        (Step(30, "MCP_CONNECTED"), Step(5, "MCP_RATE_LIMITED", touchpoint="tool_call")),
        Card("degraded", "MCP_RATE_LIMITED", failures=1),
    ),
    Case(
        "timeout-mid-call",
        (Step(30, "MCP_CONNECTED"), Step(5, "MCP_TIMEOUT", touchpoint="tool_call")),
        Card("degraded", "MCP_TIMEOUT", failures=1),
    ),
    # A server-wide failure counts for everyone; this user reconnected since, so for them it is resolved.
    Case(
        "wide-failure-own-reconnect",
        (Step(20, "MCP_PROXY_SSE_ISSUE", "wide"), Step(10, "MCP_CONNECTED")),
        Card("connected", "MCP_PROXY_SSE_ISSUE", resolved=True, failures=1),
    ),
    # Another user's failure is invisible to this user, and fully visible to support. That user never
    # connected (the connection support sees is this user's): their sign-in is needed, not expired.
    Case(
        "other-users-failure",
        (Step(10, "MCP_CONNECTED"), Step(5, "MCP_AUTH_REQUIRED", "other")),
        Card("connected"),
        staff=Card("needs_auth", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
    # The last thing known is a failure two days ago: still the state, but not in the last 24 h.
    Case(
        "old-failure-only",
        (Step(2 * 24 * 60, "MCP_DNS_FAILURE"),),
        Card("misconfigured", "MCP_DNS_FAILURE"),
    ),
    Case(
        "sign-in-pending-after-error",
        (
            Step(20, "MCP_AUTH_REQUIRED", touchpoint="oauth"),
            Step(10, "MCP_OAUTH_STARTED", touchpoint="oauth"),
        ),
        Card("needs_auth", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True, connection="connecting"),
    ),
    # On-demand servers: a clean disconnect, or a connection a day and more ago, is no problem.
    Case(
        "on-demand-idle",
        (Step(90, "MCP_CONNECTED"), Step(80, "MCP_DISCONNECTED")),
        Card("idle"),
    ),
    Case(
        "connected-long-ago",
        (Step(30 * 60, "MCP_CONNECTED"),),
        Card("idle"),
    ),
    Case(
        "never-signed-in",
        (Step(5, "MCP_AUTH_REQUIRED", touchpoint="oauth"),),
        Card("needs_auth", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
    Case(
        "sign-in-expired",
        (Step(60, "MCP_CONNECTED"), Step(5, "MCP_AUTH_REQUIRED")),
        Card("auth_expired", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
    Case(
        "expired-mid-call",
        (
            Step(60, "MCP_OAUTH_COMPLETED", touchpoint="oauth"),
            Step(5, "MCP_AUTH_REQUIRED", touchpoint="tool_call"),
        ),
        Card("auth_expired", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
    Case(
        "sign-in-not-finished",
        (Step(10, "MCP_OAUTH_STARTED", touchpoint="oauth"), Step(5, "MCP_OAUTH_TIMEOUT", touchpoint="oauth")),
        Card("needs_auth", "MCP_OAUTH_TIMEOUT", failures=1, requires_oauth=True),
    ),
    Case(
        "refused",
        (Step(5, "MCP_CONNECTION_REFUSED"),),
        Card("unreachable", "MCP_CONNECTION_REFUSED", failures=1),
    ),
    Case(
        "proxy-page",
        (Step(5, "MCP_PROXY_SSE_ISSUE"),),
        Card("unreachable", "MCP_PROXY_SSE_ISSUE", failures=1),
    ),
    Case(
        "no-endpoint",
        (Step(5, "MCP_ENDPOINT_NOT_FOUND"),),
        Card("misconfigured", "MCP_ENDPOINT_NOT_FOUND", failures=1),
    ),
    Case(
        "spawn-failed",
        (Step(5, "MCP_STDIO_SPAWN_FAILED"),),
        Card("misconfigured", "MCP_STDIO_SPAWN_FAILED", failures=1),
    ),
    Case("bad-tls", (Step(5, "MCP_TLS_ERROR"),), Card("misconfigured", "MCP_TLS_ERROR", failures=1)),
    Case("server-5xx", (Step(5, "MCP_SERVER_ERROR"),), Card("failing", "MCP_SERVER_ERROR", failures=1)),
    Case(
        "not-mcp",
        (Step(5, "MCP_INSPECTION_FAILED", touchpoint="inspection"),),
        Card("failing", "MCP_INSPECTION_FAILED", failures=1),
    ),
    Case(
        "unknown-code",
        (Step(5, "MCP_FROM_THE_FUTURE", severity="error"),),
        Card("failing", "MCP_FROM_THE_FUTURE", failures=1),
    ),
    # Re-check: a passing run resolves the old failure; a failing one is the state; one that reached a
    # sign-in it cannot do is no failure (idle for a user who had connected, sign-in needed otherwise).
    Case(
        "recheck-passed",
        (
            Step(60, "MCP_DNS_FAILURE"),
            Step(5, "MCP_CONNECTED", touchpoint="inspection", attrs=(("doctor", True),)),
        ),
        Card("connected", "MCP_DNS_FAILURE", resolved=True, failures=1),
    ),
    Case(
        "recheck-failed",
        (
            Step(60, "MCP_CONNECTED"),
            Step(5, "MCP_ENDPOINT_NOT_FOUND", touchpoint="inspection", attrs=(("doctor", True),)),
        ),
        Card("misconfigured", "MCP_ENDPOINT_NOT_FOUND", failures=1),
    ),
    Case(
        "recheck-sign-in-known-user",
        (
            Step(120, "MCP_CONNECTED"),
            Step(110, "MCP_DISCONNECTED"),
            Step(5, "MCP_AUTH_REQUIRED", touchpoint="inspection", severity="info", attrs=UNTESTED_SIGN_IN),
        ),
        Card("idle", requires_oauth=True),
    ),
    Case(
        "recheck-sign-in-new-user",
        (Step(5, "MCP_AUTH_REQUIRED", touchpoint="inspection", severity="info", attrs=UNTESTED_SIGN_IN),),
        Card("needs_auth", requires_oauth=True, connection="disconnected"),
    ),
)


def case_events(
    case: Case, now: datetime, own: str = "ursula", other: str = "victor"
) -> list[DiagnosticEvent]:
    """The case's events relative to `now`, the "own" events belonging to `own`."""
    users = {"own": own, "other": other, "wide": None}
    events = []
    for step in case.steps:
        info = CATALOG.get(step.code)
        extra: dict[str, Any] = {}
        if step.touchpoint:
            extra["touchpoint"] = step.touchpoint
        if step.touchpoint == "tool_call":
            extra["tool"] = "search"
        if step.severity:
            extra["severity"] = step.severity
        if step.attrs:
            extra["attrs"] = dict(step.attrs)
        if info is not None and not info.failure and "touchpoint" not in extra:
            extra["touchpoint"] = "lifecycle"
        events.append(
            make_event(
                server=case.server,
                code=step.code,
                user_id=users[step.who],
                ts=now - timedelta(minutes=step.minutes_ago),
                **extra,
            )
        )
    return events


def is_failure(item: dict[str, Any]) -> bool:
    """What the card counts as a failure of the server: warning or worse, and not a tool's own error."""
    return item["severity"] in ("warning", "error", "critical") and item["code"] != "MCP_TOOL_ERROR"
