"""`GET /api/diagnostics/{debugId}`: the support lookup of a Debug ID (trace id, event id or hex prefix),
and `POST /api/diagnostics/{debugId}/report`: its user reports it. Either keeps the trace's events (and
their hourly counts) `MCPDIAG_REPORTED_RETENTION_DAYS` past now: the Debug ID resolves when support looks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from mcpdiag.api.acl import AccessPolicy, can_see_event, visible_event
from mcpdiag.api.audit import record_audit
from mcpdiag.api.deps import CurrentUser, Policy, Settings, Store, strict_query
from mcpdiag.api.errors import AmbiguousDebugIdError, NotFoundError
from mcpdiag.api.models import DebugLookup, DebugReport
from mcpdiag.api.principal import Principal
from mcpdiag.api.routes.common import error_responses
from mcpdiag.api.settings import ApiSettings
from mcpdiag.emitters import format_ts
from mcpdiag.emitters.redact import quoted
from mcpdiag.store.base import EventQuery, EventStore, trace_key
from mcpdiag.store.traces import find_trace

router = APIRouter(prefix="/api/diagnostics", tags=["support"])

MAX_TRACE_EVENTS = 1000
MAX_RELATED = 200
MAX_RELATED_SERVERS = 5


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


DebugId = Annotated[
    str,
    Path(
        alias="debugId",
        min_length=1,
        max_length=64,
        description="A 32-hex trace id, an event id, or a hex prefix of at least 8 characters",
    ),
]


async def resolve_debug_id(
    store: EventStore, policy: AccessPolicy, principal: Principal, debug_id: str
) -> tuple[str, str, list[dict[str, Any]]]:
    """`(key, trace id, the trace's events the caller may see)`; 404 when they may see none, 409 when the key
    designates several traces among those."""
    key, _ = trace_key(debug_id)

    def visible(event: dict[str, Any]) -> bool:
        return policy.can_access(principal, str(event.get("server"))) and can_see_event(principal, event)

    match = await find_trace(store, key, visible=visible, limit=MAX_TRACE_EVENTS)
    if match.trace_id is None:
        if match.traces:
            raise AmbiguousDebugIdError(key, match.candidates)
        raise NotFoundError(f"no events found for Debug ID {quoted(key)}")
    return key, match.trace_id, match.events


async def _keep(store: EventStore, settings: ApiSettings, events: list[dict[str, Any]]) -> str | None:
    """Keep `events` the reported retention past now; until when all of them are kept (RFC 3339)."""
    until = store.clock() + timedelta(days=settings.reported_retention_days)
    kept = await store.keep([str(e["id"]) for e in events], until)
    return format_ts(kept) if kept is not None else None


@router.get(
    "/{debugId}",
    response_model=DebugLookup,
    response_model_exclude_unset=True,
    responses=error_responses(404, 409),
    dependencies=[Depends(strict_query())],
    summary="Look up a Debug ID: every event of the trace, and what surrounds it",
)
async def lookup(
    debug_id: DebugId, principal: CurrentUser, store: Store, policy: Policy, settings: Settings
) -> dict[str, object]:
    """Support and admins get every event of the trace (oldest first) and `related` events; the lookup is
    audited and keeps the trace's events `MCPDIAG_REPORTED_RETENTION_DAYS` past now (`keptUntil`). A user
    gets only the events they could see anyway (404 when there are none), and nothing is kept."""
    key, trace_id, visible = await resolve_debug_id(store, policy, principal, debug_id)
    related = await _related(store, settings.related_window_s, visible) if principal.is_staff else []
    if principal.is_staff:
        kept_until = await _keep(store, settings, visible)
        await record_audit(
            store,
            principal,
            "debug_id_lookup",
            target=key,
            scope={
                "traceId": trace_id,
                "servers": sorted({str(e["server"]) for e in visible}),
                "keptUntil": kept_until,
            },
            result_count=len(visible) + len(related),
        )
    else:
        expiry = await store.expiry([str(e["id"]) for e in visible])
        kept_until = format_ts(expiry) if expiry is not None else None
    return {
        "debugId": key,
        "traceId": trace_id,
        "items": [visible_event(principal, e) for e in visible],
        "related": [visible_event(principal, e) for e in related],
        "keptUntil": kept_until,
    }


@router.post(
    "/{debugId}/report",
    response_model=DebugReport,
    responses=error_responses(404, 409),
    dependencies=[Depends(strict_query())],
    summary="Report a Debug ID to support: keep its trace's events until support has looked",
)
async def report(
    debug_id: DebugId, principal: CurrentUser, store: Store, policy: Policy, settings: Settings
) -> DebugReport:
    """What the drawer's Copy Debug ID calls. Keeps the events of the trace the caller may see — a user's
    own and server-wide ones on servers they can access (404 otherwise), any for support and admins —
    `MCPDIAG_REPORTED_RETENTION_DAYS` past now (an expiry only rises), with their hourly counts. Audited."""
    key, trace_id, visible = await resolve_debug_id(store, policy, principal, debug_id)
    kept_until = await _keep(store, settings, visible)
    if kept_until is None:  # expired between the read and the keep
        raise NotFoundError(f"no events found for Debug ID {quoted(key)}")
    await record_audit(
        store,
        principal,
        "debug_id_report",
        target=key,
        scope={
            "traceId": trace_id,
            "servers": sorted({str(e["server"]) for e in visible}),
            "keptUntil": kept_until,
        },
        result_count=len(visible),
    )
    return DebugReport(debug_id=key, trace_id=trace_id, kept=len(visible), kept_until=kept_until)
