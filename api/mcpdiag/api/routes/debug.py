"""`GET /api/diagnostics/{debugId}`: the support lookup of a Debug ID (trace id, event id or hex prefix)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from mcpdiag.api.acl import AccessPolicy, can_see_event, visible_event
from mcpdiag.api.audit import record_audit
from mcpdiag.api.deps import CurrentUser, Policy, Settings, Store, strict_query
from mcpdiag.api.errors import AmbiguousDebugIdError, NotFoundError
from mcpdiag.api.models import DebugLookup
from mcpdiag.api.principal import Principal
from mcpdiag.api.routes.common import error_responses
from mcpdiag.store.base import EventQuery, EventStore, trace_key

router = APIRouter(prefix="/api/diagnostics", tags=["support"])

MAX_TRACE_EVENTS = 1000
MAX_RELATED = 200
MAX_RELATED_SERVERS = 5
CANDIDATE_CHARS = 12


def _visible(
    principal: Principal, policy: AccessPolicy, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if policy.can_access(principal, str(e.get("server"))) and can_see_event(principal, e)
    ]


def _resolve_trace(key: str, events: list[dict[str, Any]]) -> str:
    """The one trace id `key` designates among `events` (by event id first, then by trace prefix)."""
    by_id = next((e for e in events if e.get("id") == key), None)
    if by_id is not None:
        return str(by_id["traceId"])
    traces = sorted({str(e["traceId"]) for e in events})
    if len(traces) > 1:
        raise AmbiguousDebugIdError(key, [t[:CANDIDATE_CHARS] for t in traces])
    return traces[0]


async def _related(
    store: EventStore, settings_window: float, trace_events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The trace's user's (and server-wide) events on the trace's servers within the window around it."""
    owner = next((e["userId"] for e in trace_events if e.get("userId")), None)
    stamps = [datetime.fromisoformat(str(e["ts"])) for e in trace_events]
    window = timedelta(seconds=settings_window)
    since, until = min(stamps) - window, max(stamps) + window + timedelta(milliseconds=1)
    in_trace = {e["id"] for e in trace_events}
    servers = list(dict.fromkeys(str(e["server"]) for e in trace_events))[:MAX_RELATED_SERVERS]
    related: list[dict[str, Any]] = []
    for server in servers:
        page = await store.page(
            EventQuery(
                server=server, user_id=owner, since=since, until=until, oldest_first=True, limit=MAX_RELATED
            )
        )
        related.extend(e for e in page.items if e["id"] not in in_trace and e.get("userId") in (owner, None))
    related.sort(key=lambda e: (e["ts"], e["id"]))
    return related[:MAX_RELATED]


@router.get(
    "/{debugId}",
    response_model=DebugLookup,
    response_model_exclude_unset=True,
    responses=error_responses(404, 409),
    dependencies=[Depends(strict_query())],
    summary="Look up a Debug ID: every event of the trace, and what surrounds it",
)
async def lookup(
    debug_id: Annotated[
        str,
        Path(
            alias="debugId",
            min_length=1,
            max_length=64,
            description="A 32-hex trace id, an event id, or a hex prefix of at least 8 characters",
        ),
    ],
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    settings: Settings,
) -> dict[str, object]:
    """Support and admins get every event of the trace (oldest first) and `related` events, and the lookup
    is audited; a user gets only the events they could see anyway (404 when there are none)."""
    key, _ = trace_key(debug_id)
    found = await store.by_trace(key, limit=MAX_TRACE_EVENTS)
    visible = _visible(principal, policy, found)
    if not visible:
        raise NotFoundError(f"no events found for Debug ID {key!r}")
    trace_id = _resolve_trace(key, visible)
    if trace_id != key:
        visible = _visible(principal, policy, await store.by_trace(trace_id, limit=MAX_TRACE_EVENTS))
    visible = [e for e in visible if e["traceId"] == trace_id]
    related = await _related(store, settings.related_window_s, visible) if principal.is_staff else []
    if principal.is_staff:
        await record_audit(
            store,
            principal,
            "debug_id_lookup",
            target=key,
            scope={"traceId": trace_id, "servers": sorted({str(e["server"]) for e in visible})},
            result_count=len(visible) + len(related),
        )
    return {
        "debugId": key,
        "traceId": trace_id,
        "items": [visible_event(principal, e) for e in visible],
        "related": [visible_event(principal, e) for e in related],
    }
