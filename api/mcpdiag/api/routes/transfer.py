"""Export and import of events, for admins: `GET /api/admin/export` streams an export (gzipped NDJSON),
`GET /api/admin/export/estimate` sizes one, `POST /api/admin/import` takes an upload and answers 202 with a
job, `GET /api/admin/import/{job}` reports its progress and final counts. Exports and imports are audited."""

from __future__ import annotations

import gzip
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mcpdiag.api.audit import record_audit
from mcpdiag.api.deps import AdminUser, Settings, Store, strict_query
from mcpdiag.api.errors import InvalidParameterError, NotFoundError
from mcpdiag.api.import_jobs import INFLATE_FLOOR, INFLATE_RATIO, ImportJobs, created_now, receive_upload
from mcpdiag.api.routes.common import error_responses
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.emitters.redact import quoted
from mcpdiag.store import EventStore, InvalidQueryError
from mcpdiag.store.transfer import CONTENT_TYPE, ExportPlan, ExportSelection, export_gzip, plan_export

router = APIRouter(prefix="/api/admin", tags=["export and import"])
IMPORT_PATH = router.prefix + "/import"
"""The upload route, which reads its body itself (within `import_max_bytes`)."""
SAMPLE_LINES = 200
FILTERS = {"repeatable": ("server",), "scalar": ("since", "until", "userId", "severity")}


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ServerCount(_Camel):
    """Events of one server in an export."""

    server: str
    events: int


class ExportEstimate(_Camel):
    """What an export with these filters holds now, and about how large its file is."""

    events: int
    servers: list[ServerCount]
    estimated_bytes: int


class ImportAccepted(_Camel):
    """An accepted import: poll `status` for its progress."""

    job: str
    status: str


def jobs_of(app: FastAPI) -> ImportJobs:
    """The app's import jobs (created on first use)."""
    jobs: ImportJobs | None = getattr(app.state, "import_jobs", None)
    if jobs is None:
        jobs = app.state.import_jobs = ImportJobs()
    return jobs


async def stop_jobs(app: FastAPI) -> None:
    """Stop the app's running imports (the lifespan calls this before it closes the store)."""
    jobs: ImportJobs | None = getattr(app.state, "import_jobs", None)
    if jobs is not None:
        await jobs.stop()


async def _plan(
    store: EventStore,
    server: list[str],
    since: str | None,
    until: str | None,
    user: str | None,
    sev: str | None,
) -> ExportPlan:
    try:
        selection = ExportSelection.parse(
            servers=server, since=since, until=until, user_id=user, severity=sev, now=store.clock()
        )
    except InvalidQueryError as exc:
        raise InvalidParameterError(exc.field, str(exc).partition(": ")[2]) from None
    return await plan_export(store, selection)


ServerQuery = Annotated[list[str], Query(description="Repeatable; default every server")]
SinceQuery = Annotated[str | None, Query(description="A duration back (7d, 90m) or RFC 3339")]
UntilQuery = Annotated[str | None, Query(description="Exclusive end: a duration back or RFC 3339")]
UserQuery = Annotated[str | None, Query(alias="userId", description="One user's and server-wide events")]
SeverityQuery = Annotated[str | None, Query(description="Minimum severity")]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "The export"}, **error_responses(403)},
    dependencies=[Depends(strict_query(**FILTERS))],
    summary="Download an export of events (gzipped NDJSON)",
)
async def export_events(
    request: Request,
    principal: AdminUser,
    store: Store,
    server: ServerQuery = [],  # noqa: B006
    since: SinceQuery = None,
    until: UntilQuery = None,
    user_id: UserQuery = None,
    severity: SeverityQuery = None,
) -> StreamingResponse:
    """A header line, one event per line (the wire event with its receivedAt and expireAt), an end line."""
    plan = await _plan(store, server, since, until, user_id, severity)
    await record_audit(
        store,
        principal,
        "events_export",
        target=",".join(plan.selection.servers) or "*",
        scope=plan.selection.to_dict(),
        result_count=plan.header.counts.events,
        request_id=request.headers.get("x-request-id"),
    )
    name = f"mcpdiag-events-{plan.header.created_at.astimezone(UTC):%Y-%m-%d-%H%M%S}.ndjson.gz"
    return StreamingResponse(
        export_gzip(store, plan),
        media_type=CONTENT_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "X-Export-Events": str(plan.header.counts.events),
        },
    )


