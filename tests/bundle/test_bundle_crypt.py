"""Encrypted bundles: round trips through mcpdiag, pyrage (Rust age) and Debian's `age` (Go), both ways, for
recipients and passphrases; the plaintext never in a file while exporting; refusals and tampering."""

from __future__ import annotations

import io
import os
import pty
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from mcpdiag.bundle.crypt import (
    DecryptionKeys,
    Encryption,
    decrypt_file,
    is_encrypted,
    needs_passphrase,
    opened,
)
from mcpdiag.bundle.errors import BundleScanError, DecryptError, InvalidKeyError
from mcpdiag.bundle.streamscan import HELPER_MODULE
from mcpdiag.bundle.verify import verify_bundle
from mcpdiag.store import SQLiteEventStore
from tests.api.support import T0
from tests.bundle.test_bundle import Sentinels, assert_no_sentinel, export, members
from tests.factories import make_event
from tests.forking import CHILD_PATIENCE_S

AGE = shutil.which("age")


def kill_stream_helpers() -> int:
    """SIGKILL this process's running stream scan helpers, found in /proc as an operator would; how many."""
    killed = 0
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == os.getpid() and HELPER_MODULE in cmdline and state != "Z":
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
    return killed


needs_age = pytest.mark.skipif(AGE is None, reason="Debian's age is not installed (make test installs it)")


