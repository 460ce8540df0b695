"""The `mcpdiag` command line: `serve`, `demo`, `search`, `tail`, `bundle`, `explain` and `version`."""

from __future__ import annotations

import asyncio
import math
import os
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mcpdiag.bundle import BundleError, BundleResult, BundleScope, export_bundle
from mcpdiag.bundle.crypt import Encryption
from mcpdiag.bundle.errors import InvalidScopeError
from mcpdiag.bundle.readme import SECURITY_NOTICE
from mcpdiag.cli import bundle_commands, lookup, output
from mcpdiag.cli.config_backup import setting_problem
from mcpdiag.cli.errors import BadArgument, CliError
from mcpdiag.cli.explain import explain_command
from mcpdiag.cli.serving import (
    GRACEFUL_SHUTDOWN_S,
    bind_problem,
    managed_server,
    serve_until_stopped,
    wait_started,
)
from mcpdiag.cli.settings import get_serve_settings
from mcpdiag.cli.text import cli_console, shown
from mcpdiag.collector.errors import CollectorError
from mcpdiag.collector.settings import CollectorSettings, get_collector_settings
from mcpdiag.store import sqlite_path
from mcpdiag.store.backends import open_store
from mcpdiag.store.errors import StoreError, UnsupportedStoreURLError

if TYPE_CHECKING:
    from mcpdiag.api.settings import ApiSettings

PROGRESS_AFTER = 10_000
SCOPE_OPTIONS = {
    "since": "--since",
    "from": "--from",
    "to": "--to",
    "server": "--server",
    "userId": "--user",
    "debugId": "--debug-id",
    "severity": "--severity",
}
"""The bundle scope's field names as the command line spells them."""

app = typer.Typer(help="mcpdiag: diagnostics for MCP servers.", no_args_is_help=True, add_completion=False)
console = cli_console()
errors = cli_console(stderr=True)


def fail(exc: BaseException, code: int = 1) -> typer.Exit:
    """Print `exc` as one `error:` line on stderr; the `typer.Exit` to raise (exit 2 for a bad argument: a
    `BadArgument`, or a store URL no backend takes, given with --store or in MCPDIAG_STORE_URL)."""
    message = str(getattr(exc, "message", None) or exc)
    errors.print(f"[red]error:[/red] {shown(message)}", highlight=False)
    if isinstance(exc, UnsupportedStoreURLError):
        code = 2
    return typer.Exit(getattr(exc, "exit_code", code))


def app_version() -> str:
    """The installed mcpdiag version."""
    try:
        return metadata.version("mcpdiag")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _settings_snapshot() -> dict[str, Any]:
    """The effective settings of every component (raw: secrets are collected from it, then dropped)."""
    return bundle_commands.settings_snapshot()


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


async def _export(
    store_url: str, scope: BundleScope, out_dir: Path, bar: _Bar, encryption: Encryption | None
) -> BundleResult:
    settings = get_collector_settings()
    store = open_store(store_url, retention=settings.retention, cursor_key=settings.cursor_key)
    try:
        try:
            await store.ping()
        except (CollectorError, StoreError) as exc:
            raise BundleError(f"the event store is unreachable: {exc}") from exc
        if scope.debug_id is not None:
            # Like the API's lookup: a Debug ID that designates no single trace is refused, not exported.
            try:
                await lookup.resolve_trace(store, scope.debug_id, "--debug-id")
            except lookup.LookupFailed as exc:
                raise BadArgument(f"{exc}; nothing exported") from None
        return await export_bundle(
            store,
            scope,
            out_dir=out_dir,
            settings_snapshot=_settings_snapshot(),
            known_secrets=settings.redacted_secrets,
            app_version=app_version(),
            progress=bar,
            encryption=encryption,
            hmac_key=bundle_commands.hmac_key(),
        )
    finally:
        await store.close()


bundle_app = typer.Typer(
    help="Export a support bundle, or decrypt, verify or re-redact one.", add_completion=False
)
app.add_typer(bundle_app, name="bundle")


