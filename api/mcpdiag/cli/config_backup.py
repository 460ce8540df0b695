"""A deployment's configuration as one JSON backup: collected from the settings, compared, applied.

What a backup holds (by section): retention, ingest (keys, known secrets, server bounds), auth (JWT secret,
JWKS, issuer, audience, claims), doctor (allow-list, bounds), cursors (their secret) and the ACL file's
content. Not the store URL, the spool or other paths of one machine: those differ between environments.
Settings are keyed by their `MCPDIAG_*` variable; every secret value (a `SecretStr` setting, or one kept out
of `repr`) is sealed (`config_crypto`), and the whole document carries a MAC.

Applying writes the settings into an env file (`.env` by default, the file every component reads; mode
0600, replaced atomically, other lines kept) and the ACL into its file.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from mcpdiag.api.acl import AclFileError, AclFileModel, read_acl_file
from mcpdiag.api.settings import ApiSettings
from mcpdiag.cli.config_crypto import Sealer, is_sealed
from mcpdiag.cli.errors import ConfigBackupError
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.emitters import format_ts

KIND = "mcpdiag-config"
VERSION = 1
MAX_BACKUP_BYTES = 10 * 1024 * 1024
PREFIX = "MCPDIAG_"
SECTIONS: dict[str, tuple[type[BaseSettings], tuple[str, ...]]] = {
    "retention": (CollectorSettings, ("retention_error_days", "retention_days")),
    "ingest": (CollectorSettings, ("ingest_keys", "known_secrets", "max_servers_per_key", "max_servers")),
    "auth": (
        ApiSettings,
        (
            "jwt_secret",
            "jwks_url",
            "jwks_cache_s",
            "jwks_refresh_cooldown_s",
            "jwt_issuer",
            "jwt_audience",
            "jwt_leeway_s",
            "roles_claim",
            "groups_claim",
            "servers_claim",
        ),
    ),
    "doctor": (
        ApiSettings,
        (
            "doctor_allow",
            "doctor_allow_private",
            "doctor_allowed_domains",
            "doctor_rate_per_minute",
            "doctor_timeout_s",
        ),
    ),
    "cursors": (CollectorSettings, ("cursor_secret",)),
}
ACL_VARIABLE = "MCPDIAG_ACL_FILE"


def variable(name: str) -> str:
    """The environment variable of a setting."""
    return PREFIX + name.upper()


def setting_problem(exc: ValidationError) -> str:
    """A settings class's first validation error as its user set it: `MCPDIAG_RETENTION_DAYS: Input should be
    less than or equal to 3650` (pydantic's own names the field and adds a link)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = variable(str(error["loc"][0])) if error["loc"] else "settings"
    return f"{where}: {error['msg']}"


def is_secret(model: type[BaseSettings], name: str) -> bool:
    """Whether a setting holds a secret: a `SecretStr`, or a value the settings keep out of `repr`."""
    info = model.model_fields[name]
    return info.repr is False or "SecretStr" in str(info.annotation)


def plain(value: Any) -> Any:
    """A setting's value as JSON: secrets unwrapped, sets as sorted lists, paths as text."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class Backup:
    """An opened backup: every setting's plain value by variable, the ACL, and where it came from."""

    values: dict[str, Any]
    acl: dict[str, Any] | None
    created_at: str
    source_host: str


def current(collector: CollectorSettings, api: ApiSettings) -> Backup:
    """The configuration in effect now (its ACL read from the ACL file, if one is set)."""
    values: dict[str, Any] = {}
    for model, names in SECTIONS.values():
        settings = collector if model is CollectorSettings else api
        for name in names:
            values[variable(name)] = plain(getattr(settings, name))
    acl = None
    if api.acl_file is not None:
        try:
            acl = read_acl_file(api.acl_file).model_dump()
        except AclFileError as exc:
            raise ConfigBackupError(str(exc)) from None
    return Backup(values, acl, format_ts(datetime.now(UTC)), socket.gethostname())


def seal(backup: Backup, sealer: Sealer) -> dict[str, Any]:
    """The backup document: secrets sealed, a key check and a MAC over everything."""
    settings: dict[str, dict[str, Any]] = {}
    for section, (model, names) in SECTIONS.items():
        entries: dict[str, Any] = {}
        for name in names:
            key = variable(name)
            value = backup.values[key]
            entries[key] = (
                sealer.seal(value, key) if is_secret(model, name) and value not in (None, []) else value
            )
        settings[section] = entries
    document: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "createdAt": backup.created_at,
        "sourceHost": backup.source_host,
        "kdf": sealer.kdf,
        "keyCheck": sealer.key_check(),
        "settings": settings,
        "acl": backup.acl,
    }
    document["mac"] = sealer.mac(document)
    return document


def load_document(path: Path) -> dict[str, Any]:
    """The JSON of a backup file, bounded; `ConfigBackupError` if it is not one."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BACKUP_BYTES + 1)
    except OSError as exc:
        raise ConfigBackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BACKUP_BYTES:
        raise ConfigBackupError(
            f"{path} is larger than {MAX_BACKUP_BYTES:,} bytes: not a configuration backup"
        )
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise ConfigBackupError(f"{path} is not JSON: not a configuration backup") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise ConfigBackupError(f"{path} is not a configuration backup (kind {KIND!r})")
    if document.get("version") != VERSION:
        raise ConfigBackupError(
            f"{path}: unknown backup version {document.get('version')!r} (this one reads 1)"
        )
    return document


def open_backup(document: dict[str, Any], secret: str) -> Backup:
    """The plain backup of a document: right key, unchanged, every setting known and valid."""
    sealer = Sealer.derive(secret, document.get("kdf"))
    sealer.verify_key(document.get("keyCheck"))
    sealer.verify_mac(document)
    settings = document.get("settings")
    if not isinstance(settings, dict):
        raise ConfigBackupError("settings: expected an object of sections")
    values: dict[str, Any] = {}
    for section, (model, names) in SECTIONS.items():
        entries = settings.get(section)
        if not isinstance(entries, dict):
            raise ConfigBackupError(f"settings.{section}: missing")
        unknown = set(entries) - {variable(n) for n in names}
        if unknown:
            raise ConfigBackupError(f"settings.{section}: unknown setting {sorted(unknown)[0]}")
        for name in names:
            key = variable(name)
            value = entries.get(key)
            if is_sealed(value):
                value = sealer.open(value, key)
            elif is_secret(model, name) and value not in (None, []):
                raise ConfigBackupError(f"{key}: a secret must be sealed, and this one is not")
            values[key] = value
    validate(values)
    acl = document.get("acl")
    if acl is not None:
        try:
            acl = AclFileModel.model_validate(acl).model_dump()
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            raise ConfigBackupError(f"acl.{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    return Backup(values, acl, str(document.get("createdAt", "")), str(document.get("sourceHost", "")))


def validate(values: Mapping[str, Any]) -> None:
    """`ConfigBackupError` naming the variable unless every value is one its setting accepts."""
    for model in (CollectorSettings, ApiSettings):
        given = {}
        for section_model, names in SECTIONS.values():
            if section_model is model:
                given.update({name: values[variable(name)] for name in names})
        try:
            model.model_validate({k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            where = variable(str(error["loc"][0])) if error["loc"] else model.__name__
            raise ConfigBackupError(f"{where}: {error['msg'].removeprefix('Value error, ')}") from None


@dataclass(frozen=True, slots=True)
class Change:
    """One setting that a backup would change (secret values are never shown)."""

    name: str
    before: str
    after: str


def changes(now: Backup, wanted: Backup) -> list[Change]:
    """What applying `wanted` changes compared with `now`."""
    found: list[Change] = []
    for model, names in SECTIONS.values():
        for name in names:
            key = variable(name)
            old, new = now.values.get(key), wanted.values.get(key)
            if old == new:
                continue
            if is_secret(model, name):
                found.append(Change(key, _secret_state(old), _secret_state(new)))
            else:
                found.append(Change(key, _shown(old), _shown(new)))
    if (now.acl or None) != (wanted.acl or None):
        before = len((now.acl or {}).get("servers", {}))
        after = len((wanted.acl or {}).get("servers", {}))
        found.append(Change("ACL", f"{before} server entries", f"{after} server entries"))
    return found


def _secret_state(value: Any) -> str:
    if value in (None, [], ""):
        return "(unset)"
    return f"(secret, {len(value)} values)" if isinstance(value, list) else "(secret)"


def _shown(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def env_value(value: Any) -> str:
    """A value as an env file line's right-hand side (quoted when it needs to be)."""
    if isinstance(value, list):
        text = ",".join(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if text and all(c.isalnum() or c in "-_.:/,@+=*" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def apply(wanted: Backup, env_file: Path, acl_file: Path | None) -> list[Path]:
    """Write `wanted` into `env_file` (other lines kept) and its ACL into `acl_file`; the files written."""
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.exists() else []
    updates: dict[str, str | None] = {
        key: None if value is None else env_value(value) for key, value in wanted.values.items()
    }
    written = [env_file]
    if wanted.acl is None:
        updates[ACL_VARIABLE] = None
    else:
        target = acl_file or env_file.with_name("acl.json")
        _write_private(target, json.dumps(wanted.acl, indent=2) + "\n")
        updates[ACL_VARIABLE] = env_value(str(target.resolve()))
        written.append(target)
    kept = [line for line in lines if line.split("=", 1)[0].strip().removeprefix("export ") not in updates]
    added = [f"{key}={value}" for key, value in updates.items() if value is not None]
    _write_private(env_file, "\n".join([*kept, *added]) + "\n")
    return written


def _write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, 0o600)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_document(document: dict[str, Any], path: Path) -> None:
    """Write a backup document (it holds no plaintext secret; still, only its owner reads it)."""
    _write_private(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