def age_run(args: list[str], passphrase: str | None = None) -> tuple[int, str]:
    """Debian's `age` on a pseudo-terminal (it reads passphrases from /dev/tty only): exit code, output.

    Started by `setsid --ctty` (a session leader whose controlling terminal is the pty), not by forking
    this process: a Python child of a threaded process can hang for good under libfaketime (see
    `tests.forking`), an exec'd one cannot. Bounded: a run that stops answering is killed and fails."""
    assert AGE is not None
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        ["setsid", "--ctty", AGE, *args], stdin=follower, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    output = b""
    prompts = 0
    deadline = time.monotonic() + CHILD_PATIENCE_S
    try:
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"age did not finish within {CHILD_PATIENCE_S:g} s: {output!r}")
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            # `age -p` asks twice (and confirms); `age -d` once.
            while passphrase is not None and output.count(b"passphrase") > prompts:
                prompts += 1
                os.write(leader, passphrase.encode() + b"\n")
        code = process.wait(timeout=CHILD_PATIENCE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, output.decode(errors="replace")


@pytest.fixture
async def filled(store: SQLiteEventStore) -> SQLiteEventStore:
    """The sentinel events plus 3,000 ordinary ones (a ZIP of several chunks of the age stream)."""
    await store.append(Sentinels().events())
    await store.append([make_event(server="bulk", ts=T0 + timedelta(seconds=i)) for i in range(3000)])
    return store


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_recipients_round_trip_through_every_implementation(
    filled: SQLiteEventStore, tmp_path: Path, helper: bool
) -> None:
    """Encrypted to two recipients: each identity opens it with mcpdiag and with pyrage, the key file with
    Debian's age too; all give the same ZIP, which verifies. Nothing but the .age file is left."""
    alice, bob = x25519.Identity.generate(), x25519.Identity.generate()
    sealed = Encryption.to_recipients([str(alice.to_public()), str(bob.to_public())])
    result = await export(filled, tmp_path / "out", encryption=sealed, scan_helper=helper)
    assert result.filename.endswith(".zip.age") and result.encryption == "age, 2 recipients"
    assert result.scanned_by == ("helper" if helper else "exporter")
    assert [p.name for p in (tmp_path / "out").iterdir()] == [result.filename]
    assert is_encrypted(result.path) and not needs_passphrase(result.path)
    ciphertext = result.path.read_bytes()
    assert b"PK\x03\x04" not in ciphertext[:64] and ciphertext.startswith(b"age-encryption.org/v1\n")
    opened_by = {}
    for name, identity in (("alice", alice), ("bob", bob)):
        out = io.BytesIO()
        decrypt_file(result.path, out, DecryptionKeys((identity,)))
        opened_by[name] = out.getvalue()
        assert pyrage.decrypt(ciphertext, [identity]) == opened_by[name]
    assert opened_by["alice"] == opened_by["bob"]
    plain = tmp_path / "plain.zip"
    plain.write_bytes(opened_by["alice"])
    assert verify_bundle(plain).ok
    assert_no_sentinel(members(plain), Sentinels())  # fresh sentinels: none of them can be in it
    if AGE is not None:
        key = tmp_path / "key.txt"
        key.write_text(f"# test identity\n{bob}\n")
        code, output = age_run(["-d", "-i", str(key), "-o", str(tmp_path / "age.zip"), str(result.path)])
        assert code == 0, output
        assert (tmp_path / "age.zip").read_bytes() == opened_by["alice"]


@needs_age
def test_a_bundle_age_encrypted_to_a_key_file_opens_with_mcpdiag(tmp_path: Path) -> None:
    """The other way: a file Debian's age encrypted to an age-keygen key, opened by `decrypt_file`."""
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    public = next(line.split(": ")[1] for line in key.read_text().splitlines() if "public key" in line)
    plain = tmp_path / "bundle.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("README.md", "hello\n" * 10_000)
    sealed = tmp_path / "bundle.zip.age"
    subprocess.run([AGE or "age", "-r", public, "-o", str(sealed), str(plain)], check=True)
    keys = DecryptionKeys.from_files([key])
    with opened(sealed, keys) as copy:
        assert copy.read_bytes() == plain.read_bytes()
        folder = copy.parent
    assert not folder.exists()  # the decrypted copy is gone with its private directory


async def test_passphrase_round_trip_through_every_implementation(
    filled: SQLiteEventStore, tmp_path: Path
) -> None:
    """A passphrase-encrypted bundle (scrypt stanza and STREAM written by mcpdiag) opens with pyrage, with
    `mcpdiag bundle decrypt`'s code, and with Debian's age at its passphrase prompt."""
    passphrase = "pp-" + secrets.token_urlsafe(12)
    result = await export(filled, tmp_path / "out", encryption=Encryption.with_passphrase(passphrase))
    assert result.encryption == "age, passphrase" and needs_passphrase(result.path)
    ciphertext = result.path.read_bytes()
    assert passphrase.encode() not in ciphertext
    plain = pyrage.passphrase.decrypt(ciphertext, passphrase)
    out = io.BytesIO()
    decrypt_file(result.path, out, DecryptionKeys(passphrase=passphrase))
    assert out.getvalue() == plain
    with pytest.raises(DecryptError, match="passphrase does not open"):
        decrypt_file(result.path, io.BytesIO(), DecryptionKeys(passphrase=passphrase + "x"))
    with pytest.raises(DecryptError, match="encrypted with a passphrase"):
        decrypt_file(result.path, io.BytesIO(), DecryptionKeys((x25519.Identity.generate(),)))
    if AGE is not None:
        code, output = age_run(["-d", "-o", str(tmp_path / "age.zip"), str(result.path)], passphrase)
        assert code == 0, output
        assert (tmp_path / "age.zip").read_bytes() == plain


@needs_age
def test_a_file_age_encrypted_with_a_passphrase_opens_with_mcpdiag(tmp_path: Path) -> None:
    passphrase = "pp-" + secrets.token_urlsafe(12)
    plain = tmp_path / "bundle.zip"
    plain.write_bytes(os.urandom(200_000))
    sealed = tmp_path / "bundle.zip.age"
    code, output = age_run(["-p", "-o", str(sealed), str(plain)], passphrase)
    assert code == 0, output
    out = io.BytesIO()
    decrypt_file(sealed, out, DecryptionKeys(passphrase=passphrase))
    assert out.getvalue() == plain.read_bytes()


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 131072, 200_001])
def test_the_passphrase_stream_is_age_at_every_chunk_boundary(size: int) -> None:
    """The STREAM payload around its 64 KiB chunks (empty, exactly one or two chunks, one byte over)."""
    data = os.urandom(size)
    out = io.BytesIO()
    with Encryption.with_passphrase("a long passphrase").writer(out) as writer:
        for start in range(0, size, 7919):
            writer.write(data[start : start + 7919])
    assert pyrage.passphrase.decrypt(out.getvalue(), "a long passphrase") == data


