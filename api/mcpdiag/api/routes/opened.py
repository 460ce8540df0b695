"""Opening a support bundle in this server (admins): upload and preview, open, follow, close.

`POST /api/admin/bundles` takes the bundle as multipart (part `file`; for an `.age` file also `passphrase`
or `identity`, in the body, never in the URL) and answers its preview; `POST …/{id}/open` loads it into a
throwaway store, `GET …/{id}` reports the progress and, once ready, the view's URL with its token;
`DELETE …/{id}` closes it. See `mcpdiag.api.opened` for what "open" means here.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mcpdiag.api.audit import record_audit
from mcpdiag.api.deps import AdminUser, Store, strict_query
from mcpdiag.api.errors import InvalidParameterError, NotFoundError, PayloadTooLargeError
from mcpdiag.api.opened import Opened, OpenedBundles, new_id
from mcpdiag.api.routes.bundle import BundleFailedError
from mcpdiag.api.routes.common import error_responses
from mcpdiag.bundle.crypt import DecryptionKeys, decrypt_file, is_encrypted
from mcpdiag.bundle.errors import BundleError
from mcpdiag.bundle.load import read_info
from mcpdiag.bundle.verify import verify_bundle
from mcpdiag.emitters.redact import quoted

router = APIRouter(prefix="/api/admin/bundles", tags=["bundles"])
UPLOAD_PATH = router.prefix
"""The upload route, which reads its body itself (within `bundle_open_max_bytes`)."""
MAX_FIELD = 1 << 20


def bundles_of(request: Request) -> OpenedBundles:
    """The app's opened bundles."""
    bundles: OpenedBundles = request.app.state.opened_bundles
    return bundles


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"file: the upload exceeds {limit // (1024 * 1024):,} MiB")
        yield chunk


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, UploadFile):
        return None
    text = str(value)
    if len(text) > MAX_FIELD:
        raise InvalidParameterError(name, "too long")
    return text or None


def _prepare(upload: UploadFile, folder: Path, keys: DecryptionKeys) -> tuple[Path, bool]:
    """Save the upload in `folder` and, if it is an age file, decrypt it there: the plaintext ZIP's path."""
    raw = folder / "upload"
    upload.file.seek(0)
    with raw.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    if not is_encrypted(raw):
        return raw, False
    plain = folder / "bundle.zip"
    with plain.open("wb") as out:
        decrypt_file(raw, out, keys)
    raw.unlink()
    return plain, True


@router.post(
    "",
    status_code=201,
    responses={**error_responses(403, 409), 413: {}},
    dependencies=[Depends(strict_query())],
    summary="Upload a support bundle (multipart `file`, plus `passphrase` or `identity` for .age) to preview",
)
async def upload(request: Request, principal: AdminUser, store: Store) -> JSONResponse:
    """The bundle's preview: counts, servers, window, host and a verify run; `open` it next."""
    bundles = bundles_of(request)
    await bundles.reserve()
    limit = bundles.settings.bundle_open_max_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"file: the upload exceeds {limit // (1024 * 1024):,} MiB")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidParameterError("file", "send the bundle as multipart/form-data, in a part named file")
    parser = MultiPartParser(request.headers, _bounded(request.stream(), limit), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidParameterError("file", f"the upload is not valid multipart: {exc.message}") from None
    directory = tempfile.TemporaryDirectory(prefix="mcpdiag-opened-")
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidParameterError("file", "missing: send the bundle in a part named file")
        name = (file.filename or "bundle.zip").rsplit("/", 1)[-1][:200]
        try:
            keys = DecryptionKeys.from_text(
                _text(form.get("identity"), "identity"), _text(form.get("passphrase"), "passphrase")
            )
            plain, encrypted = await asyncio.to_thread(_prepare, file, Path(directory.name), keys)
            info = read_info(plain, name)
            report = await asyncio.to_thread(verify_bundle, plain, shown_name=name)
        except BundleError as exc:
            raise BundleFailedError(exc) from exc
        entry = Opened(
            id=new_id(),
            directory=directory,
            plain=plain,
            info=info,
            report=report,
            actor=principal.user_id,
            created=time.monotonic(),
            encrypted=encrypted,
        )
        await record_audit(
            store,
            principal,
            "bundle_open",
            target=name,
            scope={
                "bundle": entry.id,
                "events": info.events,
                "hostname": info.hostname,
                "verified": report.ok,
            },
            request_id=request.headers.get("x-request-id"),
        )
    except BaseException:
        directory.cleanup()
        raise
    finally:
        await form.close()
    bundles.add(entry)
    return JSONResponse(entry.to_dict(), status_code=201, headers={"Location": entry.to_dict()["status"]})


def _entry(request: Request, key: str) -> Opened:
    entry = bundles_of(request).get(key[:64])
    if entry is None:
        raise NotFoundError(f"no open bundle {quoted(key)} (closed, expired, or in another process)")
    return entry


@router.post(
    "/{key}/open",
    status_code=202,
    responses=error_responses(403, 404),
    dependencies=[Depends(strict_query())],
    summary="Load an uploaded bundle into its throwaway store; follow it at its status URL",
)
async def open_bundle(request: Request, principal: AdminUser, key: str) -> JSONResponse:
    """Starts loading (once); the answer is the bundle's status."""
    entry = _entry(request, key)
    bundles_of(request).start(entry)
    return JSONResponse(entry.to_dict(), status_code=202)


@router.get(
    "/{key}",
    responses=error_responses(403, 404),
    dependencies=[Depends(strict_query())],
    summary="An opened bundle: its preview, loading progress and, once ready, its view",
)
async def bundle_status(request: Request, principal: AdminUser, key: str) -> dict[str, Any]:
    """`phase` is uploaded, loading, ready or failed; `view` the URL of the read-only UI when ready."""
    return _entry(request, key).to_dict()


@router.delete(
    "/{key}",
    status_code=204,
    responses=error_responses(403, 404),
    dependencies=[Depends(strict_query())],
    summary="Close an opened bundle and delete its copy",
)
async def close_bundle(request: Request, principal: AdminUser, key: str) -> Response:
    """Closes the view and deletes the uploaded bundle and its store."""
    if not await bundles_of(request).close(_entry(request, key).id):
        raise NotFoundError("no such open bundle")
    return Response(status_code=204)
