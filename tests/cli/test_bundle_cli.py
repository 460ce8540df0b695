"""`mcpdiag bundle`'s encryption options: --recipient, --passphrase-file, MCPDIAG_BUNDLE_RECIPIENTS and
--no-encrypt, and the clear errors of bad ones (exit 2)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519
from typer.testing import CliRunner

from mcpdiag.bundle.crypt import DecryptionKeys, decrypt_file
from mcpdiag.bundle.settings import get_bundle_settings
from mcpdiag.cli.app import app
from mcpdiag.collector.settings import get_collector_settings
from mcpdiag.store import SQLiteEventStore
from tests.factories import make_event

runner = CliRunner()


@pytest.fixture
def store_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "events.db"

    async def seed() -> None:
        store = SQLiteEventStore(db)
        await store.ensure_schema()
        await store.append([make_event() for _ in range(20)])
        await store.close()

    asyncio.run(seed())
    monkeypatch.setenv("MCPDIAG_STORE_URL", f"sqlite:///{db}")
    monkeypatch.delenv("MCPDIAG_BUNDLE_RECIPIENTS", raising=False)
    # The CLI reads MCPDIAG_STORE_URL through the cached collector settings: an earlier test's store must
    # not answer for this one's.
    get_bundle_settings.cache_clear()
    get_collector_settings.cache_clear()
    out = tmp_path / "out"
    out.mkdir()
    yield out
    get_bundle_settings.cache_clear()
    get_collector_settings.cache_clear()


def test_recipient_and_passphrase_options(store_env: Path, tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    answer = runner.invoke(app, ["bundle", "-o", str(store_env), "-r", str(identity.to_public())])
    assert answer.exit_code == 0, answer.output
    assert "encrypted: age, 1 recipient" in answer.output
    (sealed,) = store_env.glob("*.zip.age")
    plain = io.BytesIO()
    decrypt_file(sealed, plain, DecryptionKeys((identity,)))
    assert plain.getvalue()[:4] == b"PK\x03\x04"
    passfile = tmp_path / "pass.txt"
    passfile.write_text("a passphrase of mine\n")
    answer = runner.invoke(app, ["bundle", "-o", str(tmp_path), "--passphrase-file", str(passfile)])
    assert answer.exit_code == 0, answer.output
    (other,) = tmp_path.glob("*.zip.age")
    assert pyrage.passphrase.decrypt(other.read_bytes(), "a passphrase of mine")[:4] == b"PK\x03\x04"


def test_configured_recipients_are_the_default_and_no_encrypt_opts_out(
    store_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPDIAG_BUNDLE_RECIPIENTS", str(x25519.Identity.generate().to_public()))
    get_bundle_settings.cache_clear()
    assert runner.invoke(app, ["bundle", "-o", str(store_env)]).exit_code == 0
    assert len(list(store_env.glob("*.zip.age"))) == 1
    assert runner.invoke(app, ["bundle", "-o", str(store_env), "--no-encrypt"]).exit_code == 0
    assert len(list(store_env.glob("*.zip"))) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-r", "age1wrong"], "--recipient: 'age1wrong' is not an age X25519 recipient"),
        (["-r", "age1x", "--passphrase-file", "p"], "use either recipients or a passphrase"),
        (["-r", "age1x", "--no-encrypt"], "--no-encrypt: not with --recipient"),
        (["--passphrase-file", "missing.txt"], "--passphrase-file: cannot read missing.txt"),
    ],
)
def test_bad_encryption_options_exit_2(store_env: Path, args: list[str], message: str) -> None:
    answer = runner.invoke(app, ["bundle", "-o", str(store_env), *args])
    assert answer.exit_code == 2 and message in answer.output, answer.output
    assert list(store_env.iterdir()) == []


def test_a_short_passphrase_file_exits_2(store_env: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_text("tiny\n")
    answer = runner.invoke(app, ["bundle", "-o", str(store_env), "--passphrase-file", str(short)])
    assert answer.exit_code == 2 and "at least 8 characters" in answer.output
