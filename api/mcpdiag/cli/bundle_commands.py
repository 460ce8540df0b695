"""`mcpdiag bundle decrypt | verify | redact` and `mcpdiag open`: a bundle's life after its export.

The export itself is `mcpdiag bundle [scope] [--recipient …]` (the group's callback, in `app.py`); these
helpers give it its encryption and HMAC key.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from mcpdiag.bundle.crypt import AGE_SUFFIX, DecryptionKeys, Encryption, decrypt_file, is_encrypted, opened
from mcpdiag.bundle.errors import BundleError, InvalidKeyError, InvalidPatternError
from mcpdiag.bundle.known_secrets import deployment_environ
from mcpdiag.bundle.patterns import PatternSet
from mcpdiag.bundle.redact import read_secret_file, redact_bundle
from mcpdiag.bundle.sanitize import collect_known_secrets
from mcpdiag.bundle.settings import BundleSettings, get_bundle_settings
from mcpdiag.bundle.verify import VerifyReport, verify_bundle
from mcpdiag.cli.errors import BadArgument, CliError
from mcpdiag.cli.text import cli_console, shown
from mcpdiag.collector.settings import get_collector_settings

console = cli_console()
errors = cli_console(stderr=True)

Identity = Annotated[
    list[Path] | None,
    typer.Option("--identity", "-i", help="age identity file (AGE-SECRET-KEY-1…) or SSH private key"),
]
PassphraseFile = Annotated[
    Path | None, typer.Option("--passphrase-file", help="File whose first line is the bundle's passphrase")
]


def _fail(exc: BaseException) -> typer.Exit:
    message = getattr(exc, "message", None) or str(exc)
    errors.print(f"[red]error:[/red] {shown(message)}", highlight=False)
    bad = isinstance(exc, BadArgument | InvalidKeyError | InvalidPatternError)
    return typer.Exit(2 if bad else getattr(exc, "exit_code", 1))


def _bundle_settings() -> BundleSettings:
    try:
        return get_bundle_settings()
    except ValueError as exc:
        raise BadArgument(str(exc).splitlines()[-1]) from None


def settings_snapshot() -> dict[str, Any]:
    """The effective settings of every component (raw: secrets are collected from it, then dropped)."""
    snapshot: dict[str, Any] = {"collector": dict(get_collector_settings())}
    try:
        from mcpdiag.api.settings import get_api_settings

        snapshot["api"] = dict(get_api_settings())
    except (ImportError, ValueError):
        # The API's settings are optional here: the CLI reads the store directly.
        snapshot["api"] = None
    try:
        snapshot["bundle"] = dict(get_bundle_settings())
    except ValueError:
        snapshot["bundle"] = None
    return snapshot


def hmac_key() -> bytes | None:
    """`MCPDIAG_BUNDLE_HMAC_KEY` as bytes (a bad value is a bad argument)."""
    return _bundle_settings().hmac_key


def encryption(recipients: list[str], passphrase_file: Path | None, *, no_encrypt: bool) -> Encryption | None:
    """What an export is encrypted to: the options, else MCPDIAG_BUNDLE_RECIPIENTS, else nothing."""
    try:
        if (recipients or passphrase_file) and no_encrypt:
            raise BadArgument("--no-encrypt: not with --recipient or --passphrase-file")
        if recipients and passphrase_file:
            raise BadArgument(
                "--passphrase-file: use either recipients or a passphrase, not both (as age does)"
            )
        if passphrase_file is not None:
            from mcpdiag.bundle.crypt import read_passphrase

            return Encryption.with_passphrase(read_passphrase(passphrase_file), "--passphrase-file")
        if recipients:
            return Encryption.to_recipients(recipients, "--recipient")
    except InvalidKeyError as exc:
        raise BadArgument(exc.message) from None
    return None if no_encrypt else _bundle_settings().encryption


def _keys(identity: list[Path] | None, passphrase_file: Path | None) -> DecryptionKeys:
    try:
        return DecryptionKeys.from_files(identity or (), passphrase_file)
    except InvalidKeyError as exc:
        raise BadArgument(exc.message) from None


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise BadArgument(f"{path}: no such file")
    return path


def decrypt(
    file: Annotated[Path, typer.Argument(help="The encrypted bundle (.zip.age)")],
    identity: Identity = None,
    passphrase_file: PassphraseFile = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the ZIP (default: beside it)")
    ] = None,
) -> None:
    """Decrypt an encrypted bundle into its ZIP (the same as `age -d`)."""
    try:
        src = _existing(file)
        keys = _keys(identity, passphrase_file)
        target = output or src.with_name(
            src.name.removesuffix(AGE_SUFFIX) if src.name.endswith(AGE_SUFFIX) else src.name + ".zip"
        )
        if target.exists():
            raise BadArgument(f"{target} exists already; pick another with --output")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".mcpdiag-decrypt-", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                decrypt_file(src, out, keys)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except (BundleError, CliError, OSError) as exc:
        raise _fail(exc) from None
    console.print(f"decrypted: {shown(str(target))} ({target.stat().st_size:,} bytes)", highlight=False)
    console.print(f"check it with: mcpdiag bundle verify {shown(str(target))}", highlight=False)


def _print_report(report: VerifyReport) -> None:
    for line in report.lines():
        style = "red" if "FAIL" in line[:8] or line.startswith("FAILED") else None
        console.print(shown(line), style=style, highlight=False)


def verify(
    file: Annotated[Path, typer.Argument(help="The bundle (.zip or .zip.age)")],
    identity: Identity = None,
    passphrase_file: PassphraseFile = None,
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="More values the leak scan looks for, one a line")
    ] = None,
    hmac_key_file: Annotated[
        Path | None,
        typer.Option("--hmac-key-file", help="The HMAC key (default MCPDIAG_BUNDLE_HMAC_KEY) to check"),
    ] = None,
) -> None:
    """Check every member against MANIFEST.json, the manifest itself, and scan for secrets (exit 0 or 1)."""
    try:
        src = _existing(file)
        keys = _keys(identity, passphrase_file)
        extra = read_secret_file(secret_file) if secret_file is not None else []
        key = _read_key(hmac_key_file) if hmac_key_file is not None else hmac_key()
        known = collect_known_secrets(settings_snapshot(), deployment_environ(), extra)
        with opened(src, keys) as plain:
            report = verify_bundle(
                plain,
                known_secrets=known,
                hmac_key=key,
                shown_name=src.name,
                encryption="age: decrypted and authenticated" if is_encrypted(src) else None,
            )
    except (BundleError, CliError, OSError) as exc:
        raise _fail(exc) from None
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _read_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()[:4096].strip()
    except OSError as exc:
        raise BadArgument(f"--hmac-key-file: cannot read {path}: {exc.strerror or exc}") from None
    if len(key) < 32:
        raise BadArgument("--hmac-key-file: the key must be at least 32 bytes")
    return key


def redact(
    file: Annotated[Path, typer.Argument(help="The bundle (.zip or .zip.age)")],
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="Values to remove, one a line")
    ] = None,
    pattern: Annotated[
        list[str] | None, typer.Option("--pattern", help="An RE2 regular expression to remove (repeatable)")
    ] = None,
    identity: Identity = None,
    passphrase_file: PassphraseFile = None,
    recipient: Annotated[
        list[str] | None, typer.Option("--recipient", "-r", help="Encrypt the new bundle to this recipient")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", "-o", help="Where to write it (default: beside it)")
    ] = None,
) -> None:
    """Write a new bundle with these values removed from every member, and scan it again."""
    try:
        src = _existing(file)
        if secret_file is None and not pattern:
            raise BadArgument("give --secret-file and/or --pattern: what should be removed?")
        values = read_secret_file(secret_file) if secret_file is not None else []
        patterns = PatternSet(pattern or [])
        keys = _keys(identity, passphrase_file)
        sealed = encryption(recipient or [], None, no_encrypt=not recipient) if recipient else None
        with opened(src, keys) as plain:
            result = redact_bundle(
                plain,
                output_dir or src.parent,
                secrets=values,
                patterns=patterns,
                encryption=sealed,
                hmac_key=hmac_key(),
                source_name=src.name,
            )
    except (BundleError, CliError, OSError) as exc:
        raise _fail(exc) from None
    console.print(f"bundle: {shown(str(result.path))} ({result.size:,} bytes)", highlight=False)
    console.print(f"removed: {result.total:,} values", highlight=False)
    for name, rules in result.by_file.items():
        listed = ", ".join(f"{rule} {n:,}" for rule, n in rules.items())
        console.print(f"  {shown(name)}: {shown(listed)}", highlight=False)
    for old, new in result.renamed.items():
        console.print(f"  renamed {shown(old)} → {shown(new)}", highlight=False)
    for index, hits in enumerate(result.pattern_hits, 1):
        console.print(f"  pattern {index:d}: {hits:,} matches", highlight=False)
    console.print("the leak scan of the new bundle found nothing", highlight=False)


def _say(text: str) -> None:
    console.print(shown(text), highlight=False)


def open_command(
    file: Annotated[Path, typer.Argument(help="The bundle (.zip or .zip.age)")],
    identity: Identity = None,
    passphrase_file: PassphraseFile = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one)", min=0, max=65535)] = 0,
) -> None:
    """Serve a bundle in mcpdiag's own UI, read-only, on loopback, until Ctrl-C."""
    from mcpdiag.cli.viewing import serve_bundle

    try:
        src = _existing(file)
        keys = _keys(identity, passphrase_file)
        asyncio.run(serve_bundle(src, keys, port=port, say=_say))
    except (BundleError, CliError, OSError) as exc:
        raise _fail(exc) from None


def register(group: typer.Typer) -> None:
    """Add `decrypt`, `verify` and `redact` to the `bundle` group."""
    group.command("decrypt")(decrypt)
    group.command("verify")(verify)
    group.command("redact")(redact)
