"""`GET /api/mcp/{server}/problems` (failures grouped by fingerprint) and `.../timeline` (the drawer's
chart), with the same RBAC as the diagnostics: a user's counts cover only what they may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from mcpdiag.api.deps import CurrentUser, Policy, Store, strict_query
from mcpdiag.api.fleet import problem_out
from mcpdiag.api.models import ProblemsResponse, TimelineResponse
from mcpdiag.api.routes.common import check_access, check_exists, error_responses
from mcpdiag.api.routes.diagnostics import ServerName
from mcpdiag.api.windows import Window
from mcpdiag.emitters import Severity, format_ts
from mcpdiag.store.rollup import bucket_starts, span_of

router = APIRouter(prefix="/api/mcp", tags=["diagnostics"])

Since = Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339; default 24 h before to")]
Until = Annotated[AwareDatetime | None, Query(alias="to", description="RFC 3339; default now")]
Buckets = Annotated[
    int,
    Query(
        ge=1,
        le=96,
        description="At most this many slices of the window, an hour at least each; fewer when the hours the "
        "window touches do not fill them (`bucketStarts` lists them, none past `to`)",
    ),
]


@router.get(
    "/{server:path}/problems",
    response_model=ProblemsResponse,
    responses=error_responses(404),
    dependencies=[Depends(strict_query(scalar=("from", "to", "severity", "buckets")))],
    summary="A server's failures grouped into problems, busiest first, with their trend",
)
async def problems(
    server: ServerName,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    since: Since = None,
    until: Until = None,
    severity: Annotated[Severity, Query(description="Minimum severity")] = Severity.WARNING,
    buckets: Buckets = 12,
) -> ProblemsResponse:
    """Problems by fingerprint (server, code, touchpoint, tool): occurrences, first and last seen, users
    affected, the latest Debug ID and a trend. A user sees their own and server-wide events only."""
    check_access(policy, principal, server)
    window = Window.of(since, until, store.clock())
    user_id = None if principal.is_staff else principal.user_id
    found = await store.problems(
        [server], window.since, window.until, user_id=user_id, min_severity=severity, buckets=buckets
    )
    if not found:
        await check_exists(store, policy, principal, server)
    return ProblemsResponse(
        server=server,
        since=format_ts(window.since),
        until=format_ts(window.until),
        bucket_seconds=int(span_of(buckets, window.since, window.until).total_seconds()),
        bucket_starts=[format_ts(t) for t in bucket_starts(window.since, window.until, buckets)],
        items=[problem_out(p) for p in found],
    )


@router.get(
    "/{server:path}/timeline",
    response_model=TimelineResponse,
    responses=error_responses(404),
    dependencies=[Depends(strict_query(scalar=("from", "to", "buckets")))],
    summary="A server's occurrences per bucket of the window, by severity",
)
async def timeline(
    server: ServerName,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    since: Since = None,
    until: Until = None,
    buckets: Buckets = 24,
) -> TimelineResponse:
    """Occurrences of the events the caller may see, per bucket and severity (the drawer's chart)."""
    check_access(policy, principal, server)
    window = Window.of(since, until, store.clock())
    user_id = None if principal.is_staff else principal.user_id
    series = await store.timeline([server], window.since, window.until, user_id=user_id, buckets=buckets)
    if not series:
        await check_exists(store, policy, principal, server)
    by_severity = series.get(server, {})
    return TimelineResponse(
        server=server,
        since=format_ts(window.since),
        until=format_ts(window.until),
        bucket_seconds=int(span_of(buckets, window.since, window.until).total_seconds()),
        bucket_starts=[format_ts(t) for t in bucket_starts(window.since, window.until, buckets)],
        by_severity={Severity(s): counts for s, counts in by_severity.items()},
    )
