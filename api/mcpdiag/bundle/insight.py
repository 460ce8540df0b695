"""What analysis.md needs beyond counts, gathered from the sanitized lines as the export writes them.

Per server and failing code (a *finding*): the users it hit, the highest severity, the first events in
full (`SAMPLES` of them are parsed: the detail lines, statuses and content types they quote), the latest
one, and the last event that was not a failure before its onset (what the server did before it broke).
Per server: the users seen and its last success. Memory is bounded by servers x codes (users are capped at
`MAX_USERS`, quoted details at `MAX_DETAILS` per finding), never by events; the cost per event is a dict
lookup and a substring search, and only `SAMPLES` lines per finding are parsed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from mcpdiag.emitters import code_info
from mcpdiag.emitters.codes import SEVERITY_RANK

if TYPE_CHECKING:
    from mcpdiag.bundle.aggregate import HourKey

_WARNING = SEVERITY_RANK["warning"]
SAMPLES = 40
MAX_USERS = 10_000
MAX_DETAILS = 50
MAX_QUOTE = 200
_USER_KEY = '"userId":'
# A line that says what went wrong, in a stderr tail or an exception's description (bounded, linear).
_ERROR_WORDS = re.compile(
    r"(?i)\b(?:fatal|error|exception|panic|traceback|denied|refused|missing|not found|invalid|unauthori[sz]ed"
    r"|forbidden|timed out|timeout|no such|cannot|can't|failed|unable|expired|certificate)\b"
)


def _user(line: str) -> str | None:
    """The `userId` of a compact JSON line: a string, None for null, or "" when it cannot be read cheaply."""
    at = line.find(_USER_KEY)
    if at == -1:
        return ""
    start = at + len(_USER_KEY)
    if line.startswith("null", start):
        return None
    end = line.find('"', start + 1)
    value = line[start + 1 : end] if line[start : start + 1] == '"' and end != -1 else ""
    return "" if "\\" in value else value


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def decisive(doc: Mapping[str, Any]) -> str | None:
    """The one detail of an event that says most about why it failed, quoted as the bundle holds it."""
    attrs: dict[str, Any] = doc["attrs"] if isinstance(doc.get("attrs"), dict) else {}
    detail: str = doc["detail"] if isinstance(doc.get("detail"), str) else ""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    if "stderr (tail):" in lines:
        tail = lines[lines.index("stderr (tail):") + 1 :]
        erring = [line for line in tail if _ERROR_WORDS.search(line)]
        if erring or tail:
            return _clip((erring or tail)[-1])
    if isinstance(attrs.get("stderr_error"), str):
        return _clip(attrs["stderr_error"])
    http = next((line for line in lines if line.startswith("http: ")), None)
    body = next((line for line in lines if line.startswith("body: ")), None)
    if http is not None:
        return _clip(http[len("http: ") :] + (f" ({body})" if body else ""))
    status, ctype = doc.get("httpStatus"), attrs.get("content_type")
    if isinstance(status, int):
        return f"HTTP {status}" + (f", content type {ctype}" if isinstance(ctype, str) else "")
    # The classifier's first line names the code and its signal; the exception chain follows it.
    described = [line for line in lines[1:] if _ERROR_WORDS.search(line)] or lines[1:] or lines
    return _clip(described[0]) if described else None


@dataclass(slots=True)
class Finding:
    """One server's failures under one code, with what they quote."""

    server: str
    code: str
    rank: int = 0
    """The highest severity rank seen."""
    count: int = 0
    users: set[str] = field(default_factory=set)
    server_wide: int = 0
    samples: int = 0
    details: Counter[str] = field(default_factory=Counter)
    tools: Counter[str] = field(default_factory=Counter)
    first: dict[str, Any] | None = None
    before: str | None = None
    """The server's last line that was not a failure before this code's first (raw; parsed on demand)."""
    last_line: str | None = None
    last_ts: str = ""

    def sample(self, doc: Mapping[str, Any]) -> None:
        """Read one parsed failure event (the first `SAMPLES`)."""
        self.samples += 1
        if self.first is None:
            self.first = dict(doc)
        quote = decisive(doc)
        if quote and (quote in self.details or len(self.details) < MAX_DETAILS):
            self.details[quote] += 1
        if isinstance(doc.get("tool"), str):
            self.tools[doc["tool"]] += 1


@dataclass(slots=True)
class ServerSeen:
    """What a server did besides failing: its users, and its latest success."""

    users: set[str] = field(default_factory=set)
    last_ok_line: str | None = None
    last_ok_ts: str = ""


@dataclass(slots=True)
class Insights:
    """The findings and servers of one export (see the module docstring)."""

    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)
    servers: dict[str, ServerSeen] = field(default_factory=dict)
    _kinds: dict[tuple[str, str], tuple[str, bool, int]] = field(default_factory=dict, repr=False)

    def _kind(self, raw_code: str, severity: str) -> tuple[str, bool, int]:
        kind = self._kinds.get((raw_code, severity))
        if kind is None:
            code = code_info(raw_code).code
            rank = SEVERITY_RANK.get(severity, 0)
            kind = self._kinds[raw_code, severity] = (
                code,
                # A finding: any event of warning or worse. Its failures are `counts_as_failure`; a tool's own
                # error is a finding too, counted apart from them.
                rank >= _WARNING,
                rank,
            )
        return kind

    def add_lines(self, lines: Sequence[str], keys: Sequence[HourKey], stamps: Sequence[str]) -> None:
        """Read a batch of sanitized JSON lines, in export order, with their `HourKey`s and timestamps."""
        for line, key, ts in zip(lines, keys, stamps, strict=True):
            self._add(key[0], key[1], key[2], ts, line, None)

    def add_event(self, event: Mapping[str, Any]) -> None:
        """Read one sanitized wire event given as a dict."""
        self._add(
            str(event.get("server", "")),
            str(event.get("code", "")),
            str(event.get("severity", "")),
            str(event.get("ts", "")),
            None,
            event,
        )

    def _add(
        self,
        server: str,
        raw_code: str,
        severity: str,
        ts: str,
        line: str | None,
        doc: Mapping[str, Any] | None,
    ) -> None:
        code, failing, rank = self._kind(raw_code, severity)
        seen = self.servers.get(server)
        if seen is None:
            seen = self.servers[server] = ServerSeen()
        user = _user(line) if line is not None else (doc or {}).get("userId")
        if user and len(seen.users) < MAX_USERS:
            seen.users.add(user)
        if not failing:
            if ts >= seen.last_ok_ts:
                seen.last_ok_ts, seen.last_ok_line = ts, line if line is not None else _dumps(doc)
            return
        finding = self.findings.get((server, code))
        if finding is None:
            finding = self.findings[server, code] = Finding(server, code, before=seen.last_ok_line)
        finding.count += 1
        finding.rank = max(finding.rank, rank)
        if user is None:
            finding.server_wide += 1
        elif user and len(finding.users) < MAX_USERS:
            finding.users.add(user)
        if ts >= finding.last_ts:
            finding.last_ts, finding.last_line = ts, line if line is not None else _dumps(doc)
        if finding.samples < SAMPLES:
            read = doc if doc is not None else parsed(line)
            if read is not None:
                finding.sample(read)


def _dumps(doc: Mapping[str, Any] | None) -> str | None:
    return None if doc is None else json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


def parsed(line: str | None) -> dict[str, Any] | None:
    """A sanitized JSON line (or a kept one: `Finding.before`, `last_line`, `ServerSeen.last_ok_line`) as a
    dict, or None."""
    if line is None:
        return None
    try:
        doc = from_json(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
