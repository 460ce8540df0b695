"""`GET /api/overview`: the fleet at a glance for support and admins — every server's failures over the
window, the top problems across servers, users affected, and the incidents a bundle's analysis would find."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from mcpdiag.api.deps import Policy, StaffUser, Store, strict_query
from mcpdiag.api.fleet import incidents, problem_out, server_trends
from mcpdiag.api.models import OverviewResponse
from mcpdiag.api.routes.common import error_responses
from mcpdiag.api.routes.problems import Buckets, Since, Until
from mcpdiag.api.status import doctor_run_names
from mcpdiag.api.windows import Window
from mcpdiag.emitters import format_ts
from mcpdiag.emitters.codes import TOOL_ERROR
from mcpdiag.store.rollup import bucket_starts, span_of

router = APIRouter(prefix="/api", tags=["overview"])
TOP_PROBLEMS = 10


@router.get(
    "/overview",
    response_model=OverviewResponse,
    responses=error_responses(403),
    dependencies=[Depends(strict_query(scalar=("from", "to", "buckets")))],
    summary="Every server's failures, the top problems and live incidents (support and admins)",
)
async def overview(
    principal: StaffUser,
    store: Store,
    policy: Policy,
    since: Since = None,
    until: Until = None,
    buckets: Buckets = 24,
) -> OverviewResponse:
    """Failures (warning and above but tool errors, occurrences: what the cards count) per server and
    bucket, with tool errors apart; the busiest problems across the fleet (tool errors too); per server with
    failures its dominant code, onset and spikes; distinct users affected. Servers without failures are
    listed too."""
    window = Window.of(since, until, store.clock())
    # Three independent reads at once (MongoDB answers them side by side; SQLite's readers in one process
    # were measured not to run in parallel, nor slower). Users affected: each person once, whatever they ran
    # into, counted by the store (tool errors are no failure).
    found, affected, servers = await asyncio.gather(
        store.problems(None, window.since, window.until, buckets=buckets),
        store.affected(None, window.since, window.until, except_codes=(TOOL_ERROR,)),
        store.list_servers(limit=2000),
    )
    # Connection tests that named no server are no server of the fleet (their Debug IDs still resolve).
    tests = await doctor_run_names(store, servers)
    if tests:
        found = [problem for problem in found if problem.server not in tests]
        servers = [server for server in servers if server not in tests]
    starts = bucket_starts(window.since, window.until, buckets)
    return OverviewResponse(
        since=format_ts(window.since),
        until=format_ts(window.until),
        bucket_seconds=int(span_of(buckets, window.since, window.until).total_seconds()),
        bucket_starts=[format_ts(t) for t in starts],
        servers=server_trends(found, servers, len(starts), affected),
        top_problems=[problem_out(p) for p in found[:TOP_PROBLEMS]],
        incidents=incidents(found, starts),
        users_affected=affected.total,
    )