@bundle_app.callback(invoke_without_command=True)
def bundle(
    ctx: typer.Context,
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
    recipient: Annotated[
        list[str] | None,
        typer.Option("--recipient", "-r", help="Encrypt to this age recipient (age1…, ssh-…; repeatable)"),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", help="Encrypt to the passphrase in this file's first line"),
    ] = None,
    no_encrypt: Annotated[
        bool, typer.Option("--no-encrypt", help="A plain ZIP even when MCPDIAG_BUNDLE_RECIPIENTS is set")
    ] = False,
) -> None:
    """Export a sanitized support bundle (ZIP, or `.zip.age` when encrypted) of stored events."""
    if ctx.invoked_subcommand is not None:
        return
    bar = _Bar()
    try:
        encryption = bundle_commands.encryption(recipient or [], passphrase_file, no_encrypt=no_encrypt)
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
        result = asyncio.run(_export(store_url, scope, output_dir, bar, encryption))
    except InvalidScopeError as exc:
        bar.stop()
        option = SCOPE_OPTIONS.get(exc.field, exc.field)
        raise fail(BadArgument(f"{option}: {exc.message.split(': ', 1)[-1]}")) from None
    except (BundleError, CliError, CollectorError, StoreError, ValueError) as exc:
        bar.stop()
        raise fail(exc) from None
    bar.stop()
    console.print(f"bundle: {shown(str(result.path))}", highlight=False)
    console.print(f"size: {result.size:,} bytes   events: {result.event_count:,}", highlight=False)
    if result.encryption:
        console.print(
            f"encrypted: {shown(str(result.encryption))} (open it with `mcpdiag bundle decrypt` or `age -d`)"
        )
    if not result.event_count:
        console.print("no events matched this scope; the bundle says so", highlight=False)
    if result.helper_failure:
        console.print(
            f"note: the scan helper {shown(str(result.helper_failure))}; scanned here", highlight=False
        )
    console.print(f"[yellow]security notice:[/yellow] {shown(SECURITY_NOTICE)}", highlight=False)


def _serve_settings(store: str | None, dev: bool) -> tuple[ApiSettings, CollectorSettings]:
    """Settings from MCPDIAG_* variables and `.env`, with the command line's overrides on top."""
    from mcpdiag.api.settings import ApiSettings

    api = ApiSettings(dev_mode=True) if dev else ApiSettings()
    collector = CollectorSettings(store_url=store) if store else CollectorSettings()
    return api, collector


def serve_warnings(api: ApiSettings, collector: CollectorSettings) -> list[str]:
    """What will not work with these settings, in words."""
    found = []
    if not collector.ingest_keys:
        found.append("no MCPDIAG_INGEST_KEYS: ingest is closed (/v1/events and /v1/logs answer 401)")
    if api.jwt_secret is None and api.jwks_url is None:
        if api.dev_mode:
            found.append("dev mode without MCPDIAG_JWT_SECRET: demo tokens are signed with a per-process key")
        else:
            found.append("no MCPDIAG_JWT_SECRET or MCPDIAG_JWKS_URL: every /api request will get 401")
    if api.dev_mode:
        found.append("dev mode: anyone can get a demo user's token at /api/dev/token (never in production)")
    return found


