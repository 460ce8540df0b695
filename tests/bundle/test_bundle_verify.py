"""`verify_bundle` and `mcpdiag bundle verify`: an intact bundle passes, encrypted or not; a changed, added
or missing member, a changed manifest (with or without its trailer), a wrong HMAC key and a planted secret
each fail with a line that names them."""

from __future__ import annotations

import hashlib
import json
import secrets
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pyrage import x25519
from typer.testing import CliRunner

from mcpdiag.bundle.crypt import Encryption
from mcpdiag.bundle.integrity import key_id, trailer_members
from mcpdiag.bundle.verify import verify_bundle
from mcpdiag.cli.app import app
from mcpdiag.store import SQLiteEventStore
from tests.api.support import T0
from tests.bundle.test_bundle import export
from tests.factories import make_event

KEY = secrets.token_bytes(32)


@pytest.fixture
async def bundle(store: SQLiteEventStore, tmp_path: Path) -> Path:
    await store.append(
        [make_event(server=s, ts=T0 + timedelta(minutes=i)) for i, s in enumerate(["a", "b"] * 50)]
    )
    return (await export(store, tmp_path / "out", hmac_key=KEY)).path


def rewrite(
    src: Path, dst: Path, change: Callable[[str, bytes], bytes | None], add: dict[str, bytes] | None = None
) -> Path:
    """A copy of the ZIP `src` with each member's bytes through `change` (None drops it), plus `add`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def failed(report_lines: list[str]) -> list[str]:
    return [line for line in report_lines if line.startswith("  FAIL")]


def test_an_intact_bundle_passes_every_check(bundle: Path) -> None:
    report = verify_bundle(bundle, hmac_key=KEY)
    assert report.ok, report.lines()
    names = [c.name for c in report.checks]
    assert names == [
        "archive",
        "manifest",
        "manifest integrity",
        "manifest HMAC",
        "members",
        "events",
        "leak scan",
    ]
    assert report.lines()[-1].startswith("verified:")
    assert f"HMAC-SHA256 verifies with key {key_id(KEY)}" in "\n".join(report.lines())
    # Without the key the HMAC is noted, not failed: the SHA-256 trailer still vouches for the manifest.
    assert verify_bundle(bundle).ok


def test_a_changed_member_is_named(bundle: Path, tmp_path: Path) -> None:
    def change(name: str, data: bytes) -> bytes:
        return data.replace(b'"server":"a"', b'"server":"z"', 1) if name == "events/a.jsonl" else data

    report = verify_bundle(rewrite(bundle, tmp_path / "x.zip", change))
    assert not report.ok
    assert failed(report.lines()) == [
        "  FAIL  events/a.jsonl: SHA-256 differs from MANIFEST.json: changed after export",
        "  FAIL  members: 8 of 9 files match their SHA-256",
    ]


def test_added_and_missing_members_and_a_wrong_event_count(bundle: Path, tmp_path: Path) -> None:
    def drop(name: str, data: bytes) -> bytes | None:
        return None if name == "events/b.jsonl" else data

    report = verify_bundle(rewrite(bundle, tmp_path / "x.zip", drop, {"events/c.jsonl": b"{}\n"}))
    lines = "\n".join(failed(report.lines()))
    assert "events/b.jsonl: listed in MANIFEST.json but missing from the bundle" in lines
    assert "events/c.jsonl: not listed in MANIFEST.json: added after export" in lines
    assert "events: 51 event lines, not 100" in lines


def test_a_changed_manifest_fails_its_trailer(bundle: Path, tmp_path: Path) -> None:
    """Changing MANIFEST.json alone breaks MANIFEST.sha256; recomputing that too is caught by the HMAC,
    whose key the editor does not have."""

    def edit(data: bytes) -> bytes:
        doc = json.loads(data)
        doc["hostname"] = "somewhere-else"
        return (json.dumps(doc, indent=2) + "\n").encode()

    alone = rewrite(bundle, tmp_path / "alone.zip", lambda n, d: edit(d) if n == "MANIFEST.json" else d)
    report = verify_bundle(alone, hmac_key=KEY)
    text = "\n".join(failed(report.lines()))
    assert "manifest integrity: MANIFEST.json was changed after export: its SHA-256 differs" in text
    assert "manifest HMAC: MANIFEST.json was changed after export: its HMAC does not verify" in text

    def both(name: str, data: bytes) -> bytes:
        if name == "MANIFEST.json":
            return edit(data)
        if name == "MANIFEST.sha256":
            manifest = edit(zipfile.ZipFile(bundle).read("MANIFEST.json"))
            return f"{hashlib.sha256(manifest).hexdigest()}  MANIFEST.json\n".encode()
        return data

    forged = rewrite(bundle, tmp_path / "forged.zip", both)
    assert verify_bundle(forged).ok  # without a key a consistent rewrite cannot be told apart...
    report = verify_bundle(forged, hmac_key=KEY)  # ...with it, it can
    assert [c.name for c in report.problems] == ["manifest HMAC"]
    other = secrets.token_bytes(32)
    report = verify_bundle(bundle, hmac_key=other)
    assert f"made with another key ({key_id(KEY)}, not {key_id(other)})" in report.problems[0].detail


def test_a_bundle_without_its_trailer_or_manifest(bundle: Path, tmp_path: Path) -> None:
    untrailed = rewrite(
        bundle,
        tmp_path / "t.zip",
        lambda n, d: None if n.startswith("MANIFEST.") and n != "MANIFEST.json" else d,
    )
    report = verify_bundle(untrailed)
    assert [c.name for c in report.problems] == ["manifest integrity"]
    assert "MANIFEST.sha256 is missing" in report.problems[0].detail
    assert verify_bundle(untrailed, hmac_key=KEY).problems[1].detail.startswith("an HMAC key was given")
    bare = rewrite(bundle, tmp_path / "m.zip", lambda n, d: None if n == "MANIFEST.json" else d)
    assert "not an mcpdiag bundle" in verify_bundle(bare).problems[0].detail
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    assert verify_bundle(junk).problems[0].name == "archive"


def test_a_planted_secret_fails_the_leak_scan_without_showing_it(bundle: Path, tmp_path: Path) -> None:
    token = "ghp_" + secrets.token_hex(18)
    known = f"kn0wn-{secrets.token_hex(8)}"

    def plant(name: str, data: bytes) -> bytes:
        if name == "analysis.md":
            return data + f"\nleaked {token} and {known}\n".encode()
        return data

    planted = rewrite(bundle, tmp_path / "p.zip", plant)
    report = verify_bundle(planted, known_secrets=[known])
    text = "\n".join(report.lines())
    assert "leak scan: a secret or token pattern in analysis.md" in text
    assert token not in text and known not in text


def test_unsafe_and_repeated_member_names(bundle: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = rewrite(bundle, tmp_path / "u.zip", lambda n, d: d, {"../evil.md": b"x", "README.md": b"again"})
    detail = verify_bundle(bad).problems[0].detail
    assert "repeated: README.md" in detail and "unsafe paths: ../evil.md" in detail


async def test_the_cli_verifies_an_encrypted_bundle_exit_0_then_1(
    store: SQLiteEventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mcpdiag bundle verify FILE.age -i KEY` decrypts, prints the report and exits 0; a tampered copy
    exits 1; a wrong identity is a clear error."""
    monkeypatch.setenv("MCPDIAG_STORE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    await store.append([make_event(ts=T0)])
    identity = x25519.Identity.generate()
    result = await export(
        store, tmp_path / "out", encryption=Encryption.to_recipients([str(identity.to_public())])
    )
    key = tmp_path / "key.txt"
    key.write_text(f"{identity}\n")
    runner = CliRunner()
    answer = runner.invoke(app, ["bundle", "verify", str(result.path), "-i", str(key)])
    assert answer.exit_code == 0, answer.output
    assert "(age: decrypted and authenticated)" in answer.output and "verified:" in answer.output
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(f"{x25519.Identity.generate()}\n")
    answer = runner.invoke(app, ["bundle", "verify", str(result.path), "-i", str(wrong)])
    assert answer.exit_code == 1 and "none of the identities given opens" in answer.output
    plain = tmp_path / "plain.zip"
    runner.invoke(app, ["bundle", "decrypt", str(result.path), "-i", str(key), "-o", str(plain)])
    tampered = rewrite(plain, tmp_path / "t.zip", lambda n, d: d + b"\n" if n == "summary.json" else d)
    answer = runner.invoke(app, ["bundle", "verify", str(tampered)])
    assert (
        answer.exit_code == 1
        and "FAIL  summary.json" in answer.output
        and "FAILED: 2 problems" in answer.output
    )
    answer = runner.invoke(app, ["bundle", "verify", str(tmp_path / "missing.zip")])
    assert answer.exit_code == 2 and "no such file" in answer.output


def test_trailer_members_are_sha256sum_lines() -> None:
    data = b'{"files": []}\n'
    members = dict(trailer_members(data, KEY))
    assert members["MANIFEST.sha256"] == f"{hashlib.sha256(data).hexdigest()}  MANIFEST.json\n".encode()
    assert members["MANIFEST.hmac"].startswith(f"hmac-sha256 {key_id(KEY)} ".encode())
    assert set(dict(trailer_members(data, None))) == {"MANIFEST.sha256"}
