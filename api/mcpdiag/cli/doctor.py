"""`mcpdiag doctor`: the ladder on the command line, for a URL or (only here) a stdio command.

Like the API's runs, each run is one `inspection` event under its Debug ID, kept in the event store the
other commands read (`MCPDIAG_STORE_URL` or `--store`), so `mcpdiag search <Debug ID>` finds it; where
no store exists the output says so. Register it with `app.command("doctor")(doctor_command)`.

The doctor drives the MCP SDK, which takes half a second to import: it is imported when the command runs,
so every other command starts without it (and without the `mcp` extra, this command says what to install).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mcpdiag.cli.text import cli_console, shown, terminal_safe
from mcpdiag.collector.settings import get_collector_settings
from mcpdiag.collector.validation import EventValidator
from mcpdiag.emitters import Emitter, MemorySink
from mcpdiag.emitters.endpoint import command_endpoint, url_endpoint
from mcpdiag.store import sqlite_path
from mcpdiag.store.backends import check_store_url, open_store
from mcpdiag.store.errors import StoreError, UnsupportedStoreURLError

if TYPE_CHECKING:
    from mcpdiag.doctor.options import DoctorTransport
    from mcpdiag.doctor.report import DoctorReport
    from mcpdiag.emitters.sinks import WireEvent

__all__ = ["doctor_command", "parse_header", "render"]
NO_SDK = "the doctor needs the MCP SDK: pip install 'mcpdiag[mcp]'"

SYMBOLS = {"ok": "✓", "fail": "✗", "warn": "!", "skipped": "·"}


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value` → (name, value); `typer.BadParameter` otherwise."""
    name, sep, value = text.partition(":")
    # Never quoted back: a header written wrong is most often a credential (`X-Api-Key=<key>`).
    if any(c in text for c in "\r\n"):
        raise typer.BadParameter("a header cannot hold a line break", param_hint="--header")
    if not sep or not name.strip():
        problem = "no ':' after the name" if not sep else "the name before ':' is empty"
        raise typer.BadParameter(f"expected 'Name: value': {problem}", param_hint="--header")
    return name.strip(), value.strip()


def render(report: DoctorReport, target: str, kept: str = "") -> str:
    """The ladder for people: one line per step with ✓/✗/!, the timing, then the verdict, the action, the
    Debug ID and where the run was (or was not) stored."""
    lines = [f"mcpdiag doctor · {target} ({report.transport})", ""]
    for step in report.steps:
        timing = f"{step.duration_ms:7.0f} ms" if step.duration_ms is not None else " " * 10
        lines.append(f"  {SYMBOLS[step.status]} {step.name:<6}{timing}  {step.summary}")
        if step.status == "fail" and step.detail:
            lines += [f"{' ' * 22}{line}" for line in step.detail.splitlines()[:12]]
    lines.append("")
    if report.ok:
        warned = len(report.warnings)
        lines.append("Healthy" + (f", with {warned} warning{'s' * (warned != 1)}." if warned else "."))
    else:
        lines.append(f"Failed at {report.failed_step}: {report.code}")
        action = report.action or "none"
        lines.append(f"Action: {action.replace('_', ' ')}")
        lines.append(f"Guide: mcpdiag explain {report.code}  ({report.guide})")
    lines.append(f"Debug ID: {report.debug_id}")
    if kept:
        lines.append(f"          {kept}")
    # The steps quote what the server under test answered: its control characters are shown, never obeyed.
    return terminal_safe("\n".join(lines))


def _operator() -> str:
    """Whose run it is: the local user (`cli:<name>`), so only staff see it on a named server's card."""
    try:
        return f"cli:{getpass.getuser()}"[:256]
    except (OSError, KeyError):
        return "cli"


def _shown_store(url: str) -> str:
    """The store URL without user, password or query (a MongoDB URL may carry credentials)."""
    base, _, _ = url.partition("?")
    scheme, sep, rest = base.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else base


async def keep(events: list[WireEvent], store_url: str | None, debug_id: str) -> str:
    """Store the run's event as the collector would (validated, redacted with the configured secrets);
    the sentence saying where it went, or why it went nowhere."""
    settings = get_collector_settings()
    url = store_url or settings.store_url
    if url.startswith("sqlite:") and not sqlite_path(url).is_file():
        where = sqlite_path(url).resolve()
        return f"not stored: no event store at {where} (set MCPDIAG_STORE_URL or --store to keep runs)"
    try:
        store = open_store(url, retention=settings.retention)
    except (StoreError, ValueError) as exc:
        return f"not stored: {exc}"
    try:
        await store.ping()
        intake = EventValidator(settings.redacted_secrets, clock=store.clock).check(events)
        if not intake.events:
            return "not stored: the event store refused the run's event"
        await store.append(intake.events)
    except StoreError as exc:
        return f"not stored: the event store at {_shown_store(url)} is unreachable ({type(exc).__name__})"
    finally:
        await store.close()
    return f"stored in {_shown_store(url)} (mcpdiag search {debug_id})"


