"""`mcpdiag config export | import | rekey`: no secret in plaintext in any encoding, a faithful restore into
another environment's env file, a wrong key or a changed file said plainly, re-keying, validation, audit."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import stat
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcpdiag.api.settings import ApiSettings
from mcpdiag.cli import config_backup as backups
from mcpdiag.cli.app import app
from mcpdiag.cli.config_crypto import Sealer
from mcpdiag.cli.errors import ConfigBackupError
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.store import SQLiteEventStore

runner = CliRunner()


@dataclass
class Deployment:
    """A source environment (its env file and ACL) and a key; secrets made at run time."""

    root: Path
    env_file: Path
    key: str
    secrets: dict[str, str]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for name in list(__import__("os").environ):
        if name.startswith("MCPDIAG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    values = {
        "ingest_a": secrets.token_urlsafe(24),
        "ingest_b": secrets.token_urlsafe(24),
        "known": secrets.token_hex(20),
        "jwt": secrets.token_urlsafe(48),
        "cursor": secrets.token_urlsafe(32),
    }
    acl = tmp_path / "source-acl.yaml"
    acl.write_text("servers:\n  github:\n    users: [alice]\n    groups: [eng]\n  docs:\n    public: true\n")
    env = tmp_path / "source.env"
    env.write_text(
        "\n".join(
            [
                "# the source deployment",
                f"MCPDIAG_STORE_URL=sqlite:///{tmp_path / 'source.db'}",
                f"MCPDIAG_INGEST_KEYS={values['ingest_a']},{values['ingest_b']}",
                f"MCPDIAG_KNOWN_SECRETS={values['known']}",
                f"MCPDIAG_JWT_SECRET={values['jwt']}",
                f"MCPDIAG_CURSOR_SECRET={values['cursor']}",
                "MCPDIAG_RETENTION_DAYS=3",
                "MCPDIAG_JWT_ISSUER='https://issuer.example/realm a\"b#c'",
                "MCPDIAG_DOCTOR_ALLOWED_DOMAINS=mcp.example.com, *.tools.example",
                f"MCPDIAG_ACL_FILE={acl}",
            ]
        )
        + "\n"
    )
    key = secrets.token_urlsafe(24)
    monkeypatch.setenv("MCPDIAG_CONFIG_SECRET", key)
    yield Deployment(tmp_path, env, key, values)


def encodings(value: str) -> set[str]:
    raw = value.encode()
    return {
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        urllib.parse.quote(value, safe=""),
        json.dumps(value)[1:-1],
    }


def export(d: Deployment, name: str = "backup.json") -> Path:
    result = runner.invoke(app, ["config", "export", "--out", name, "--env-file", str(d.env_file)])
    assert result.exit_code == 0, result.output
    return d.root / name


def test_no_secret_is_written_in_plaintext_in_any_encoding(deployment: Deployment) -> None:
    path = export(deployment)
    text = path.read_text()
    for value in deployment.secrets.values():
        for form in encodings(value):
            assert form not in text
    document = json.loads(text)
    for key in ("MCPDIAG_INGEST_KEYS", "MCPDIAG_KNOWN_SECRETS"):
        assert list(document["settings"]["ingest"][key]) == ["aes256gcm"]
    assert list(document["settings"]["auth"]["MCPDIAG_JWT_SECRET"]) == ["aes256gcm"]
    assert document["settings"]["retention"]["MCPDIAG_RETENTION_DAYS"] == 3
    assert document["kdf"]["name"] == "scrypt" and len(base64.b64decode(document["kdf"]["salt"])) == 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_backup_restores_the_same_configuration_into_another_environment(deployment: Deployment) -> None:
    path = export(deployment)
    target = deployment.root / "target" / ".env"
    target.parent.mkdir()
    target.write_text(
        f"# kept\nMCPDIAG_STORE_URL=sqlite:///{deployment.root / 'target.db'}\nMCPDIAG_RETENTION_DAYS=9\n"
    )
    acl = deployment.root / "target" / "acl.json"
    result = runner.invoke(
        app, ["config", "import", str(path), "--env-file", str(target), "--acl-file", str(acl)]
    )
    assert result.exit_code == 0, result.output
    for value in deployment.secrets.values():
        assert value not in result.output
    source_c, source_a = (
        CollectorSettings(_env_file=deployment.env_file),
        ApiSettings(_env_file=deployment.env_file),
    )
    restored_c, restored_a = CollectorSettings(_env_file=target), ApiSettings(_env_file=target)
    for model, names in backups.SECTIONS.values():
        before, after = (source_c, restored_c) if model is CollectorSettings else (source_a, restored_a)
        for name in names:
            assert backups.plain(getattr(after, name)) == backups.plain(getattr(before, name)), name
    assert restored_a.acl_file == acl.resolve()
    assert backups.current(restored_c, restored_a).acl == backups.current(source_c, source_a).acl
    assert restored_c.store_url.endswith("target.db")  # a machine's own settings are left alone
    assert target.read_text().startswith("# kept\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    again = runner.invoke(app, ["config", "import", str(path), "--env-file", str(target), "--dry-run"])
    assert "No changes" in again.output


def test_a_dry_run_shows_what_changes_without_values_and_writes_nothing(deployment: Deployment) -> None:
    path = export(deployment)
    target = deployment.root / "other.env"
    target.write_text("MCPDIAG_RETENTION_DAYS=9\n")
    result = runner.invoke(app, ["config", "import", str(path), "--env-file", str(target), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "MCPDIAG_RETENTION_DAYS" in result.output and "9.0" in result.output and "3.0" in result.output
    assert "MCPDIAG_INGEST_KEYS" in result.output and "(secret, 2 values)" in result.output
    assert "ACL" in result.output and "nothing was written" in result.output
    for value in deployment.secrets.values():
        assert value not in result.output
    assert target.read_text() == "MCPDIAG_RETENTION_DAYS=9\n"


def test_a_wrong_key_is_a_clear_error(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    path = export(deployment)
    monkeypatch.setenv("MCPDIAG_CONFIG_SECRET", secrets.token_urlsafe(24))
    result = runner.invoke(app, ["config", "import", str(path), "--env-file", str(deployment.root / "t.env")])
    assert result.exit_code == 1
    assert "MCPDIAG_CONFIG_SECRET does not open this backup" in result.output
    assert not (deployment.root / "t.env").exists()


@pytest.mark.parametrize(
    ("secret", "words"), [(None, "MCPDIAG_CONFIG_SECRET is not set"), ("short", "at least 16 characters")]
)
def test_a_missing_or_weak_key_is_refused(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, secret: str | None, words: str
) -> None:
    monkeypatch.delenv("MCPDIAG_CONFIG_SECRET")
    if secret:
        monkeypatch.setenv("MCPDIAG_CONFIG_SECRET", secret)
    result = runner.invoke(
        app, ["config", "export", "--out", "b.json", "--env-file", str(deployment.env_file)]
    )
    assert result.exit_code == 1 and words in result.output
    assert not (deployment.root / "b.json").exists()


def _edit(path: Path, change: object) -> None:
    document = json.loads(path.read_text())
    assert callable(change)
    change(document)
    path.write_text(json.dumps(document))


def _flip(sealed: dict[str, str]) -> None:
    blob = bytearray(base64.b64decode(sealed["aes256gcm"]))
    blob[-1] ^= 1
    sealed["aes256gcm"] = base64.b64encode(bytes(blob)).decode()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["settings"]["retention"].update(MCPDIAG_RETENTION_DAYS=300), "MAC does not match"),
        (lambda d: d["acl"]["servers"]["github"]["users"].append("mallory"), "MAC does not match"),
        (lambda d: _flip(d["settings"]["auth"]["MCPDIAG_JWT_SECRET"]), "MAC does not match"),
        (lambda d: d.update(mac="AAAA"), "MAC does not match"),
        (lambda d: d["kdf"].update(n=2**30), "kdf.n: must be an integer from 1 to 1048576"),
        (lambda d: d["kdf"].update(n=1000), "power of two"),
        (lambda d: d.update(kind="mcpdiag-events"), "not a configuration backup"),
        (lambda d: d.update(version=2), "unknown backup version"),
    ],
)
def test_a_changed_file_is_refused_and_nothing_applied(
    deployment: Deployment, change: object, words: str
) -> None:
    path = export(deployment)
    _edit(path, change)
    target = deployment.root / "t.env"
    result = runner.invoke(app, ["config", "import", str(path), "--env-file", str(target)])
    assert result.exit_code == 1 and words in result.output, result.output
    assert not target.exists()


def test_sealed_values_are_bound_to_their_setting_and_a_moved_one_does_not_open() -> None:
    sealer = Sealer.new(secrets.token_urlsafe(24))
    sealed = sealer.seal(["k1"], "MCPDIAG_INGEST_KEYS")
    assert sealer.open(sealed, "MCPDIAG_INGEST_KEYS") == ["k1"]
    with pytest.raises(ConfigBackupError, match="MCPDIAG_JWT_SECRET: the sealed value does not open"):
        sealer.open(sealed, "MCPDIAG_JWT_SECRET")
    assert sealer.seal("x", "A") != sealer.seal("x", "A")  # a fresh nonce each time


def test_values_a_setting_refuses_are_named_even_in_a_genuine_backup(deployment: Deployment) -> None:
    backup = backups.current(
        CollectorSettings(_env_file=deployment.env_file), ApiSettings(_env_file=deployment.env_file)
    )
    backup.values["MCPDIAG_RETENTION_DAYS"] = 0
    backup.values["MCPDIAG_JWT_SECRET"] = "short"
    path = deployment.root / "genuine.json"
    backups.write_document(backups.seal(backup, Sealer.new(deployment.key)), path)
    result = runner.invoke(app, ["config", "import", str(path), "--env-file", str(deployment.root / "t.env")])
    assert result.exit_code == 1
    assert "MCPDIAG_RETENTION_DAYS: Input should be greater than 0" in result.output
    assert not (deployment.root / "t.env").exists()


def test_rekey_reseals_the_file_for_another_environments_secret(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = export(deployment)
    new = secrets.token_urlsafe(24)
    monkeypatch.setenv("MCPDIAG_CONFIG_REKEY_SECRET", new)
    result = runner.invoke(app, ["config", "rekey", str(path), "--env-file", str(deployment.env_file)])
    assert result.exit_code == 0, result.output
    for value in deployment.secrets.values():
        assert value not in path.read_text()
    dry = ["config", "import", str(path), "--dry-run", "--env-file", str(deployment.env_file)]
    assert "does not open this backup" in runner.invoke(app, dry).output
    monkeypatch.setenv("MCPDIAG_CONFIG_SECRET", new)
    monkeypatch.delenv("MCPDIAG_CONFIG_REKEY_SECRET")
    assert "No changes" in runner.invoke(app, dry).output
    # import --rekey-secret applies and re-seals in one step
    third = secrets.token_urlsafe(24)
    target = deployment.root / "t.env"
    result = runner.invoke(
        app, ["config", "import", str(path), "--env-file", str(target), "--rekey-secret", third]
    )
    assert result.exit_code == 0 and "Re-sealed" in result.output
    monkeypatch.setenv("MCPDIAG_CONFIG_SECRET", third)
    assert (
        "No changes"
        in runner.invoke(app, ["config", "import", str(path), "--dry-run", "--env-file", str(target)]).output
    )


def test_export_and_import_are_recorded_in_the_audit_log(deployment: Deployment) -> None:
    path = export(deployment)
    target = deployment.root / "t.env"
    target.write_text(f"MCPDIAG_STORE_URL=sqlite:///{deployment.root / 'target.db'}\n")
    assert runner.invoke(app, ["config", "import", str(path), "--env-file", str(target)]).exit_code == 0

    async def actions(db: Path) -> list[tuple[str, object]]:
        store = SQLiteEventStore(db)
        try:
            page = await store.audit_page()
            return [(str(r["action"]), r["scope"]) for r in page.items]
        finally:
            await store.close()

    assert [a for a, _ in asyncio.run(actions(deployment.root / "source.db"))] == ["config_export"]
    ((action, scope),) = asyncio.run(actions(deployment.root / "target.db"))
    assert action == "config_import" and "MCPDIAG_JWT_SECRET" in scope["changed"]  # type: ignore[index]
    assert deployment.secrets["jwt"] not in json.dumps(scope)


def test_env_file_values_round_trip_through_the_settings_reader(tmp_path: Path) -> None:
    wanted = {
        "MCPDIAG_JWT_ISSUER": 'https://issuer.example/realm a"b#c \\ $HOME',
        "MCPDIAG_DOCTOR_ALLOWED_DOMAINS": "mcp.example.com, *.tools.example",
        "MCPDIAG_JWT_AUDIENCE": "api://mcpdiag=1",
        "MCPDIAG_ROLES_CLAIM": "",
    }
    env = tmp_path / "x.env"
    env.write_text("".join(f"{k}={backups.env_value(v)}\n" for k, v in wanted.items()))
    settings = ApiSettings(_env_file=env)
    assert settings.jwt_issuer == wanted["MCPDIAG_JWT_ISSUER"]
    assert settings.doctor_allowed_domains == wanted["MCPDIAG_DOCTOR_ALLOWED_DOMAINS"]
    assert settings.jwt_audience == wanted["MCPDIAG_JWT_AUDIENCE"]
    assert settings.roles_claim == ""
