"""`GET /api/mcp/{server}/diagnostics/stream`: a server's new diagnostics as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from sse_starlette.sse import EventSourceResponse
from starlette.background import BackgroundTask

from mcpdiag.api.deps import CurrentUser, Policy, Settings, Store, strict_query
from mcpdiag.api.live import StreamSlots, diagnostics_stream, position_of
from mcpdiag.api.routes.common import check_access, check_exists, error_responses
from mcpdiag.api.routes.diagnostics import ServerName

router = APIRouter(prefix="/api/mcp", tags=["diagnostics"])


@router.get(
    "/{server:path}/diagnostics/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`event: diagnostic` messages"},
        **error_responses(404, 429),
    },
    dependencies=[Depends(strict_query())],
    summary="A server's new diagnostic events, live (Server-Sent Events)",
)
async def stream(
    request: Request,
    server: ServerName,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    settings: Settings,
    last_event_id: Annotated[str | None, Header(alias="last-event-id", max_length=96)] = None,
) -> EventSourceResponse:
    """Each new event the caller may see as `event: diagnostic` with `data:` the event as the diagnostics
    endpoint returns it (no `detail` for users) and an `id:` a reconnecting client sends back as
    `Last-Event-ID` to resume after it. A comment every `MCPDIAG_STREAM_HEARTBEAT_S` keeps proxies from
    closing an idle stream."""
    check_access(policy, principal, server)
    await check_exists(store, policy, principal, server)
    slots: StreamSlots = request.app.state.stream_slots
    stopping = request.app.state.streams_stopping
    give_back = slots.take(principal.user_id)  # refused here (429/503), before any byte of the stream

    async def messages() -> AsyncIterator[bytes]:
        try:
            async for message in diagnostics_stream(
                request.app.state.live_feeds,
                server,
                user_id=None if principal.is_staff else principal.user_id,
                staff=principal.is_staff,
                after=position_of(last_event_id),
                poll_s=settings.stream_poll_s,
                stopping=stopping,
            ):
                yield message
        finally:
            give_back()

    return EventSourceResponse(
        messages(),
        ping=settings.stream_heartbeat_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(give_back),  # also when the stream never started
    )