def _check_port(host: str, port: int) -> None:
    if (problem := bind_problem(host, port)) is not None:
        errors.print(f"[red]error:[/red] {shown(problem)}", highlight=False)
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: a free one)", min=0, max=65535)] = 8000,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL (default MCPDIAG_STORE_URL)")
    ] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Development mode: demo users and tokens")] = False,
    graceful: Annotated[
        float, typer.Option(help="Seconds open requests get to finish on shutdown")
    ] = GRACEFUL_SHUTDOWN_S,
) -> None:
    """Run the API, the collector and the UI in one process (settings: MCPDIAG_* variables, .env)."""
    from mcpdiag.api.app import create_app

    try:
        api, collector = _serve_settings(store, dev)
        limits = get_serve_settings()
        service = managed_server(
            create_app(api, collector), host=host, port=port, graceful_s=graceful, limits=limits
        )
    except (ValidationError, CollectorError, StoreError, ValueError) as exc:
        said = setting_problem(exc) if isinstance(exc, ValidationError) else getattr(exc, "message", None)
        errors.print(f"[red]error:[/red] {shown(str(said or exc))}", highlight=False)
        raise typer.Exit(2) from None
    _check_port(host, port)
    for warning in serve_warnings(api, collector):
        errors.print(f"[yellow]warning:[/yellow] {shown(str(warning))}", highlight=False)
    reach = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104

    async def run() -> None:
        serving = asyncio.create_task(serve_until_stopped(service))
        await wait_started(service, serving, timeout=math.inf)  # a migration may take long: never give up
        # The port it is bound to: `--port 0` asks for a free one, and `:0` reaches nothing.
        url = f"{'https' if limits.tls else 'http'}://{reach}:{service.port}"
        console.print(f"mcpdiag: serving on {shown(url)}  (UI /ui/, API docs /docs)", highlight=False)
        await serving

    asyncio.run(run())
    console.print("mcpdiag: stopped", highlight=False)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: a free one)", min=0, max=65535)] = 8000,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the SQLite store and spool live")
    ] = Path("data"),
    trickle: Annotated[
        bool, typer.Option("--trickle/--no-trickle", help="Keep generating an event every 10-20 s")
    ] = True,
    ingest_key: Annotated[
        str | None,
        typer.Option(
            "--ingest-key",
            help="The key your own host sends events with (default: MCPDIAG_INGEST_KEYS, else a new one)",
        ),
    ] = None,
) -> None:
    """Serve in dev mode on a local SQLite store, filled with diagnostics from real MCP sessions."""
    from mcpdiag.cli.demo import DemoOptions, run_demo
    from mcpdiag.cli.demo.keys import demo_ingest_keys

    try:
        keys, source = demo_ingest_keys(ingest_key)
    except (BadArgument, ValidationError) as exc:
        raise fail(exc, 2) from None
    _check_port(host, port)
    run_demo(
        DemoOptions(
            host=host, port=port, data_dir=data_dir, trickle=trickle, ingest_keys=keys, key_source=source
        )
    )


@app.command()
def search(
    debug_id: Annotated[
        str, typer.Argument(help="A Debug ID, a prefix of at least 8 characters, or an event id")
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print the trace and its events as JSON")] = False,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL (default MCPDIAG_STORE_URL)")
    ] = None,
) -> None:
    """Show every stored event of one Debug ID (exit 1 when none matches, 2 for a malformed id)."""
    try:
        trace_id, events = asyncio.run(lookup.search(store, debug_id))
    except (CliError, CollectorError, StoreError) as exc:
        raise fail(exc) from None
    if json_:
        output.write_json({"debugId": debug_id.strip(), "traceId": trace_id, "events": events})
    else:
        output.print_trace(console, trace_id, events)


@app.command()
def tail(
    server: Annotated[str, typer.Option("--server", "-s", help="The server to follow")],
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's (and server-wide) events")
    ] = None,
    severity: Annotated[str | None, typer.Option(help="Minimum severity: debug … critical")] = None,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls")] = 1.0,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Past events shown first")] = 20,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for a server that has no events yet instead of exiting")
    ] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print each event as one line of JSON")] = False,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL (default MCPDIAG_STORE_URL)")
    ] = None,
) -> None:
    """Print a server's latest events, then follow new ones until Ctrl-C."""

    def show(event: dict[str, Any]) -> None:
        if json_:
            output.write_json(event, lines=True)
        else:
            console.print(output.event_line(event), highlight=False)

    def note(text: str) -> None:
        errors.print(shown(text), highlight=False)

    try:
        query = lookup.tail_query(server, user, severity)
        asyncio.run(
            lookup.follow(store, query, lines=lines, interval=interval, show=show, note=note, wait=wait)
        )
    except (CliError, CollectorError, StoreError) as exc:
        raise fail(exc) from None


app.command("explain")(explain_command)


@app.command()
def version() -> None:
    """Print the mcpdiag version."""
    console.print(f"mcpdiag {shown(app_version())}", highlight=False)


# The doctor loads the MCP SDK when it runs (and without the `mcp` extra says what to install).
from mcpdiag.cli.doctor import doctor_command  # noqa: E402

app.command("doctor")(doctor_command)


# Moving events between stores: `export`, `import`, `migrate` (and the configuration's `config` commands).
from mcpdiag.cli import config_commands, transfer  # noqa: E402

transfer.register(app)
app.add_typer(config_commands.app, name="config")
bundle_commands.register(bundle_app)
app.command("open")(bundle_commands.open_command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