def doctor_command(
    target: Annotated[
        list[str] | None,
        typer.Argument(help="The server URL; with --stdio, the command and its arguments after --"),
    ] = None,
    transport: Annotated[
        str, typer.Option("--transport", "-t", help="streamable-http (default) or sse")
    ] = "streamable-http",
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value', sent with every request")
    ] = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Run a stdio server: mcpdiag doctor --stdio -- CMD")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            "-s",
            help="The server's name: used in messages, and the run is stored as its inspection",
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL that keeps the run (default MCPDIAG_STORE_URL)")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Bound on the whole run, seconds (at least 0.1)")
    ] = 20.0,
) -> None:
    """Test an MCP server layer by layer: dns, tcp, tls, http, mcp, oauth, tools. Exit 1 if a step fails.

    Needs the MCP SDK: pip install 'mcpdiag\\[mcp]'.
    """
    try:
        from mcpdiag.doctor.inspection import emit_inspection
        from mcpdiag.doctor.netguard import AddressPolicy
        from mcpdiag.doctor.options import DoctorOptions, TargetError
        from mcpdiag.doctor.runner import run_doctor
        from mcpdiag.doctor.stdio import stdio_name, stdio_report
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "mcp":
            raise  # not the missing SDK: a broken install, shown as it is
        # Escaped: rich would read `[mcp]` as markup and print `'mcpdiag'`.
        cli_console(stderr=True).print(f"[red]error:[/red] {shown(NO_SDK)}", highlight=False)
        raise typer.Exit(2) from None

    words = list(target or [])
    if not words:
        raise typer.BadParameter("give a URL, or --stdio -- COMMAND ARGS", param_hint="TARGET")
    if server is not None and (not 0 < len(server.strip()) <= 128 or any(ord(c) < 32 for c in server)):
        raise typer.BadParameter("a server name of 1 to 128 printable characters", param_hint="--server")
    if store is not None:
        try:
            check_store_url(store)
        except UnsupportedStoreURLError as exc:  # before the run: a bad argument, not a run left unstored
            raise typer.BadParameter(str(exc), param_hint="--store") from None
    sink = MemorySink()
    emitter = Emitter(sink, service="mcpdiag-doctor")
    user = _operator()
    started = time.monotonic()
    if stdio:
        name = server or stdio_name(words)
        report = asyncio.run(stdio_report(words, timeout, name))
        emit_inspection(
            emitter,
            report,
            where=f"stdio {Path(words[0]).name}",  # the program only: arguments may hold secrets
            server=server,
            user_id=user,
            duration_ms=(time.monotonic() - started) * 1000,
        )
    else:
        if len(words) > 1:
            raise typer.BadParameter("one URL only (for a command, use --stdio --)", param_hint="TARGET")
        if transport not in ("streamable-http", "sse"):
            raise typer.BadParameter("streamable-http or sse", param_hint="--transport")
        chosen: DoctorTransport = "sse" if transport == "sse" else "streamable-http"
        headers = dict(parse_header(h) for h in header or [])
        # The CLI runs on the operator's own machine: private and loopback addresses are fair game.
        policy = AddressPolicy(allow_private=True)
        options = DoctorOptions(transport=chosen, headers=headers, timeout_s=timeout, policy=policy)
        try:
            report = asyncio.run(run_doctor(words[0], options, emitter=emitter, user_id=user, server=server))
        except TargetError as exc:
            raise typer.BadParameter(str(exc).partition(": ")[2], param_hint="TARGET") from None
    emitter.close(5)
    kept = asyncio.run(keep(sink.events, store, report.debug_id))
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        typer.echo(terminal_safe(f"Debug ID {report.debug_id}: {kept}"), err=True)
    else:
        # Named as its events name it: a URL without its userinfo or query, a command without its arguments
        # (either may hold a secret; the ladder below is redacted).
        named = command_endpoint(words[0]) if stdio else url_endpoint(words[0])
        typer.echo(render(report, named or "(no target)", kept))
    raise typer.Exit(0 if report.ok else 1)
