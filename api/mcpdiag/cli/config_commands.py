"""`mcpdiag config export | import | rekey`: back up, restore and re-key the deployment's configuration.

Every secret in a backup is sealed with AES-256-GCM under a key derived from `MCPDIAG_CONFIG_SECRET`; no
command prints a secret value. `import` shows what would change, validates, records the import in the audit
log, then applies; `--rekey-secret` (or `MCPDIAG_CONFIG_REKEY_SECRET`) re-seals the file for another
environment's key.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from mcpdiag.api.settings import ApiSettings
from mcpdiag.cli import config_backup as backups
from mcpdiag.cli.config_crypto import Sealer, check_secret
from mcpdiag.cli.errors import ConfigBackupError, TransferFailed
from mcpdiag.cli.settings import BackupSettings
from mcpdiag.cli.text import cli_console, shown, terminal_safe
from mcpdiag.cli.transfer import audit, opened
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.store.errors import StoreError

app = typer.Typer(help="Back up and restore the configuration (every secret sealed).", no_args_is_help=True)
console = cli_console()
errors = cli_console(stderr=True)

EnvFileOption = Annotated[
    Path, typer.Option("--env-file", help="The env file the deployment reads (applied there)")
]
RekeyOption = Annotated[
    str | None,
    typer.Option(
        "--rekey-secret",
        envvar="MCPDIAG_CONFIG_REKEY_SECRET",
        help="Re-seal the backup file with this secret (prefer the MCPDIAG_CONFIG_REKEY_SECRET variable)",
        show_default=False,
    ),
]


def _secret(env_file: Path) -> str:
    settings = BackupSettings(_env_file=env_file)
    value = settings.config_secret.get_secret_value() if settings.config_secret else None
    return check_secret(value)


def _settings(env_file: Path) -> tuple[CollectorSettings, ApiSettings]:
    try:
        return CollectorSettings(_env_file=env_file), ApiSettings(_env_file=env_file)
    except ValidationError as exc:
        problem = backups.setting_problem(exc)
        raise ConfigBackupError(f"the current configuration is invalid: {problem}") from None


def _record(
    collector: CollectorSettings, action: str, target: str, scope: dict[str, Any], count: int
) -> None:
    """Write the audit record into the deployment's store; refuse to go on if it cannot be recorded."""

    async def write() -> None:
        async with opened(collector.store_url, must_exist=False) as store:
            await audit(store, action, target=target, scope=scope, count=count)

    try:
        asyncio.run(write())
    except (TransferFailed, StoreError) as exc:
        raise ConfigBackupError(f"cannot record this in the audit log, so nothing was done: {exc}") from None


def _fail(exc: Exception) -> typer.Exit:
    errors.print(f"[red]error:[/red] {shown(str(exc))}", highlight=False)
    return typer.Exit(1)


@app.command("export")
def export_config(
    out: Annotated[Path, typer.Option("--out", "-o", help="The backup file to write (JSON)")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file")] = False,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Write the configuration (ACL, retention, ingest keys, JWT/JWKS, doctor allow-list) to a backup."""
    try:
        if out.exists() and not force:
            raise ConfigBackupError(f"{out} exists; pass --force to replace it")
        secret = _secret(env_file)
        collector, api = _settings(env_file)
        backup = backups.current(collector, api)
        document = backups.seal(backup, Sealer.new(secret))
        sealed = sum(
            1 for section in document["settings"].values() for v in section.values() if isinstance(v, dict)
        )
        _record(collector, "config_export", str(out), {"sealed": sealed}, len(backup.values))
        backups.write_document(document, out)
    except ConfigBackupError as exc:
        raise _fail(exc) from None
    servers = len((backup.acl or {}).get("servers", {}))
    no_acl = "" if backup.acl is not None else " (no ACL file)"
    console.print(
        f"Wrote the configuration to {shown(str(out))}: {len(backup.values):,} settings ({sealed:,} secret "
        f"values sealed with AES-256-GCM), ACL: {servers:,} server entries{shown(no_acl)}",
        highlight=False,
    )


@app.command("import")
def import_config(
    file: Annotated[Path, typer.Argument(help="A backup written by `mcpdiag config export`")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing")] = False,
    rekey_secret: RekeyOption = None,
    env_file: EnvFileOption = Path(".env"),
    acl_file: Annotated[
        Path | None, typer.Option("--acl-file", help="Where to write the ACL (default: MCPDIAG_ACL_FILE)")
    ] = None,
) -> None:
    """Restore a backup: show the changes, validate, record it in the audit log, apply to the env file."""
    try:
        new_secret = check_secret(rekey_secret, "--rekey-secret") if rekey_secret is not None else None
        wanted = backups.open_backup(backups.load_document(file), _secret(env_file))
        collector, api = _settings(env_file)
        found = backups.changes(backups.current(collector, api), wanted)
        _show(file, wanted, found)
        if dry_run:
            console.print(
                f"Dry run: {len(found):,} change(s) would be applied; nothing was written", highlight=False
            )
            return
        _record(collector, "config_import", str(file), {"changed": [c.name for c in found]}, len(found))
        written = backups.apply(wanted, env_file, acl_file or api.acl_file)
        if new_secret is not None:
            backups.write_document(backups.seal(wanted, Sealer.new(new_secret)), file)
    except ConfigBackupError as exc:
        raise _fail(exc) from None
    console.print(
        f"Applied {len(found):,} change(s) to {shown(', '.join(map(str, written)))}; restart mcpdiag to use "
        "them",
        highlight=False,
    )
    if new_secret is not None:
        console.print(f"Re-sealed {shown(str(file))} with the new secret", highlight=False)
    for name in sorted(set(wanted.values) | {backups.ACL_VARIABLE}):
        if name in os.environ:
            errors.print(
                f"[yellow]warning:[/yellow] {shown(name)} is set in the environment, which overrides "
                f"{shown(str(env_file))}"
            )


@app.command("rekey")
def rekey_config(
    file: Annotated[Path, typer.Argument(help="A backup written by `mcpdiag config export`")],
    rekey_secret: RekeyOption = None,
    env_file: EnvFileOption = Path(".env"),
) -> None:
    """Re-seal a backup for another environment's MCPDIAG_CONFIG_SECRET (opened with this one's)."""
    try:
        if rekey_secret is None:
            raise ConfigBackupError("--rekey-secret (or MCPDIAG_CONFIG_REKEY_SECRET) names the new secret")
        new_secret = check_secret(rekey_secret, "--rekey-secret")
        backup = backups.open_backup(backups.load_document(file), _secret(env_file))
        backups.write_document(backups.seal(backup, Sealer.new(new_secret)), file)
    except ConfigBackupError as exc:
        raise _fail(exc) from None
    console.print(f"Re-sealed {shown(str(file))}: it opens with the new secret only", highlight=False)


def _show(file: Path, wanted: backups.Backup, found: list[backups.Change]) -> None:
    console.print(
        Text(terminal_safe(f"backup of {wanted.source_host}, made {wanted.created_at}")), highlight=False
    )
    if not found:
        console.print("No changes: the configuration already matches the backup", highlight=False)
        return
    table = Table("setting", "now", "from the backup", title=Text(terminal_safe(f"Changes from {file.name}")))
    for change in found:
        table.add_row(*(Text(terminal_safe(cell)) for cell in (change.name, change.before, change.after)))
    console.print(table)
