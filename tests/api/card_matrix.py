"""Event sequences a server card must summarise without contradicting itself, shared by the API test
(`tests/api/test_status_card.py`) and the browser test of the rendered card (`tests/ui/test_cards.py`).

Each case is one server's history as one user ("own") sees it next to server-wide events ("wide") and
another user's ("other"), and what its card must say: the state, the last failure and whether a later
connection event resolved it, and the counts of the last 24 h.
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


@dataclass(frozen=True)
class Card:
    """What the card of a case must say to the user who owns the "own" events."""

    state: str
    last_error: str | None = None
    resolved: bool = False
    failures: int = 0
    tool_errors: int = 0
    requires_oauth: bool = False


@dataclass(frozen=True)
class Case:
    """A server's history and the card it gives its user (and, when it differs, support staff)."""

    server: str
    steps: tuple[Step, ...]
    user: Card
    staff: Card | None = None


CASES = (
    # The stdio process died during a tool call: the card says so, even though the call was a tool call.
    Case(
        "died-mid-call",
        (Step(30, "MCP_CONNECTED"), Step(5, "MCP_PROCESS_EXITED", touchpoint="tool_call")),
        Card("error", "MCP_PROCESS_EXITED", failures=1),
    ),
    # A tool error after the mid-call death does not hide the death (tool errors never change the state).
    Case(
        "died-then-tool-error",
        (
            Step(40, "MCP_CONNECTED"),
            Step(20, "MCP_PROCESS_EXITED", touchpoint="tool_call"),
            Step(10, "MCP_TOOL_ERROR", touchpoint="tool_call"),
        ),
        Card("error", "MCP_PROCESS_EXITED", failures=1, tool_errors=1),
    ),
    # The session closed normally long after an old failure: the failure is history, not the state.
    Case(
        "closed-after-old-error",
        (Step(180, "MCP_DNS_FAILURE"), Step(120, "MCP_CONNECTED"), Step(60, "MCP_DISCONNECTED")),
        Card("disconnected", "MCP_DNS_FAILURE", resolved=True, failures=1),
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
    # A warning-level failure (rate limited during a call) is a failure like any other.
    Case(
        "rate-limited-call",
        (Step(30, "MCP_CONNECTED"), Step(5, "MCP_RATE_LIMITED", touchpoint="tool_call")),
        Card("error", "MCP_RATE_LIMITED", failures=1),
    ),
    # A server-wide failure counts for everyone; this user reconnected since, so for them it is resolved.
    Case(
        "wide-failure-own-reconnect",
        (Step(20, "MCP_PROXY_SSE_ISSUE", "wide"), Step(10, "MCP_CONNECTED")),
        Card("connected", "MCP_PROXY_SSE_ISSUE", resolved=True, failures=1),
    ),
    # Another user's failure is invisible to this user, and fully visible to support.
    Case(
        "other-users-failure",
        (Step(10, "MCP_CONNECTED"), Step(5, "MCP_AUTH_REQUIRED", "other")),
        Card("connected"),
        staff=Card("error", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
    # The last thing known is a failure two days ago: still the state, but not in the last 24 h.
    Case(
        "old-failure-only",
        (Step(2 * 24 * 60, "MCP_DNS_FAILURE"),),
        Card("error", "MCP_DNS_FAILURE"),
    ),
    Case(
        "sign-in-pending-after-error",
        (
            Step(20, "MCP_AUTH_REQUIRED", touchpoint="oauth"),
            Step(10, "MCP_OAUTH_STARTED", touchpoint="oauth"),
        ),
        Card("connecting", "MCP_AUTH_REQUIRED", failures=1, requires_oauth=True),
    ),
)


def case_events(
    case: Case, now: datetime, own: str = "ursula", other: str = "victor"
) -> list[DiagnosticEvent]:
    """The case's events relative to `now`, the "own" events belonging to `own`."""
    users = {"own": own, "other": other, "wide": None}
    events = []
    for step in case.steps:
        info = CATALOG[step.code]
        extra: dict[str, Any] = {}
        if step.touchpoint:
            extra["touchpoint"] = step.touchpoint
        if step.touchpoint == "tool_call":
            extra["tool"] = "search"
        if step.severity:
            extra["severity"] = step.severity
        if not info.failure and "touchpoint" not in extra:
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
