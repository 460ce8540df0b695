"""`GET /api/admin/bundle`: the sanitized support ZIP, built into a temporary file and streamed; encrypted
with age to `MCPDIAG_BUNDLE_RECIPIENTS` when they are set (`encrypt=false` for a plain ZIP).
`POST /api/admin/bundle` takes the same scope as a JSON body, and may carry a passphrase to encrypt to: a
passphrase never travels in a URL (the GET refuses one)."""

from __future__ import annotations

import shutil
import tempfile
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from mcpdiag.api.acl import AccessPolicy, check_bundle_permission
from mcpdiag.api.audit import record_audit
from mcpdiag.api.deps import CurrentUser, Policy, Settings, Store, strict_query
from mcpdiag.api.errors import ApiError, InvalidParameterError
from mcpdiag.api.principal import Principal
from mcpdiag.api.routes.common import error_responses
from mcpdiag.api.routes.debug import resolve_debug_id
from mcpdiag.api.settings import ApiSettings
from mcpdiag.bundle import BundleError, BundleScope, export_bundle
from mcpdiag.bundle.crypt import Encryption
from mcpdiag.bundle.errors import InvalidKeyError
from mcpdiag.bundle.settings import BundleSettings
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.store.base import EventStore

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
                scalar=("from", "to", "since", "userId", "debugId", "severity", "includeDetail", "encrypt"),
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
    encrypt: Annotated[
        bool | None, Query(description="Encrypt to MCPDIAG_BUNDLE_RECIPIENTS (default: when they are set)")
    ] = None,
) -> FileResponse:
    """Admins export any scope, support only one Debug ID, users get 403. Every export is audited."""
    fields: dict[str, Any] = {"server": server, "since": since, "from_": from_, "to": to, "user_id": user_id}
    fields |= {"debug_id": debug_id, "severity": severity, "include_detail": include_detail}
    return await _export(request, principal, store, policy, settings, fields, _encryption(request, encrypt))


class BundleRequest(BaseModel):
    """The scope of `GET /api/admin/bundle` as a JSON body, and how to encrypt the bundle."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    server: list[str] = Field(default_factory=list, max_length=200)
    from_: str | None = Field(default=None, alias="from", max_length=64)
    to: str | None = Field(default=None, max_length=64)
    since: str | None = Field(default=None, max_length=16)
    user_id: str | None = Field(default=None, alias="userId", max_length=256)
    debug_id: str | None = Field(default=None, alias="debugId", max_length=64)
    severity: str | None = Field(default=None, max_length=16)
    include_detail: bool = Field(default=True, alias="includeDetail")
    encrypt: bool | None = Field(
        default=None, description="Encrypt to MCPDIAG_BUNDLE_RECIPIENTS (default: when they are set)"
    )
    passphrase: SecretStr | None = Field(
        default=None, description="Encrypt to this passphrase instead (age scrypt; at least 8 characters)"
    )


@router.post(
    "/api/admin/bundle",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The bundle (.zip or .zip.age)"},
        **error_responses(403),
    },
    dependencies=[Depends(strict_query())],
    summary="Download a support bundle, its scope and encryption (a passphrase too) in the body",
)
async def bundle_post(
    request: Request,
    principal: CurrentUser,
    store: Store,
    policy: Policy,
    settings: Settings,
    body: BundleRequest,
) -> FileResponse:
    """The same bundle as the GET; with `passphrase`, encrypted to it (it never appears in a URL or log)."""
    if body.passphrase is not None:
        if body.encrypt is False:
            raise InvalidParameterError("encrypt", "false, but a passphrase to encrypt to was given")
        try:
            encryption: Encryption | None = Encryption.with_passphrase(body.passphrase.get_secret_value())
        except InvalidKeyError as exc:
            raise BundleFailedError(exc) from exc
    else:
        encryption = _encryption(request, body.encrypt)
    fields = body.model_dump(exclude={"encrypt", "passphrase"})
    fields["servers"] = fields.pop("server")
    return await _export(request, principal, store, policy, settings, fields, encryption)


def _encryption(request: Request, encrypt: bool | None) -> Encryption | None:
    bundle_settings: BundleSettings = request.app.state.bundle_settings
    configured = bundle_settings.encryption
    if encrypt and configured is None:
        raise InvalidParameterError(
            "encrypt", "no recipients to encrypt to: the admin sets them in MCPDIAG_BUNDLE_RECIPIENTS"
        )
    return configured if encrypt is not False else None


async def _export(
    request: Request,
    principal: Principal,
    store: EventStore,
    policy: AccessPolicy,
    settings: ApiSettings,
    fields: dict[str, Any],
    encryption: Encryption | None,
) -> FileResponse:
    now = store.clock()
    if "server" in fields:
        fields["servers"] = fields.pop("server")
    try:
        scope = BundleScope.parse(**fields, now=now)
        check_bundle_permission(principal, scope)
    except BundleError as exc:
        raise BundleFailedError(exc) from exc
    if scope.debug_id is not None:
        # As the lookup answers (400 malformed, 404 none the caller may see, 409 several traces): never an
        # empty bundle for a Debug ID that names nothing, sent on to a vendor as if it held the failure.
        await resolve_debug_id(store, policy, principal, scope.debug_id)
    bundle_settings: BundleSettings = request.app.state.bundle_settings
    collector_settings: CollectorSettings = request.app.state.collector_settings
    workdir = tempfile.mkdtemp(prefix="mcpdiag-bundle-")
    try:
        visible = policy.names(principal, await store.list_servers())
        result = await export_bundle(
            store,
            scope,
            out_dir=workdir,
            settings_snapshot={
                "collector": dict(collector_settings),
                "api": dict(settings),
                "bundle": dict(bundle_settings),
            },
            known_secrets=collector_settings.redacted_secrets,
            app_version=request.app.version,
            visible_servers=visible,
            now=now,
            encryption=encryption,
            hmac_key=bundle_settings.hmac_key,
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
            scope={**scope.to_dict(), "sizeBytes": result.size, "encryption": result.encryption},
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
        media_type="application/zip" if encryption is None else "application/octet-stream",
        filename=result.filename,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        # The bundle lives only as long as its download.
        background=BackgroundTask(shutil.rmtree, workdir, ignore_errors=True),
    )
