"""`GET /api/admin/bundle`: the sanitized support ZIP, built into a temporary file and streamed."""

from __future__ import annotations

import shutil
import tempfile
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from mcpdiag.api.acl import check_bundle_permission
from mcpdiag.api.audit import record_audit
from mcpdiag.api.deps import CurrentUser, Policy, Settings, Store, strict_query
from mcpdiag.api.errors import ApiError
from mcpdiag.api.routes.common import error_responses
from mcpdiag.bundle import BundleError, BundleScope, export_bundle
from mcpdiag.collector.settings import CollectorSettings

log = structlog.get_logger("mcpdiag.bundle")
router = APIRouter(tags=["bundles"])


class BundleFailedError(ApiError):
    """A bundle that could not be built; carries the exporter's status and code."""

    def __init__(self, error: BundleError) -> None:
        super().__init__(error.message)
        self.status = error.status
        self.code = error.code


@router.get(
    "/api/admin/bundle",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The support bundle (a ZIP)"},
        **error_responses(403),
    },
    dependencies=[
        Depends(
            strict_query(
                repeatable=("server",),
                scalar=("from", "to", "since", "userId", "debugId", "severity", "includeDetail"),
            )
        )
    ],
    summary="Download a sanitized support bundle",
)
async def bundle(
    request: Request,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    settings: Settings,
    server: Annotated[list[str], Query(description="Repeatable; default every server you may see")] = [],  # noqa: B006
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default 24 h ago")] = None,
    to: Annotated[str | None, Query(description="RFC 3339; default now")] = None,
    since: Annotated[str | None, Query(description="Instead of from/to: 90m, 24h, 7d")] = None,
    user_id: Annotated[str | None, Query(alias="userId")] = None,
    debug_id: Annotated[str | None, Query(alias="debugId", description="Required for support staff")] = None,
    severity: Annotated[str | None, Query(description="Minimum severity")] = None,
    include_detail: Annotated[bool, Query(alias="includeDetail")] = True,
) -> FileResponse:
    """Admins export any scope, support only one Debug ID, users get 403. Every export is audited."""
    now = store.clock()
    try:
        scope = BundleScope.parse(
            servers=server,
            since=since,
            from_=from_,
            to=to,
            user_id=user_id,
            debug_id=debug_id,
            severity=severity,
            include_detail=include_detail,
            now=now,
        )
        check_bundle_permission(principal, scope)
    except BundleError as exc:
        raise BundleFailedError(exc) from exc
    collector_settings: CollectorSettings = request.app.state.collector_settings
    workdir = tempfile.mkdtemp(prefix="mcpdiag-bundle-")
    try:
        visible = policy.names(principal, await store.list_servers())
        result = await export_bundle(
            store,
            scope,
            out_dir=workdir,
            settings_snapshot={"collector": dict(collector_settings), "api": dict(settings)},
            known_secrets=collector_settings.redacted_secrets,
            app_version=request.app.version,
            visible_servers=visible,
            now=now,
        )
        if result.helper_failure:
            log.warning(
                "bundle scan helper failed; the export was scanned in process", reason=result.helper_failure
            )
        log.info("bundle exported", events=result.event_count, size=result.size, scanned_by=result.scanned_by)
        await record_audit(
            store,
            principal,
            "bundle_export",
            target=scope.debug_id or ",".join(scope.servers) or "*",
            scope={**scope.to_dict(), "sizeBytes": result.size},
            result_count=result.event_count,
            request_id=request.headers.get("x-request-id"),
        )
    except BundleError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        log.warning("bundle export refused", code=exc.code, reason=exc.message)
        raise BundleFailedError(exc) from exc
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return FileResponse(
        result.path,
        media_type="application/zip",
        filename=result.filename,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        # The bundle lives only as long as its download.
        background=BackgroundTask(shutil.rmtree, workdir, ignore_errors=True),
    )
