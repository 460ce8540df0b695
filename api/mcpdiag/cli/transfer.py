"""`mcpdiag export`, `mcpdiag import` and `mcpdiag migrate`: move events between stores (any backend to any
backend) through gzipped NDJSON files, or straight from one store into another."""

from __future__ import annotations

import asyncio
import functools
import getpass
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from mcpdiag.api.import_jobs import collector_redaction
from mcpdiag.bundle.scanhelper import usable_cpus
from mcpdiag.cli.errors import TransferFailed
from mcpdiag.cli.text import cli_console, shown, terminal_safe
from mcpdiag.collector.settings import get_collector_settings
from mcpdiag.emitters import format_ts, new_event_id
from mcpdiag.store import Conflict, EventStore, sqlite_path
from mcpdiag.store.backends import check_store_url, open_store
from mcpdiag.store.errors import RejectedLinesError, StoreError, UnsupportedStoreURLError
from mcpdiag.store.transfer import (
    ExportSelection,
    ImportReport,
    Redact,
    TransferProgress,
    import_file,
    migrate,
    plan_export,
    write_export,
)

console = cli_console()
errors = cli_console(stderr=True)
LABELS = {"counting": "counting", "exporting": "exporting", "checking": "checking", "importing": "importing"}
SHOWN_SERVERS = 20
MAX_JOBS = 4

StoreOption = Annotated[str | None, typer.Option("--store", help="Store URL (default MCPDIAG_STORE_URL)")]
ConflictOption = Annotated[
    str, typer.Option("--conflict", help="An id already stored: skip (keep it) or update (replace it)")
]
StageOption = Annotated[
    Path | None,
    typer.Option(
        "--stage-dir", help="Where the checked events wait before the commit (default: the temp dir)"
    ),
]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs", "-j", min=1, max=32, help="Processes checking a large file (default: usable CPUs - 1, ≤ 4)"
    ),
]


class ProgressBar:
    """A Rich progress bar per phase, on a terminal only (scripts get the summary line alone)."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: Any = None
        self.phase = ""

    def __call__(self, state: TransferProgress) -> None:
        if not errors.is_terminal or state.phase == "done":
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=errors,
                transient=False,
            )
            self.progress.start()
        if state.phase != self.phase:
            self.phase = state.phase
            self.task = self.progress.add_task(LABELS.get(state.phase, state.phase), total=state.total)
        self.progress.update(self.task, completed=state.done, total=state.total)

    def stop(self) -> None:
        """Leave the bar as it ended."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@asynccontextmanager
async def opened(url: str | None, *, must_exist: bool) -> AsyncIterator[EventStore]:
    """The store `url` names (default MCPDIAG_STORE_URL), reachable, with its schema; closed afterwards."""
    settings = get_collector_settings()
    url = check_store_url(url or settings.store_url)
    if must_exist and url.startswith("sqlite:") and not sqlite_path(url).is_file():
        raise TransferFailed(f"no event store at {sqlite_path(url)} (set MCPDIAG_STORE_URL or --store)")
    store = open_store(url, retention=settings.retention, cursor_key=settings.cursor_key)
    try:
        try:
            await store.ensure_schema()
            await store.ping()
        except StoreError as exc:
            raise TransferFailed(f"the event store at {_shown(url)} is unreachable: {exc}") from exc
        yield store
    finally:
        await store.close()


def _shown(url: str) -> str:
    """A store URL without its credentials."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else url


async def audit(store: EventStore, action: str, *, target: str, scope: dict[str, Any], count: int) -> None:
    """Record a CLI transfer in the store's audit log (who ran it: the operating-system user)."""
    now = store.clock()
    await store.append_audit(
        {
            "id": new_event_id(int(now.timestamp() * 1000)),
            "at": format_ts(now),
            "actor": f"cli:{getpass.getuser()}",
            "role": "admin",
            "action": action,
            "target": target,
            "scope": scope,
            "resultCount": count,
            "requestId": None,
        }
    )


