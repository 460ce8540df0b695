"""Import jobs of the API: an uploaded export, checked and committed in the background, polled by id.

One import runs at a time per process (each gets the store's whole write path); finished jobs are kept a
while (`KEEP_S`, at most `KEEP_JOBS`) so the UI can show their summary. A job's files (the upload and the
staging file) live in a private temporary directory removed when the job ends. Jobs are per process: with
several API replicas, poll the replica that accepted the upload (sticky sessions) or import through the CLI.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from mcpdiag.api.errors import ImportBusyError, InvalidParameterError, PayloadTooLargeError
from mcpdiag.collector.validation import EventValidator
from mcpdiag.emitters import format_ts
from mcpdiag.store import Conflict, EventStore, InvalidExportError, RejectedLinesError, StoreError
from mcpdiag.store.transfer import ImportReport, Redact, TransferProgress, import_file

log = structlog.get_logger("mcpdiag.api.import")

KEEP_S = 3600
KEEP_JOBS = 20
INFLATE_RATIO = 64
"""An upload may inflate to this many times its size (a real export inflates about 10x)..."""
INFLATE_FLOOR = 1 << 30
"""... or to this, whichever is more: an export whose events repeat one long detail (an outage answering
the same error page) inflates 80x and more, and every byte of it is an event checked and stored."""
State = Literal["queued", "running", "done", "failed"]


def collector_redaction(known_secrets: frozenset[str]) -> Redact:
    """The collector's redaction step (it remembers strings found clean), for these known secrets.

    Module-level, so `functools.partial(collector_redaction, secrets)` can be sent to a check worker.
    """
    return EventValidator(known_secrets).redact


@dataclass
class ImportJob:
    """One import: what was uploaded, how far it is, and how it ended."""

    id: str
    filename: str
    size: int
    dry_run: bool
    conflict: Conflict
    actor: str
    created_at: str
    directory: Path
    state: State = "queued"
    progress: TransferProgress = field(default_factory=TransferProgress)
    report: ImportReport | None = None
    error: dict[str, Any] | None = None
    finished: float | None = None
    task: asyncio.Task[None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The job as `GET /api/admin/import/{job}` answers it."""
        return {
            "id": self.id,
            "state": self.state,
            "filename": self.filename,
            "sizeBytes": self.size,
            "dryRun": self.dry_run,
            "conflict": self.conflict,
            "createdAt": self.created_at,
            "progress": {
                "phase": self.progress.phase,
                "done": self.progress.done,
                "total": self.progress.total,
            },
            "report": self.report.to_dict() if self.report else None,
            "error": self.error,
        }


class ImportJobs:
    """The jobs of one app: start, look up, stop them all at shutdown."""

    def __init__(self) -> None:
        self.jobs: OrderedDict[str, ImportJob] = OrderedDict()

    def get(self, job_id: str) -> ImportJob | None:
        """The job `job_id`, if it is still kept."""
        self._forget_old()
        return self.jobs.get(job_id)

    def running(self) -> ImportJob | None:
        """The job that is queued or running, if any."""
        return next((job for job in self.jobs.values() if job.state in ("queued", "running")), None)

    def new(self, *, filename: str, dry_run: bool, conflict: Conflict, actor: str, now: str) -> ImportJob:
        """A queued job with its private directory; `ImportBusyError` while another one runs."""
        busy = self.running()
        if busy is not None:
            raise ImportBusyError(f"import {busy.id} is still running; poll /api/admin/import/{busy.id}")
        self._forget_old()
        job = ImportJob(
            id=secrets.token_hex(8),
            filename=filename[:200],
            size=0,
            dry_run=dry_run,
            conflict=conflict,
            actor=actor,
            created_at=now,
            directory=Path(tempfile.mkdtemp(prefix="mcpdiag-import-job-")),
        )
        self.jobs[job.id] = job
        return job

    def discard(self, job: ImportJob) -> None:
        """Drop a job that never started (its upload failed)."""
        self.jobs.pop(job.id, None)
        shutil.rmtree(job.directory, ignore_errors=True)

    def start(self, job: ImportJob, store: EventStore, known_secrets: frozenset[str], max_bytes: int) -> None:
        """Run the import of the job's upload in the background."""
        job.task = asyncio.get_running_loop().create_task(_run(job, store, known_secrets, max_bytes))

    async def stop(self) -> None:
        """Cancel running jobs and wait for them (the app is shutting down; the store closes next)."""
        tasks = [job.task for job in self.jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget_old(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            old = job.finished is not None and now - job.finished > KEEP_S
            if old or (job.finished is not None and len(self.jobs) > KEEP_JOBS):
                del self.jobs[job_id]


async def _run(job: ImportJob, store: EventStore, known_secrets: frozenset[str], max_bytes: int) -> None:
    job.state = "running"
    try:
        job.report = await import_file(
            store,
            job.directory / "upload",
            conflict=job.conflict,
            dry_run=job.dry_run,
            redact=functools.partial(collector_redaction, known_secrets),
            progress=job.progress,
            stage_dir=job.directory,
            max_bytes=max_bytes,
        )
        job.state = "done"
        log.info("import finished", job=job.id, dry_run=job.dry_run, summary=job.report.summary())
    except RejectedLinesError as exc:
        job.state, job.error = "failed", _error(exc, problems=exc.problems, badLines=exc.count)
    except InvalidExportError as exc:
        job.state, job.error = "failed", _error(exc, line=exc.line or None)
    except StoreError as exc:
        job.state, job.error = "failed", _error(exc)
        log.warning("import failed", job=job.id, error=str(exc))
    except asyncio.CancelledError:
        job.state, job.error = (
            "failed",
            {"code": "cancelled", "message": "the service stopped during the import"},
        )
        raise
    except Exception:
        log.exception("import failed unexpectedly", job=job.id)
        job.state = "failed"
        job.error = {
            "code": "internal_error",
            "message": "the import failed unexpectedly; see the service log",
        }
    finally:
        job.finished = time.monotonic()
        shutil.rmtree(job.directory, ignore_errors=True)


def _error(exc: StoreError, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": exc.code, "message": str(exc)}
    if "problems" in extra:
        extra["problems"] = [{"line": n, "field": f, "message": m} for n, f, m in extra["problems"]]
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


async def _bounded(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"file: the upload exceeds {limit // (1024 * 1024):,} MiB")
        yield chunk


async def receive_upload(headers: Headers, stream: AsyncIterator[bytes], job: ImportJob, limit: int) -> None:
    """Save the multipart upload's `file` part as the job's upload, reading at most `limit` bytes."""
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(f"file: the upload exceeds {limit // (1024 * 1024):,} MiB")
    if not headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidParameterError("file", "send the export as multipart/form-data, in a part named file")
    parser = MultiPartParser(headers, _bounded(stream, limit), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidParameterError("file", f"the upload is not valid multipart: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameterError("file", "missing: send the export in a part named file")
        job.filename = (upload.filename or "upload")[:200]
        job.size = await asyncio.to_thread(_save, upload, job.directory / "upload")
    finally:
        await form.close()


def _save(upload: UploadFile, target: Path) -> int:
    upload.file.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)
    return target.stat().st_size


def created_now(store: EventStore) -> str:
    """The store's now, as the job's creation time."""
    return format_ts(store.clock())
