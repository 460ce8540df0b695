"""The `mcpdiag` command line: support bundles from the configured store, and the version."""

from __future__ import annotations

import asyncio
import os
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mcpdiag.api.bundle import BundleError, BundleResult, BundleScope, export_bundle
from mcpdiag.api.bundle.readme import SECURITY_NOTICE
from mcpdiag.collector.backends import open_store
from mcpdiag.collector.errors import CollectorError
from mcpdiag.collector.settings import get_collector_settings
from mcpdiag.collector.sqlite_store import sqlite_path

PROGRESS_AFTER = 10_000

app = typer.Typer(help="mcpdiag: diagnostics for MCP servers.", no_args_is_help=True, add_completion=False)
console = Console()
errors = Console(stderr=True)


def app_version() -> str:
    """The installed mcpdiag version."""
    try:
        return metadata.version("mcpdiag")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _settings_snapshot() -> dict[str, Any]:
    """The effective settings of every component (raw: secrets are collected from it, then dropped)."""
    snapshot: dict[str, Any] = {"collector": dict(get_collector_settings())}
    try:
        from mcpdiag.api.settings import get_api_settings

        snapshot["api"] = dict(get_api_settings())
    except (ImportError, ValueError):
        # The API's settings are optional here: the CLI reads the store directly.
        snapshot["api"] = None
    return snapshot


class _Bar:
    """A progress bar shown from the start on a terminal, or once an export passes 10k events."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: Any = None

    def __call__(self, phase: str, done: int) -> None:
        if self.progress is None and (console.is_terminal or done > PROGRESS_AFTER) and phase != "done":
            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
            )
            self.progress.start()
            self.task = self.progress.add_task("")
        if self.progress is not None:
            label = "leak scan" if phase == "scan" else "events written"
            self.progress.update(self.task, description=f"{label}: {done:,}")
            if phase == "done":
                self.progress.stop()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _preflight(store_url: str, out_dir: Path) -> None:
    """Fail fast, before touching the store, on the mistakes a person makes most."""
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise BundleError(f"the output directory {out_dir} does not exist or is not writable")
    if store_url.startswith("sqlite:") and not sqlite_path(store_url).is_file():
        raise BundleError(f"no event store at {sqlite_path(store_url)} (set MCPDIAG_STORE_URL or --store)")


async def _export(store_url: str, scope: BundleScope, out_dir: Path, bar: _Bar) -> BundleResult:
    settings = get_collector_settings()
    store = open_store(store_url, retention=settings.retention)
    try:
        try:
            await store.ping()
        except CollectorError as exc:
            raise BundleError(f"the event store is unreachable: {exc}") from exc
        return await export_bundle(
            store,
            scope,
            out_dir=out_dir,
            settings_snapshot=_settings_snapshot(),
            known_secrets=settings.redacted_secrets,
            app_version=app_version(),
            progress=bar,
        )
    finally:
        await store.close()


@app.command()
def bundle(
    server: Annotated[
        list[str] | None, typer.Option("--server", "-s", help="Server to include (repeatable)")
    ] = None,
    since: Annotated[str | None, typer.Option(help="How far back: 90m, 24h, 7d (default 24h)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Window start, RFC 3339 with offset")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Window end, RFC 3339 with offset")] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's (and server-wide) events")
    ] = None,
    debug_id: Annotated[
        str | None, typer.Option("--debug-id", help="One Debug ID and ±10 min around")
    ] = None,
    severity: Annotated[str | None, typer.Option(help="Minimum severity: debug … critical")] = None,
    no_detail: Annotated[bool, typer.Option("--no-detail", help="Leave technical detail out")] = False,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Where to write the ZIP")] = Path(
        "."
    ),
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL (default MCPDIAG_STORE_URL)")
    ] = None,
) -> None:
    """Export a sanitized support bundle (ZIP) of stored events."""
    bar = _Bar()
    try:
        scope = BundleScope.parse(
            servers=server or (),
            since=since,
            from_=from_,
            to=to,
            user_id=user,
            debug_id=debug_id,
            severity=severity,
            include_detail=not no_detail,
        )
        store_url = store or get_collector_settings().store_url
        _preflight(store_url, output_dir)
        result = asyncio.run(_export(store_url, scope, output_dir, bar))
    except (BundleError, CollectorError, ValueError) as exc:
        bar.stop()
        errors.print(f"[red]error:[/red] {getattr(exc, 'message', None) or exc}", highlight=False)
        raise typer.Exit(1) from None
    bar.stop()
    console.print(f"bundle: {result.path}", highlight=False, soft_wrap=True)
    console.print(f"size: {result.size:,} bytes   events: {result.event_count:,}", highlight=False)
    if not result.event_count:
        console.print("no events matched this scope; the bundle says so", highlight=False)
    console.print(f"[yellow]security notice:[/yellow] {SECURITY_NOTICE}", highlight=False)


@app.command()
def version() -> None:
    """Print the mcpdiag version."""
    console.print(f"mcpdiag {app_version()}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
