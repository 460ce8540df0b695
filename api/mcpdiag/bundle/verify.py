"""`verify_bundle`: is this bundle the one that was exported, and does it still hold no secret?

Every member is read once: hashed against MANIFEST.json's size and SHA-256, counted (the events' lines
against the manifest's count) and leak-scanned with today's rules and the secrets the caller knows. The
manifest itself is checked against its trailer (`integrity`). The answer is a list of checks in words.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mcpdiag.bundle.errors import LeakDetectedError
from mcpdiag.bundle.integrity import DIGEST_MEMBER, HMAC_MEMBER, MANIFEST, TRAILERS, check_digest, check_hmac
from mcpdiag.bundle.leakscan import CHUNK, LeakScanner, MemberScan

MAX_MANIFEST = 64 << 20
MAX_TRAILER = 4096


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: `ok` True (passed), False (failed) or None (could not be checked; not a failure)."""

    name: str
    ok: bool | None
    detail: str


@dataclass(slots=True)
class VerifyReport:
    """What `verify_bundle` found, check by check."""

    file: str
    checks: list[Check] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    encryption: str | None = None
    """How the file was encrypted, when it was (`age`: the caller decrypted it)."""

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(check.ok is not False for check in self.checks)

    @property
    def problems(self) -> list[Check]:
        """The failed checks."""
        return [check for check in self.checks if check.ok is False]

    def add(self, name: str, ok: bool | None, detail: str) -> None:
        """Record one check."""
        self.checks.append(Check(name, ok, detail))

    def lines(self) -> list[str]:
        """The report as plain lines: one per check, then the verdict."""
        mark = {True: "ok  ", False: "FAIL", None: "--  "}
        head = self.file + (f" ({self.encryption})" if self.encryption else "")
        out = [head] + [f"  {mark[c.ok]}  {c.name}: {c.detail}" for c in self.checks]
        problems = len(self.problems)
        out.append(
            "verified: every member matches the manifest and the leak scan found nothing"
            if not problems
            else f"FAILED: {problems} problem{'s' if problems != 1 else ''}"
        )
        return out


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name)
    return name.startswith("/") or "\\" in name or ".." in path.parts or not name or "\x00" in name


def _read_small(zf: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        return b""
    return zf.read(info)


def _manifest(report: VerifyReport, raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        report.add("manifest", False, f"{MANIFEST} is missing: this is not an mcpdiag bundle")
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(files, list):
        report.add("manifest", False, f"{MANIFEST} is not a bundle manifest (JSON with a file list)")
        return None
    counts: dict[str, Any] = doc["counts"] if isinstance(doc.get("counts"), dict) else {}
    report.add(
        "manifest",
        True,
        f"bundle version {doc.get('bundle_version')}; {counts.get('events', 0):,} events on "
        f"{counts.get('servers', 0)} server(s); generated {doc.get('generated_at')} on {doc.get('hostname')}",
    )
    return doc


def _listed(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        str(entry["name"]): entry
        for entry in doc.get("files", [])
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    }


def verify_bundle(
    path: Path,
    *,
    known_secrets: Iterable[str] = (),
    hmac_key: bytes | None = None,
    shown_name: str | None = None,
    encryption: str | None = None,
) -> VerifyReport:
    """Check the plaintext bundle ZIP at `path` (see the module docstring); never raises for a bad file."""
    report = VerifyReport(shown_name or path.name, encryption=encryption)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        report.add("archive", False, f"not a ZIP file ({exc})")
        return report
    with zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        unsafe = sorted(n for n in names if _unsafe(n))
        if duplicates or unsafe:
            what = [f"repeated: {', '.join(duplicates)}"] * bool(duplicates) + [
                f"unsafe paths: {', '.join(unsafe)}"
            ] * bool(unsafe)
            report.add("archive", False, f"{len(infos)} members; " + "; ".join(what))
        else:
            report.add("archive", True, f"{len(infos)} members")
        raw = _read_small(zf, MANIFEST, MAX_MANIFEST)
        doc = report.manifest = _manifest(report, raw)
        if raw is not None:
            ok, why = check_digest(raw, _read_small(zf, DIGEST_MEMBER, MAX_TRAILER))
            report.add("manifest integrity", ok, why)
            signed, why = check_hmac(raw, _read_small(zf, HMAC_MEMBER, MAX_TRAILER), hmac_key)
            report.add("manifest HMAC", signed, why)
        _members(report, zf, infos, doc, LeakScanner(known_secrets))
    return report


def _members(
    report: VerifyReport,
    zf: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    doc: dict[str, Any] | None,
    scanner: LeakScanner,
) -> None:
    listed = _listed(doc) if doc is not None else {}
    present = {info.filename for info in infos}
    leaks: list[str] = []
    matched = lines = 0
    for name in sorted(set(listed) - present):
        report.add(name, False, f"listed in {MANIFEST} but missing from the bundle")
    for info in infos:
        sha, size, newlines, leak = _read_member(zf, info, scanner)
        if leak is not None:
            leaks.append(f"{info.filename} ({leak})")
        entry = listed.get(info.filename)
        if info.filename.startswith("events/") and info.filename.endswith(".jsonl"):
            lines += newlines
        if entry is None:
            if info.filename not in TRAILERS and info.filename != MANIFEST and doc is not None:
                report.add(info.filename, False, f"not listed in {MANIFEST}: added after export")
            continue
        if size != entry.get("size") or sha != entry.get("sha256"):
            what = "size and SHA-256 differ" if size != entry.get("size") else "SHA-256 differs"
            report.add(info.filename, False, f"{what} from {MANIFEST}: changed after export")
        else:
            matched += 1
    if doc is not None:
        report.add("members", matched == len(listed), f"{matched} of {len(listed)} files match their SHA-256")
        expected = doc.get("counts", {}).get("events") if isinstance(doc.get("counts"), dict) else None
        if isinstance(expected, int):
            report.add(
                "events",
                lines == expected,
                f"{lines:,} event lines"
                + (", as the manifest counts" if lines == expected else f", not {expected:,}"),
            )
    if leaks:
        report.add("leak scan", False, f"a secret or token pattern in {'; '.join(leaks)} (values not shown)")
    else:
        report.add("leak scan", True, f"{len(infos)} members, no known secret or token pattern")


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, scanner: LeakScanner
) -> tuple[str, int, int, str | None]:
    """(SHA-256, size, newline count, the first leak's rule or None) of one member, read once."""
    sha = hashlib.sha256()
    size = newlines = 0
    leak: str | None = None
    scan: MemberScan | None = None
    try:
        scan = MemberScan(info.filename, scanner)
    except LeakDetectedError as exc:
        leak = exc.rule
    try:
        with zf.open(info) as stream:
            while block := stream.read(CHUNK):
                sha.update(block)
                size += len(block)
                newlines += block.count(b"\n")
                if scan is not None:
                    try:
                        scan.feed(block)
                    except LeakDetectedError as exc:
                        leak, scan = exc.rule, None
        if scan is not None:
            scan.close()
    except LeakDetectedError as exc:
        leak = exc.rule
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        # A CRC mismatch or broken deflate data: the member cannot be what was exported.
        return f"unreadable ({exc})", size, newlines, leak
    return sha.hexdigest(), size, newlines, leak
