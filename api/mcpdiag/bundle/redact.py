"""`redact_bundle`: a new bundle with more values removed from every member, as the exporter would have.

Support finds a value that should not have left (a customer name, an internal host, a token of a format
no rule knows): `mcpdiag bundle redact FILE --secret-file S --pattern REGEX` writes a new bundle in which
each value of S (a known secret to the redactor, so its encoded forms go too) and each match of each
pattern (`patterns`, RE2) is a placeholder, in every member — events, summary, analysis, settings, the
manifest's own scope and host, and the member names (`events/<server>.jsonl` is renamed when the server's
name held one). Today's redaction rules run again on the way. `redactions.json` gains this pass's counts,
MANIFEST.json the new sizes and hashes and a `re_redactions` entry, its trailer is recomputed, and the leak
scan reads the result (with the new values as known secrets, and the patterns checked to match nowhere)
before it is kept. With an `Encryption` the new bundle is written as `.zip.age` without a plaintext file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from mcpdiag.bundle.crypt import AGE_SUFFIX, Encryption
from mcpdiag.bundle.errors import BundleFormatError, BundleOutputError, InvalidKeyError, LeakDetectedError
from mcpdiag.bundle.integrity import MANIFEST, TRAILERS, trailer_members
from mcpdiag.bundle.leakscan import LeakScanner, scan_bundle
from mcpdiag.bundle.patterns import PatternSet
from mcpdiag.bundle.sanitize import EventSanitizer
from mcpdiag.bundle.selection import member_name
from mcpdiag.bundle.zipstream import ZipStreamError, ZipStreamScan
from mcpdiag.emitters import format_ts
from mcpdiag.emitters.redact import MIN_KNOWN_SECRET

REDACTIONS = "redactions.json"
BATCH = 1000
MAX_SECRET_FILE = 1 << 20
MAX_SECRETS = 10_000
MAX_JSON_MEMBER = 64 << 20
_REBUILT = frozenset({"files", "redactions", "re_redactions"})
"""Manifest fields written anew by each pass."""


def read_secret_file(path: Path, field: str = "--secret-file") -> list[str]:
    """The values in `path`, one a line (surrounding spaces and the line break not included)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_FILE + 1)
        text = raw.decode()
    except OSError as exc:
        raise InvalidKeyError(field, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidKeyError(field, f"{path} is not UTF-8 text") from None
    if len(raw) > MAX_SECRET_FILE:
        raise InvalidKeyError(field, f"{path} is over 1 MiB")
    values: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.strip()
        if not value:
            continue
        if len(value) < MIN_KNOWN_SECRET:
            raise InvalidKeyError(
                field,
                f"line {number}: a value shorter than {MIN_KNOWN_SECRET} characters would match "
                "inside ordinary words; remove it with --pattern and word boundaries instead",
            )
        values.append(value)
    if len(values) > MAX_SECRETS:
        raise InvalidKeyError(field, f"at most {MAX_SECRETS:,} values")
    return values


@dataclass(slots=True)
class RedactResult:
    """The new bundle, and what this pass removed."""

    path: Path
    size: int
    by_file: dict[str, dict[str, int]] = field(default_factory=dict)
    """Redactions of this pass, per (new) member name and rule."""
    renamed: dict[str, str] = field(default_factory=dict)
    pattern_hits: list[int] = field(default_factory=list)
    encryption: str | None = None

    @property
    def total(self) -> int:
        """Values removed by this pass."""
        return sum(sum(rules.values()) for rules in self.by_file.values())


class _Members:
    """Writes the new members, recording each one's size and SHA-256 for the manifest."""

    def __init__(self, zf: zipfile.ZipFile, patterns: PatternSet) -> None:
        self.zf = zf
        self.patterns = patterns
        self.files: list[dict[str, Any]] = []

    def write(self, name: str, chunks: Iterable[bytes]) -> None:
        sha, size = hashlib.sha256(), 0
        with self.zf.open(name, "w", force_zip64=True) as member:
            for chunk in chunks:
                if self.patterns and self.patterns.found(chunk.decode("utf-8", "replace")):
                    raise LeakDetectedError(name, "pattern")
                sha.update(chunk)
                size += len(chunk)
                member.write(chunk)
        self.files.append({"name": name, "size": size, "sha256": sha.hexdigest()})


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


class _Pass:
    """One re-redaction: the sanitizer (today's rules and the new values) and the patterns."""

    def __init__(self, secrets: Sequence[str], patterns: PatternSet) -> None:
        self.sanitizer = EventSanitizer(secrets)
        self.patterns = patterns
        self.values = len(secrets)
        self.by_file: dict[str, Counter[str]] = {}

    def counts(self, name: str) -> Counter[str]:
        return self.by_file.setdefault(name, Counter())

    def text(self, text: str, counts: dict[str, int]) -> str:
        return self.patterns.sub(self.sanitizer.text(text, counts), counts)

    def value(self, value: Any, counts: dict[str, int]) -> Any:
        return self.patterns.value(self.sanitizer.mapping({"v": value}, counts)["v"], counts)

    def lines(self, name: str, lines: list[str]) -> bytes:
        """A batch of JSON lines, redacted (lines left as they were are written as they were)."""
        try:
            clean = self.sanitizer.json_lines(lines)
        except ValueError:
            raise BundleFormatError(f"{name} holds a line that is not JSON") from None
        counts = self.counts(name)
        counts.update(clean.redactions)
        out = clean.lines
        if self.patterns:
            joined = "\n".join(out)
            if "\\" in joined or self.patterns.found(joined):
                out = [self._line(name, line, counts) for line in out]
        return ("\n".join(out) + "\n").encode()

    def _line(self, name: str, line: str, counts: Counter[str]) -> str:
        # Escapes in JSON text hide what a pattern would match in the value: such a line is read first.
        if "\\" not in line and not self.patterns.found(line):
            return line
        try:
            doc = json.loads(line)
        except ValueError:
            raise BundleFormatError(f"{name} holds a line that is not JSON") from None
        found: dict[str, int] = {}
        doc = self.patterns.value(doc, found)
        if not found:
            return line
        counts.update(found)
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _event_lines(zin: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[list[str]]:
    batch: list[str] = []
    with zin.open(info) as raw:
        for line in raw:
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text:
                batch.append(text)
            if len(batch) >= BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _read_json(zin: zipfile.ZipFile, name: str) -> Any:
    try:
        info = zin.getinfo(name)
        if info.file_size > MAX_JSON_MEMBER:
            raise ValueError("too large")
        return json.loads(zin.read(info))
    except KeyError:
        return None
    except (ValueError, zipfile.BadZipFile) as exc:
        raise BundleFormatError(f"{name} cannot be read as JSON ({exc})") from None


def redact_bundle(
    src: Path,
    out_dir: Path,
    *,
    secrets: Sequence[str] = (),
    patterns: PatternSet | None = None,
    encryption: Encryption | None = None,
    hmac_key: bytes | None = None,
    source_name: str | None = None,
    now: datetime | None = None,
) -> RedactResult:
    """Write the re-redacted copy of the plaintext bundle ZIP `src` into `out_dir` (see the module)."""
    patterns = patterns or PatternSet(())
    now = (now or datetime.now(UTC)).astimezone(UTC)
    name = source_name or src.name
    stem = name.removesuffix(AGE_SUFFIX).removesuffix(".zip")
    filename = f"{stem}-redacted.zip" + (AGE_SUFFIX if encryption is not None else "")
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise BundleOutputError(f"the output directory {out_dir} does not exist or is not writable")
    try:
        zin = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleFormatError(f"{name} is not a ZIP file ({exc})") from None
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=".mcpdiag-redact-", suffix=".partial")
    tmp = Path(tmp_name)
    job = _Pass(secrets, patterns)
    scanner = LeakScanner(secrets)
    stream = ZipStreamScan(scanner) if encryption is not None else None
    renamed: dict[str, str] = {}
    try:
        with zin, os.fdopen(fd, "wb") as raw:
            manifest = _read_json(zin, MANIFEST)
            if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
                raise BundleFormatError(f"{name} has no readable {MANIFEST}: it is not an mcpdiag bundle")
            if encryption is None:
                _rewrite(zin, raw, job, manifest, renamed, hmac_key, now)
            else:
                assert stream is not None
                with encryption.writer(raw, stream.feed) as sealed:
                    _rewrite(zin, cast(IO[bytes], sealed), job, manifest, renamed, hmac_key, now)
        if stream is not None:
            stream.close()
        else:
            scan_bundle(tmp, secrets)
        final = out_dir / filename
        n = 1
        while final.exists():
            n += 1
            final = out_dir / filename.replace("-redacted.zip", f"-redacted-{n}.zip")
        tmp.replace(final)
    except ZipStreamError as exc:
        tmp.unlink(missing_ok=True)
        raise BundleFormatError(f"the leak scan could not read the new bundle ({exc})") from exc
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BundleOutputError(f"could not write the bundle in {out_dir}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return RedactResult(
        final,
        final.stat().st_size,
        {f: dict(sorted(c.items())) for f, c in sorted(job.by_file.items()) if c},
        renamed,
        list(patterns.hits),
        encryption.describe() if encryption is not None else None,
    )


def _new_name(name: str, job: _Pass, taken: set[str]) -> str:
    if not (name.startswith("events/") and name.endswith(".jsonl")):
        return name
    stem = name[len("events/") : -len(".jsonl")]
    cleaned = job.text(stem, {})
    if cleaned == stem and stem.lower() not in taken:
        taken.add(stem.lower())
        return name
    return member_name(cleaned, taken)


def _rewrite(
    zin: zipfile.ZipFile,
    raw: IO[bytes],
    job: _Pass,
    manifest: dict[str, Any],
    renamed: dict[str, str],
    hmac_key: bytes | None,
    now: datetime,
) -> None:
    taken: set[str] = set()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        out = _Members(zf, job.patterns)
        for info in zin.infolist():
            name = info.filename
            if name in (MANIFEST, REDACTIONS) or name in TRAILERS or info.is_dir():
                continue
            new = _new_name(name, job, taken)
            if new != name:
                renamed[name] = new
            counts = job.counts(new)
            if name.endswith(".jsonl"):
                out.write(new, (job.lines(new, batch) for batch in _event_lines(zin, info)))
            elif name.endswith(".json"):
                found: dict[str, int] = {}
                out.write(new, [_json_bytes(job.value(_read_json(zin, name), found))])
                counts.update(found)
            else:
                found = {}
                out.write(new, [job.text(zin.read(info).decode("utf-8", "replace"), found).encode()])
                counts.update(found)
        # The manifest's own fields (scope, host) are redacted before the counts are written, so that
        # redactions.json covers every file.
        found = {}
        kept = job.value({k: v for k, v in manifest.items() if k not in _REBUILT}, found)
        job.counts(MANIFEST).update(found)
        history = _redaction_doc(_read_json(zin, REDACTIONS), renamed, job)
        out.write(REDACTIONS, [_json_bytes(history)])
        head = _manifest(kept, manifest.get("re_redactions"), out.files, history, job, now)
        data = _json_bytes(head)
        out.write(MANIFEST, [data])
        for trailer, blob in trailer_members(data, hmac_key):
            out.write(trailer, [blob])


def _redaction_doc(old: Any, renamed: dict[str, str], job: _Pass) -> list[dict[str, Any]]:
    """redactions.json with this pass's counts added to the export's, per file and rule."""
    merged: dict[str, Counter[str]] = {}
    for entry in old if isinstance(old, list) else []:
        if not isinstance(entry, dict):
            continue
        file = renamed.get(str(entry.get("file")), str(entry.get("file")))
        for item in entry.get("rules", []):
            if isinstance(item, dict) and isinstance(item.get("count"), int):
                merged.setdefault(file, Counter())[str(item.get("rule"))] += item["count"]
    for file, counts in job.by_file.items():
        if counts:
            merged.setdefault(file, Counter()).update(counts)
    return [
        {"file": file, "rules": [{"rule": rule, "count": n} for rule, n in sorted(c.items())]}
        for file, c in sorted(merged.items())
    ]


def _manifest(
    kept: dict[str, Any],
    earlier: Any,
    files: list[dict[str, Any]],
    history: list[dict[str, Any]],
    job: _Pass,
    now: datetime,
) -> dict[str, Any]:
    """The new MANIFEST.json: the old one's fields (redacted), the new files, totals and this pass."""
    listed = [f for f in files if f["name"] != MANIFEST and f["name"] not in TRAILERS]
    by_rule: Counter[str] = Counter()
    for entry in history:
        for item in entry["rules"]:
            by_rule[item["rule"]] += item["count"]
    passes = [p for p in earlier if isinstance(p, dict)] if isinstance(earlier, list) else []
    passes.append(
        {
            "at": format_ts(now),
            "values": job.values,
            "patterns": len(job.patterns.compiled),
            "removed": sum(sum(c.values()) for c in job.by_file.values()),
        }
    )
    return {
        **kept,
        "files": listed,
        "redactions": {
            "total": sum(by_rule.values()),
            "by_rule": [{"rule": r, "count": n} for r, n in sorted(by_rule.items())],
        },
        "re_redactions": passes,
    }