def redaction() -> Callable[[], Redact]:
    """Builds the collector's redaction step with this deployment's known secrets (in each check worker)."""
    return functools.partial(collector_redaction, get_collector_settings().redacted_secrets)


def default_jobs() -> int:
    """Check workers for a large import: one fewer than the whole CPUs this process may use (it reads the file
    and writes the stage meanwhile), at most `MAX_JOBS`; 1 (checks in this process) on two CPUs or fewer."""
    cpus = usable_cpus()
    return 1 if cpus <= 2 else min(cpus - 1, MAX_JOBS)


def selection_of(
    servers: list[str] | None, since: str | None, until: str | None, user: str | None, severity: str | None,
    store: EventStore,
) -> ExportSelection:  # fmt: skip
    """The export selection the options name (durations count back from the store's now)."""
    return ExportSelection.parse(
        servers=servers or (), since=since, until=until, user_id=user, severity=severity, now=store.clock()
    )


def run(work: Callable[[], Any], bar: ProgressBar) -> Any:
    """Run an async step; a failure is one red line and exit status 1 (2 for a store URL no backend takes,
    a bad argument as the README says)."""
    try:
        return asyncio.run(work())
    except (TransferFailed, StoreError, ValueError, OSError) as exc:
        bar.stop()
        if isinstance(exc, RejectedLinesError):
            for line, field, message in exc.problems:
                errors.print(
                    f"[red]line {line:,}[/red]: {shown(f'{field}: {message}')}",
                    highlight=False,
                )
        errors.print(f"[red]error:[/red] {shown(str(exc))}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, UnsupportedStoreURLError) else 1) from None
    finally:
        bar.stop()


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write (gzipped NDJSON)")],
    server: Annotated[list[str] | None, typer.Option("--server", "-s", help="Server (repeatable)")] = None,
    since: Annotated[str | None, typer.Option(help="From: 7d, 90m … back, or RFC 3339")] = None,
    until: Annotated[str | None, typer.Option(help="Until (exclusive): a duration back, or RFC 3339")] = None,
    user: Annotated[str | None, typer.Option("--user", help="One user's (and server-wide) events")] = None,
    severity: Annotated[str | None, typer.Option(help="Minimum severity: debug … critical")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file")] = False,
    store: StoreOption = None,
) -> None:
    """Export stored events to a gzipped NDJSON file (a header line, one event per line, an end line)."""
    bar = ProgressBar()
    if out.exists() and not force:
        errors.print(
            f"[red]error:[/red] {shown(str(out))} exists; pass --force to replace it", highlight=False
        )
        raise typer.Exit(1)

    async def work() -> Any:
        async with opened(store, must_exist=True) as source:
            selection = selection_of(server, since, until, user, severity, source)
            plan = await plan_export(source, selection)
            result = await write_export(source, plan, out, on_progress=bar)
            await audit(
                source, "events_export", target=str(out), scope=selection.to_dict(), count=result.events
            )
            return result

    result = run(work, bar)
    console.print(
        Text(
            terminal_safe(
                f"Exported {result.events:,} events of {result.servers:,} server(s) to {result.path} "
                f"({result.size / 1e6:,.1f} MB)"
            )
        ),
        highlight=False,
    )


def import_command(
    file: Annotated[Path, typer.Argument(help="An export made by `mcpdiag export` (or the API)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count; write nothing")] = False,
    conflict: ConflictOption = "skip",
    jobs: JobsOption = None,
    stage_dir: StageOption = None,
    store: StoreOption = None,
) -> None:
    """Import an export: every line checked first, nothing stored unless all are valid; idempotent."""
    bar = ProgressBar()
    mode = _conflict(conflict)
    if not file.is_file():
        errors.print(f"[red]error:[/red] no file at {shown(str(file))}", highlight=False)
        raise typer.Exit(1)

    async def work() -> ImportReport:
        async with opened(store, must_exist=False) as target:
            report = await import_file(
                target, file, conflict=mode, dry_run=dry_run, redact=redaction(),
                workers=jobs or default_jobs(), stage_dir=stage_dir, on_progress=bar,
            )  # fmt: skip
            if not dry_run:
                await audit(
                    target, "events_import", target=str(file), scope=_import_scope(report),
                    count=report.counts.inserted,
                )  # fmt: skip
            return report

    show(run(work, bar))


def migrate_command(
    from_: Annotated[str, typer.Option("--from", help="Source store URL")],
    to: Annotated[str, typer.Option("--to", help="Target store URL")],
    server: Annotated[list[str] | None, typer.Option("--server", "-s", help="Server (repeatable)")] = None,
    since: Annotated[str | None, typer.Option(help="From: 7d, 90m … back, or RFC 3339")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count; write nothing")] = False,
    conflict: ConflictOption = "skip",
    jobs: JobsOption = None,
    stage_dir: StageOption = None,
) -> None:
    """Copy events from one store into another in one streaming step (e.g. SQLite to MongoDB)."""
    bar = ProgressBar()
    mode = _conflict(conflict)
    if from_ == to:
        errors.print("[red]error:[/red] --from and --to name the same store", highlight=False)
        raise typer.Exit(1)
    for option, url in (("--from", from_), ("--to", to)):  # both, before either store is opened
        try:
            check_store_url(url)
        except UnsupportedStoreURLError as exc:
            errors.print(f"[red]error:[/red] {shown(option)}: {shown(str(exc))}", highlight=False)
            raise typer.Exit(2) from None

    async def work() -> ImportReport:
        async with opened(from_, must_exist=True) as source, opened(to, must_exist=False) as target:
            selection = selection_of(server, since, None, None, None, source)
            report = await migrate(
                source, target, selection, conflict=mode, dry_run=dry_run, redact=redaction(),
                workers=jobs or default_jobs(), stage_dir=stage_dir, on_progress=bar,
            )  # fmt: skip
            if not dry_run:
                scope = {**_import_scope(report), **selection.to_dict()}
                await audit(
                    target, "events_import", target=_shown(from_), scope=scope, count=report.counts.inserted
                )
            return report

    show(run(work, bar))


def _conflict(value: str) -> Conflict:
    if value == "skip":
        return "skip"
    if value == "update":
        return "update"
    errors.print(
        f"[red]error:[/red] --conflict: expected skip or update, got {shown(repr(value))}", highlight=False
    )
    raise typer.Exit(2)


def _import_scope(report: ImportReport) -> dict[str, Any]:
    return {
        "sourceHost": report.header.source_host,
        "conflict": report.conflict,
        "lines": report.lines,
        "present": report.counts.present,
        "updated": report.counts.updated,
        "expired": report.expired,
    }


def show(report: ImportReport) -> None:
    """Print a dry run's preview (servers, problems) and every import's summary line; bad lines: exit 1."""
    header = report.header
    console.print(
        Text(
            terminal_safe(
                f"export of {header.source_host}, made {format_ts(header.created_at)}: "
                f"{header.counts.events:,} events of {header.counts.servers:,} server(s)"
            )
        ),
        highlight=False,
    )
    if report.dry_run and report.servers:
        table = Table("server", "events", "past retention", title="Dry run")
        ranked = sorted(report.servers.items(), key=lambda item: (-item[1].valid, item[0]))
        for name, tally in ranked[:SHOWN_SERVERS]:
            table.add_row(Text(terminal_safe(name)), f"{tally.valid:,}", f"{tally.expired:,}")
        if len(ranked) > SHOWN_SERVERS:
            table.add_row(f"… {len(ranked) - SHOWN_SERVERS:,} more", "", "")
        console.print(table)
    for line, field, message in report.problems:
        errors.print(f"[red]line {line:,}[/red]: {shown(f'{field}: {message}')}", highlight=False)
    if report.bad > len(report.problems):
        errors.print(f"… {report.bad - len(report.problems):,} more bad lines", highlight=False)
    console.print(Text(terminal_safe(report.summary())), highlight=False)
    if report.bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `export`, `import` and `migrate` to the `mcpdiag` command."""
    app.command("export")(export_command)
    app.command("import")(import_command)
    app.command("migrate")(migrate_command)
