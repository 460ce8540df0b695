"""The final gate: read every member of a finished bundle and refuse it if a secret survived."""

from __future__ import annotations

import codecs
import contextlib
import json
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mcpdiag.api.bundle.errors import LeakDetectedError
from mcpdiag.api.bundle.sanitize import CACHE_LIMIT, LineGate, SegmentGate, loads, secret_needles
from mcpdiag.emitters import Redactor
from mcpdiag.emitters.redact import is_secret_key

CHUNK = 1 << 20
# A member with no newline for this long is scanned anyway (a line is never split below this size).
MAX_CARRY = 8 << 20
MAX_CACHED = 4096
# The helper process takes part only above this many bytes of JSON Lines (below, starting it costs more).
HELPER_MIN_BYTES = 16 << 20
HELPER_TIMEOUT = 600.0
READY = b'{"ready": true}'
_PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]+\]")


class LeakScanner:
    """Finds known secret values and token shapes in text, naming the rule and never the value."""

    def __init__(self, known_secrets: Iterable[str]) -> None:
        known = tuple(known_secrets)
        self.redactor = Redactor(known)
        self.needles = secret_needles(known)
        self.longest = max((len(n) for n in self.needles), default=0)
        self.gate = LineGate(self.needles)
        self._clean: set[str] = set()
        self.segments = SegmentGate(self.gate, self._segment_clean, valid_json=False)

    def suspects(self, lines: Sequence[str]) -> list[int]:
        """The lines (of a JSON Lines chunk) to check value by value: what the gate flags, less what
        `SegmentGate` proves clean. A line whose segments are all clean has nothing that `value` would find
        when it is valid JSON (its strings are exactly those segments); when it is not, it stays a suspect,
        as it would be checked as plain text."""
        suspect, checked = self.segments.classify(lines)
        for index in checked:
            try:
                loads(lines[index])
            except ValueError:
                suspect.append(index)
        if not suspect:
            return []
        suspect.sort()
        return [suspect[i] for i in self.gate.flagged([lines[i] for i in suspect])]

    def _segment_clean(self, text: str) -> bool:
        return self.text(text) is None

    def text(self, text: str) -> str | None:
        """The first rule that fires on `text`, or None when it is clean (placeholders never count)."""
        if any(needle in text for needle in self.needles):
            return "known_secret"
        if text in self._clean:
            return None
        rules = self.redactor.find_leaks(text)
        if rules:
            return rules[0]
        if len(text) <= MAX_CACHED:
            if len(self._clean) >= CACHE_LIMIT:
                self._clean.clear()
            self._clean.add(text)
        return None

    def value(self, value: Any) -> str | None:
        """The first rule that fires anywhere in a parsed JSON value (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            for key, item in value.items():
                rule = self.text(key)
                if rule is None and is_secret_key(key) and not _harmless(item):
                    rule = "secret_key"
                if rule is None:
                    rule = self.value(item)
                if rule is not None:
                    return rule
        elif isinstance(value, list):
            for item in value:
                if (rule := self.value(item)) is not None:
                    return rule
        return None


def _harmless(value: Any) -> bool:
    # What the redactor leaves under a secret name: nothing, a flag, an empty string or a placeholder.
    return (
        value is None
        or isinstance(value, bool)
        or value == ""
        or (isinstance(value, str) and _PLACEHOLDER.fullmatch(value) is not None)
    )


def _lines(stream: Any, scanner: LeakScanner, name: str) -> Iterator[str]:
    """Decoded line-aligned chunks of a member; raw needle checks overlap so no boundary hides a secret."""
    whole = not name.endswith((".jsonl", ".md"))
    carry, tail = "", ""
    keep = max(scanner.longest - 1, 0)
    # An incremental decoder keeps a character split between two reads whole.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while block := stream.read(CHUNK):
        text = decoder.decode(block)
        window = tail + text
        if any(needle in window for needle in scanner.needles):
            raise LeakDetectedError(name, "known_secret")
        tail = window[-keep:] if keep else ""
        carry += text
        cut = carry.rfind("\n")
        if (whole or cut == -1) and len(carry) < MAX_CARRY:
            continue
        ready, carry = (carry[: cut + 1], carry[cut + 1 :]) if cut != -1 else (carry, "")
        yield ready
    if carry:
        yield carry


def scan_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, scanner: LeakScanner) -> None:
    """Raise `LeakDetectedError` if any line of one member leaks; JSON Lines are checked value by value."""
    name = info.filename
    if (rule := scanner.text(name)) is not None:
        raise LeakDetectedError(name, rule)
    with zf.open(info) as stream:
        for chunk in _lines(stream, scanner, name):
            if name.endswith(".jsonl"):
                lines = chunk.split("\n")
                for index in scanner.suspects(lines):
                    if (rule := _json_line(lines[index], scanner)) is not None:
                        raise LeakDetectedError(name, rule)
            elif name.endswith(".json"):
                if (rule := _json_line(chunk, scanner)) is not None:
                    raise LeakDetectedError(name, rule)
            elif (rule := scanner.text(chunk)) is not None:
                raise LeakDetectedError(name, rule)


def _json_line(line: str, scanner: LeakScanner) -> str | None:
    if not line.strip():
        return None
    try:
        parsed = json.loads(line)
    except ValueError:
        return scanner.text(line)
    return scanner.value(parsed)


class ScanHelper:
    """A second process that scans the larger JSON Lines members of a bundle while this one scans the rest.

    Started ahead of the scan (its imports take most of a second): it says when it is ready, then waits for
    the job that `scan_bundle` writes to its stdin (the secrets never appear in its command line). It only
    ever adds certainty: a leak it reports refuses the bundle, and any other outcome (not ready in time, no
    answer, a crash, a short count) has this process scan those members itself.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.ready = threading.Event()
        self.done = threading.Event()
        self.lines: list[bytes] = []
        threading.Thread(target=self._read, name="leakscan-helper", daemon=True).start()

    @classmethod
    def start(cls) -> ScanHelper | None:
        """A helper on its way, or None when no process can be started."""
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mcpdiag.api.bundle.leakscan"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError):
            return None
        return cls(proc)

    def _read(self) -> None:
        stdout = self.proc.stdout
        try:
            if stdout is not None:
                for line in stdout:
                    self.lines.append(line)
                    if line.strip() == READY:
                        self.ready.set()
        except (OSError, ValueError):
            pass
        finally:
            self.done.set()

    def submit(self, path: Path, secrets: Sequence[str], members: Sequence[str]) -> bool:
        """Hand the helper its job; False if it is not ready or could not take it."""
        stdin = self.proc.stdin
        if stdin is None or not self.ready.is_set() or self.done.is_set():
            return False
        job = json.dumps({"path": str(path), "secrets": list(secrets), "members": list(members)})
        try:
            with stdin:
                stdin.write(job.encode())
        except (OSError, ValueError):
            return False
        return True

    def result(self, expected: int) -> tuple[str, str] | None:
        """Wait for the helper: (file, rule) of a leak it found, None when it scanned all `expected` members
        clean. Raises `RuntimeError` when it gave no usable answer."""
        if not self.done.wait(HELPER_TIMEOUT):
            raise RuntimeError("the leak-scan helper timed out")
        try:
            code = self.proc.wait(HELPER_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError("the leak-scan helper did not exit") from exc
        if code != 0 or not self.lines:
            raise RuntimeError("the leak-scan helper failed")
        answer = json.loads(self.lines[-1])
        if isinstance(answer, dict) and isinstance(answer.get("leak"), list) and len(answer["leak"]) == 2:
            return str(answer["leak"][0]), str(answer["leak"][1])
        if isinstance(answer, dict) and answer.get("ok") == expected:
            return None
        raise RuntimeError("the leak-scan helper gave no usable answer")

    def close(self) -> None:
        """Stop the helper if it still runs (after a failure, or when it was not needed) and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(HELPER_TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()


def _helper_share(members: Sequence[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The large JSON Lines members for the helper: about half of their bytes, none when they are few."""
    jsonl = sorted(
        (m for m in members if m.filename.endswith(".jsonl")), key=lambda m: (-m.file_size, m.filename)
    )
    total = sum(m.file_size for m in jsonl)
    if total < HELPER_MIN_BYTES or len(jsonl) < 2:
        return []
    share: list[zipfile.ZipInfo] = []
    mine = theirs = 0
    for info in jsonl:
        if theirs < mine:
            share.append(info)
            theirs += info.file_size
        else:
            mine += info.file_size
    return share


def scan_bundle(path: Path, known_secrets: Iterable[str], helper: ScanHelper | None = None) -> int:
    """Scan every member of the ZIP at `path`; returns how many were scanned or raises `LeakDetectedError`.

    With a `helper` (a `ScanHelper` started beforehand), it scans about half of the large JSON Lines members
    in a second process; this function stops it before returning or raising.
    """
    secrets = sorted(set(known_secrets))
    scanner = LeakScanner(secrets)
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            share = _helper_share(members) if helper is not None else []
            if share and helper is not None and not helper.submit(path, secrets, [m.filename for m in share]):
                share = []
            theirs = {id(m) for m in share}
            for info in members:
                if id(info) not in theirs:
                    scan_member(zf, info, scanner)
            if share and helper is not None:
                try:
                    leak = helper.result(len(share))
                except (RuntimeError, ValueError):
                    # No usable answer: scan its members here, as if there were no helper.
                    for info in share:
                        scan_member(zf, info, scanner)
                else:
                    if leak is not None:
                        raise LeakDetectedError(*leak)
    finally:
        if helper is not None:
            helper.close()
    return len(members)


def _helper_main() -> int:
    """The helper's side: read one job from stdin, scan its members, answer on stdout."""
    sys.stdout.write(READY.decode() + "\n")
    sys.stdout.flush()
    data = sys.stdin.buffer.read()
    if not data:
        return 0
    job = json.loads(data)
    scanner = LeakScanner(job["secrets"])
    try:
        with zipfile.ZipFile(job["path"]) as zf:
            for name in job["members"]:
                scan_member(zf, zf.getinfo(name), scanner)
    except LeakDetectedError as exc:
        print(json.dumps({"leak": [exc.file, exc.rule]}))
        return 0
    print(json.dumps({"ok": len(job["members"])}))
    return 0


if __name__ == "__main__":
    sys.exit(_helper_main())