def test_a_changed_byte_of_an_encrypted_bundle_fails_to_decrypt(tmp_path: Path) -> None:
    """age authenticates every chunk: a flipped byte anywhere after the header is a DecryptError."""
    identity = x25519.Identity.generate()
    out = io.BytesIO()
    with Encryption.to_recipients([str(identity.to_public())]).writer(out) as writer:
        writer.write(os.urandom(150_000))
    for position in (len(out.getvalue()) // 2, len(out.getvalue()) - 1):
        changed = bytearray(out.getvalue())
        changed[position] ^= 0x01
        path = tmp_path / f"changed-{position}.zip.age"
        path.write_bytes(bytes(changed))
        with pytest.raises(DecryptError, match="changed after it was encrypted"):
            decrypt_file(path, io.BytesIO(), DecryptionKeys((identity,)))


@pytest.mark.parametrize(
    ("recipients", "message"),
    [
        ([], "at least one recipient"),
        (["age1notarecipient"], "not an age X25519 recipient"),
        (["ssh-ed25519 AAAAnotakey"], "not an age X25519 recipient"),
        (["age1yubikey1qwertyuiop"], "plugin recipients are not supported"),
        (["-----BEGIN AGE"], "not an age X25519 recipient"),
    ],
)
def test_bad_recipients_are_refused_by_name(recipients: list[str], message: str) -> None:
    with pytest.raises(InvalidKeyError, match=message) as caught:
        Encryption.to_recipients(recipients, "--recipient")
    assert caught.value.field == "--recipient" and caught.value.status == 400


def test_short_or_multiline_passphrases_are_refused() -> None:
    for bad in ("short", "a\x00long enough", "x" * 5000):
        with pytest.raises(InvalidKeyError):
            Encryption.with_passphrase(bad)


class DiskWatch:
    """Reads every file under some folders, again and again, while an export runs: any file whose bytes
    hold the ZIP signature or a planted marker is recorded (what an attacker with disk access would see)."""

    def __init__(self, folders: list[Path], markers: list[bytes]) -> None:
        self.folders = folders
        self.markers = markers
        self.seen: set[str] = set()
        self.plaintext: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for folder in self.folders:
                for path in folder.rglob("*"):
                    try:
                        data = path.read_bytes() if path.is_file() else b""
                    except OSError:
                        continue
                    self.seen.add(path.name)
                    if b"PK\x03\x04" in data or any(m in data for m in self.markers):
                        self.plaintext.append(path.name)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary files of this test (and its helper processes) in a folder it watches."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_the_plaintext_zip_never_touches_the_disk(
    store: SQLiteEventStore, tmp_path: Path, private_tmp: Path, helper: bool
) -> None:
    """While an encrypted export of 20,000 events runs, every file in the output folder and the temporary
    folder is read over and over: none ever holds a ZIP signature or the marker planted in every event."""
    marker = f"marker-{secrets.token_hex(8)}"
    await store.append(
        [
            make_event(server="bulk", ts=T0 + timedelta(milliseconds=40 * i), detail=f"{marker} {i}")
            for i in range(20_000)
        ]
    )
    out = tmp_path / "out"
    identity = x25519.Identity.generate()
    with DiskWatch([out.parent / "out", private_tmp], [marker.encode()]) as watch:
        out.mkdir()
        result = await export(
            store, out, encryption=Encryption.to_recipients([str(identity.to_public())]), scan_helper=helper
        )
    assert watch.plaintext == []
    assert any(name.endswith(".zip.age.partial") for name in watch.seen), watch.seen  # the watch saw it grow
    plain = io.BytesIO()
    decrypt_file(result.path, plain, DecryptionKeys((identity,)))
    with zipfile.ZipFile(plain) as zf:
        assert marker in zf.read("events/bulk.jsonl").decode()


@pytest.mark.parametrize("mode", ["scan-in-process", "scan-helper", "scan-helper-killed"])
async def test_a_secret_registered_during_an_encrypted_export_refuses_it(
    store: SQLiteEventStore, tmp_path: Path, mode: str
) -> None:
    """What was encrypted cannot be scanned again for a secret registered meanwhile: the export is refused
    and no file stays; a helper killed part-way refuses it too (what it was sent is gone)."""
    late = f"late{secrets.token_hex(12)}"
    await store.append([make_event(ts=T0, detail=f"upstream said {late}")])
    environ: dict[str, str] = {}

    def register(phase: str, done: int) -> None:
        if phase == "events" and mode == "scan-helper-killed":
            assert kill_stream_helpers() == 1
        if phase == "scan" and mode != "scan-helper-killed":
            environ["MCPDIAG_PARTNER_TOKEN"] = late

    out = tmp_path / "out"
    sealed = Encryption.to_recipients([str(x25519.Identity.generate().to_public())])
    with pytest.raises(BundleScanError) as caught:
        await export(
            store,
            out,
            environ=environ,
            progress=register,
            encryption=sealed,
            scan_helper=mode != "scan-in-process",
        )
    assert late not in str(caught.value) and "no bundle was kept" in caught.value.message
    assert list(out.iterdir()) == []
