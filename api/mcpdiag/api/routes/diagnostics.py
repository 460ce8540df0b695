"""`GET /api/mcp/{server}/diagnostics` (the drawer's timeline) and `.../summary` (the card's badge)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AfterValidator, AwareDatetime, StringConstraints

from mcpdiag.api.acl import strip_detail, visible_event
from mcpdiag.api.deps import CurrentUser, Policy, Store, strict_query
from mcpdiag.api.errors import InvalidParameterError
from mcpdiag.api.models import CodeCount, DiagnosticsPage, SummaryResponse
from mcpdiag.api.routes.common import check_access, check_exists, error_responses
from mcpdiag.api.status import derive_status, server_facts
from mcpdiag.emitters import Severity, Touchpoint, format_ts
from mcpdiag.emitters.event import no_control_chars
from mcpdiag.store.base import MAX_PAGE, EventQuery

router = APIRouter(prefix="/api/mcp", tags=["diagnostics"])

CODE_PATTERN = r"^[A-Z][A-Z0-9_]{2,63}$"
WINDOW_PATTERN = re.compile(r"^(\d{1,5})([mhd])$")
MAX_WINDOW = timedelta(days=30)
CodeName = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Window = Annotated[str, Query(pattern=WINDOW_PATTERN.pattern, description="30m, 24h, 7d; at most 30d")]
ServerName = Annotated[
    str,
    Path(min_length=1, max_length=128, description="The MCP server's name (any characters but control ones)"),
    AfterValidator(no_control_chars),
]
"""A server named in a path: checked as the wire contract checks `server`, so a name no event can have is a
400, never a query (SQLite's JSON functions would read `github\\u0000x` as `github`)."""


def parse_window(window: str) -> timedelta:
    """`30m`, `24h`, `7d` → a timedelta of at most 30 days; `InvalidParameterError` otherwise."""
    match = WINDOW_PATTERN.fullmatch(window)
    if match is None:
        raise InvalidParameterError("window", "must look like 30m, 24h or 7d")
    amount, unit = int(match[1]), match[2]
    span = (
        timedelta(minutes=amount)
        if unit == "m"
        else timedelta(hours=amount)
        if unit == "h"
        else timedelta(days=amount)
    )
    if not timedelta(0) < span <= MAX_WINDOW:
        raise InvalidParameterError("window", "must be more than 0 and at most 30d")
    return span


@router.get(
    "/{server:path}/diagnostics",
    response_model=DiagnosticsPage,
    response_model_exclude_unset=True,
    responses=error_responses(404),
    dependencies=[
        Depends(
            strict_query(
                repeatable=("code", "touchpoint"),
                scalar=("cursor", "severity", "from", "to", "limit", "tool"),
            )
        )
    ],
    summary="A server's diagnostic events, newest first",
)
async def diagnostics(
    server: ServerName,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`nextCursor` of the previous page")
    ] = None,
    severity: Annotated[Severity | None, Query(description="Minimum severity")] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to", description="RFC 3339, exclusive")] = None,
    code: Annotated[list[CodeName] | None, Query(description="Repeatable, e.g. MCP_TIMEOUT")] = None,
    touchpoint: Annotated[list[Touchpoint] | None, Query(description="Repeatable")] = None,
    tool: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="Only calls to this tool (a problem's occurrences)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, object]:
    """Events of `server` the caller may see, newest first: a user gets their own and server-wide events
    (never `detail`), support and admins get everyone's. Walk pages with `cursor` = `nextCursor`."""
    check_access(policy, principal, server)
    query = EventQuery(
        server=server,
        user_id=None if principal.is_staff else principal.user_id,
        min_severity=severity,
        since=since,
        until=until,
        codes=tuple(code or ()),
        touchpoints=tuple(t.value for t in touchpoint or ()),
        tool=tool,
        limit=limit,
        cursor=cursor,
    )
    page = await store.page(query)
    if not page.items and cursor is None:
        await check_exists(store, policy, principal, server)
    return {
        "server": server,
        "items": page.items if principal.is_staff else [strip_detail(item) for item in page.items],
        "nextCursor": page.next_cursor,
    }


@router.get(
    "/{server:path}/summary",
    response_model=SummaryResponse,
    response_model_exclude_unset=True,
    responses=error_responses(404),
    dependencies=[Depends(strict_query(scalar=("window",)))],
    summary="Counts by code and severity over a window: the server card's badge",
)
async def summary(
    server: ServerName,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    window: Window = "24h",
) -> dict[str, object]:
    """Counts by code and severity, the failure and tool error counts and the last failure (the same
    facts as the server card's, over this window), and first/last seen per code, over the events the
    caller may see; the card's `state` and `endpoint` (the drawer's badge and Re-check)."""
    check_access(policy, principal, server)
    span = parse_window(window)
    user_id = None if principal.is_staff else principal.user_id
    facts = (await server_facts(store, [server], user_id=user_id, window=window, span=span))[server]
    result = facts.summary
    since = result.since
    if result.total == 0:
        await check_exists(store, policy, principal, server)
    failure = facts.last_failure
    in_window = failure is not None and str(failure["ts"]) >= format_ts(since)
    last_error = visible_event(principal, dict(failure)) if failure and in_window else None
    card = derive_status(facts, store.clock())
    return {
        "server": server,
        "window": window,
        "since": format_ts(since),
        "total": result.total,
        "errorCount": result.error_count,
        "failureCount": facts.counts.failures,
        "toolErrorCount": facts.counts.tool_errors,
        "bySeverity": result.by_severity,
        "byCode": {
            code: CodeCount(
                count=s.count, first_seen=format_ts(s.first_seen), last_seen=format_ts(s.last_seen)
            )
            for code, s in sorted(result.by_code.items())
        },
        "lastError": last_error or None,
        "state": card.state,
        "endpoint": card.endpoint,
    }