@router.get(
    "/export/estimate",
    response_model=ExportEstimate,
    responses=error_responses(403),
    dependencies=[Depends(strict_query(**FILTERS))],
    summary="How many events an export holds, and about how large it is",
)
async def estimate_export(
    principal: AdminUser,
    store: Store,
    server: ServerQuery = [],  # noqa: B006
    since: SinceQuery = None,
    until: UntilQuery = None,
    user_id: UserQuery = None,
    severity: SeverityQuery = None,
) -> ExportEstimate:
    """Counts per server, and a size from compressing a sample of the largest server's lines."""
    plan = await _plan(store, server, since, until, user_id, severity)
    per_event = 0.0
    if plan.servers:
        largest = max(plan.servers, key=lambda item: item[1])[0]
        sample: list[str] = []
        async for lines in store.iter_export_lines(plan.selection.query(largest), chunk_size=SAMPLE_LINES):
            sample = lines
            break
        if sample:
            per_event = len(gzip.compress(("\n".join(sample) + "\n").encode())) / len(sample)
    return ExportEstimate(
        events=plan.header.counts.events,
        servers=[ServerCount(server=name, events=count) for name, count in plan.servers],
        estimated_bytes=int(per_event * plan.header.counts.events) + 512,
    )


@router.post(
    "/import",
    status_code=202,
    response_model=ImportAccepted,
    responses={**error_responses(403), 409: {"description": "Another import is running"}, 413: {}},
    dependencies=[Depends(strict_query(scalar=("dryRun", "conflict")))],
    summary="Upload an export (multipart, part `file`) to import; answers a job to poll",
)
async def import_events(
    request: Request,
    principal: AdminUser,
    store: Store,
    settings: Settings,
    dry_run: Annotated[bool, Query(alias="dryRun", description="Check and count only")] = False,
    conflict: Annotated[str, Query(description="An id already stored: skip or update")] = "skip",
) -> JSONResponse:
    """Every line is checked before anything is stored; idempotent by event id."""
    if conflict not in ("skip", "update"):
        raise InvalidParameterError("conflict", f"expected skip or update, got {quoted(conflict)}")
    jobs = jobs_of(request.app)
    job = jobs.new(
        filename="upload",
        dry_run=dry_run,
        conflict="update" if conflict == "update" else "skip",
        actor=principal.user_id,
        now=created_now(store),
    )
    limit = settings.import_max_bytes
    try:
        await receive_upload(request.headers, request.stream(), job, limit)
        await record_audit(
            store,
            principal,
            "events_import",
            target=job.filename,
            scope={"job": job.id, "sizeBytes": job.size, "dryRun": dry_run, "conflict": job.conflict},
            request_id=request.headers.get("x-request-id"),
        )
    except BaseException:
        jobs.discard(job)
        raise
    collector: CollectorSettings = request.app.state.collector_settings
    # The upload's own size bounds what it may inflate to (the size limit's was 32 GiB for any file).
    jobs.start(job, store, collector.redacted_secrets, max(job.size * INFLATE_RATIO, INFLATE_FLOOR))
    status = f"/api/admin/import/{job.id}"
    body = ImportAccepted(job=job.id, status=status).model_dump(by_alias=True)
    return JSONResponse(body, status_code=202, headers={"Location": status})


@router.get(
    "/import/{job}",
    responses=error_responses(403, 404),
    summary="An import's progress, and its counts once done",
)
async def import_status(request: Request, principal: AdminUser, job: str) -> dict[str, Any]:
    """`state` is queued, running, done or failed; `progress` the phase (checking, importing) and counts."""
    found = jobs_of(request.app).get(job)
    if found is None:
        raise NotFoundError(
            f"no import job {quoted(job)} (jobs are kept an hour, in the process that ran them)"
        )
    return found.to_dict()
