"""Record finalisation: one queued record becomes one valid wire event, whatever the host put in it.

Every field is made what the contract (`DiagnosticEvent`) and the collector accept: text through
`to_text` (never raises, no lone surrogates), names without control characters, enums from their value
sets, numbers finite and in range, attrs at most 32 scalar values; then messageSafe, detail and attrs are
redacted and everything is cut to its limit. A value that cannot be used is replaced (its type, or the
field's default) and what the host sent is kept in an `mcpdiag.invalid.<field>` attr when there is room.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from mcpdiag.emitters.codes import (
    FALLBACK_CODE,
    INVALID_PREFIX,
    LIFECYCLE_CODES,
    Severity,
    Touchpoint,
    Transport,
    code_info,
)
from mcpdiag.emitters.event import (
    MAX_ATTRS,
    MAX_DETAIL,
    MAX_EVENT_BYTES,
    MAX_MESSAGE_SAFE,
    WIRE_FIELDS,
    format_ts,
)
from mcpdiag.emitters.event import WIRE_NAMES as EVENT_WIRE_NAMES
from mcpdiag.emitters.ids import new_event_id, new_trace_id
from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.sinks import WireEvent
from mcpdiag.emitters.text import cut_for_redaction, to_text, type_name

STAMPED = frozenset({"id", "ts", "source"})
"""Wire fields the emitter sets itself: a fresh id, the time of the `emit` call, the emitting process."""
OCCURRENCES = frozenset({"count", "firstTs", "lastTs"})
"""Wire fields of coalesced repeats: an emitted event is one occurrence, so they keep their defaults."""
RECORD_FIELDS = tuple(field for field in WIRE_FIELDS if field not in STAMPED | OCCURRENCES)
"""The wire fields of a raw record after its `(seq, ns)` head, in the order `Emitter.emit` puts them (the
contract's order)."""
WIRE_NAMES = {
    **{field: field for field in RECORD_FIELDS},
    **{name: wire for name, wire in EVENT_WIRE_NAMES.items() if wire in RECORD_FIELDS},
}
"""Keyword names `emit_event` accepts (snake_case or the wire's camelCase) and the wire field of each."""

MAX_ATTR_VALUE = 1024
MAX_NAME = 256
MAX_SERVER = 128
_INT64 = 2**63
_MAX_DURATION_MS = 7 * 24 * 3600 * 1000
_CODE = re.compile(r"[A-Z][A-Z0-9_]{2,63}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEVERITIES = frozenset(s.value for s in Severity)
_TOUCHPOINTS = frozenset(t.value for t in Touchpoint)
_TRANSPORTS = frozenset(t.value for t in Transport)


def debug_id(value: object) -> str:
    """`value` as a W3C trace id (32 lowercase hex, not all zeros), or a fresh one when it is not one."""
    if type(value) is str and len(value) == 32:
        lowered = value.lower()
        if _TRACE_ID.fullmatch(lowered) and lowered.strip("0"):
            return lowered
    return new_trace_id()


class Finalizer:
    """Builds wire events from records; holds the emitting process's `source` and the redactor."""

    def __init__(self, *, service: object, version: object = None, known_secrets: Iterable[str] = ()) -> None:
        self.source = {
            "service": to_text(service)[:128],
            "host": to_text(socket.gethostname())[:256],
            "version": None if version is None else to_text(version)[:64],
        }
        self._secrets: set[str] = set()
        with contextlib.suppress(Exception):  # an unreadable iterable of secrets: keep what was read
            self._secrets.update(to_text(s) for s in known_secrets if isinstance(s, str) and s)
        self.redactor = Redactor(self._secrets)

    def register_secret(self, value: object) -> None:
        """Redact `value` from every later event (strings only; anything else is ignored)."""
        if isinstance(value, str):
            text = to_text(value)
            if text and text not in self._secrets:
                self._secrets.add(text)
                self.redactor = Redactor(self._secrets)

    def record(self, record: tuple[Any, ...]) -> WireEvent:
        """The wire event of a raw record queued by `Emitter.emit`: `(seq, ns, *RECORD_FIELDS)`."""
        return self.fields(record[1], dict(zip(RECORD_FIELDS, record[2:], strict=True)))

    def fields(self, ns: int, given: Mapping[str, Any]) -> WireEvent:
        """The wire event of `given` (wire-named fields, defaults for the missing ones), stamped at `ns`."""
        notes: dict[str, Any] = {}
        code = _code(given.get("code"), notes)
        info = code_info(code)
        server = _server(given.get("server"), notes)
        severity = _choice(given.get("severity"), _SEVERITIES, "severity", notes) or info.severity.value
        default_touchpoint = "lifecycle" if code in LIFECYCLE_CODES else "connect"
        message = given.get("messageSafe")
        message = "" if message is None else cut_for_redaction(to_text(message), 4 * MAX_MESSAGE_SAFE)
        detail = given.get("detail")
        event: WireEvent = {
            "id": new_event_id(ns // 1_000_000),
            "ts": format_ts(datetime.fromtimestamp(ns / 1e9, UTC)),
            "server": server,
            "touchpoint": _choice(given.get("touchpoint"), _TOUCHPOINTS, "touchpoint", notes)
            or default_touchpoint,
            "code": code,
            "severity": severity,
            "messageSafe": message or info.render(server),
            "detail": None if detail is None else cut_for_redaction(to_text(detail), 4 * MAX_DETAIL),
            "retryable": _flag(given.get("retryable"), info.retryable and code == info.code),
            "userId": _name(given.get("userId"), MAX_NAME),
            "conversationId": _name(given.get("conversationId"), MAX_NAME),
            "runId": _name(given.get("runId"), MAX_NAME),
            "tool": _name(given.get("tool"), MAX_NAME),
            "transport": _choice(given.get("transport"), _TRANSPORTS, "transport", notes),
            "httpStatus": _number(given.get("httpStatus"), 100, 599, "httpStatus", notes, whole=True),
            "durationMs": _number(given.get("durationMs"), 0, _MAX_DURATION_MS, "durationMs", notes),
            "traceId": debug_id(given.get("traceId")),
            "spanId": _span_id(given.get("spanId")),
            "attrs": bounded_attrs(given.get("attrs"), notes),
            "source": self.source,
        }
        redacted, _ = self.redactor.event(
            {"messageSafe": event["messageSafe"], "detail": event["detail"], "attrs": event["attrs"]}
        )
        event["messageSafe"] = redacted["messageSafe"][:MAX_MESSAGE_SAFE]
        event["detail"] = redacted["detail"][:MAX_DETAIL] if redacted["detail"] else None
        event["attrs"] = {
            k: v[:MAX_ATTR_VALUE] if isinstance(v, str) else v for k, v in redacted["attrs"].items()
        }
        _fit(event)
        return event


def bounded_attrs(attrs: object, notes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """At most 32 attrs with string keys and scalar values (cut for redaction), then `notes` if room."""
    bounded: dict[str, Any] = {}
    if attrs is not None:
        try:
            if not isinstance(attrs, Mapping):
                return {INVALID_PREFIX + "attrs": attr_value(attrs), **(notes or {})}
            pairs = iter(attrs.items())
            while len(bounded) < MAX_ATTRS:
                try:
                    key, value = next(pairs)
                except StopIteration:
                    break
                bounded[to_text(key)[:64] or "_"] = attr_value(value)
        except Exception:  # an unreadable mapping: keep the pairs read so far and say what it was
            bounded.setdefault(INVALID_PREFIX + "attrs", f"<unreadable {type_name(attrs)}>")
    for key, value in (notes or {}).items():
        if len(bounded) >= MAX_ATTRS:
            break
        bounded.setdefault(key, value)
    return bounded


def attr_value(value: object) -> str | bool | int | float | None:
    """An attr value the contract accepts: null, a bool, a 64-bit int, a finite float, or text."""
    kind = type(value)
    if value is None or kind is bool:
        return value  # type: ignore[return-value]
    if kind is int and -_INT64 <= value < _INT64:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    return cut_for_redaction(to_text(value), 4 * MAX_ATTR_VALUE)


def _code(value: object, notes: dict[str, Any]) -> str:
    text = to_text(value)
    if _CODE.fullmatch(text):
        return text
    notes[INVALID_PREFIX + "code"] = cut_for_redaction(text, 4 * MAX_ATTR_VALUE)
    return FALLBACK_CODE


def _name(value: object, limit: int) -> str | None:
    if value is None:
        return None
    return _CONTROL.sub(" ", to_text(value)[:limit]) or None


def _server(value: object, notes: dict[str, Any]) -> str:
    """A server name the contract accepts: not empty, and not `.` or `..`, which no URL can name
    (`event.no_dot_segment`); either is `unknown`, and a dot segment is kept in an attr."""
    name = _name(value, MAX_SERVER)
    if name in (".", ".."):
        notes[INVALID_PREFIX + "server"] = name
        return "unknown"
    return name or "unknown"


def _choice(value: object, allowed: frozenset[str], field: str, notes: dict[str, Any]) -> str | None:
    if value is None:
        return None
    text = to_text(value)
    if text in allowed:
        return text
    notes[INVALID_PREFIX + field] = cut_for_redaction(text, 4 * MAX_ATTR_VALUE)
    return None


def _flag(value: object, default: bool) -> bool:
    if value is None:
        return default
    if type(value) is bool:
        return value
    try:
        return bool(value)
    except Exception:
        return default


def _number(
    value: object, low: float, high: float, field: str, notes: dict[str, Any], *, whole: bool = False
) -> Any:
    if value is None:
        return None
    kind = type(value)
    if (kind is int or (kind is float and not whole)) and low <= value <= high:  # type: ignore[operator]
        return value  # (NaN fails both comparisons)
    notes[INVALID_PREFIX + field] = attr_value(value)
    return None


def _span_id(value: object) -> str | None:
    if type(value) is str and _SPAN_ID.fullmatch(value) and value.strip("0"):
        return value
    return None


def _fit(event: WireEvent) -> None:
    """Shrink attrs, then detail, then drop them, until the event encodes within the wire limit."""
    if _size_bound(event) <= MAX_EVENT_BYTES:  # the usual event: no need to encode it to know
        return
    # ASCII-escaped JSON with spaces: never smaller than the compact UTF-8 encoding the collector counts.
    size = len(json.dumps(event))
    if size <= MAX_EVENT_BYTES:
        return
    attrs = event["attrs"]
    for key in sorted(attrs, key=lambda k: -len(str(attrs[k]))):
        value = attrs[key]
        if size <= MAX_EVENT_BYTES:
            return
        if isinstance(value, str) and len(value) > 64:
            attrs[key] = value[:64]
            size -= len(json.dumps(value)) - len(json.dumps(value[:64]))
    if size > MAX_EVENT_BYTES and event["detail"]:
        event["detail"] = (
            event["detail"][: max(0, len(event["detail"]) - (size - MAX_EVENT_BYTES) - 64)] or None
        )
        size = len(json.dumps(event))
    if size > MAX_EVENT_BYTES:  # only names and the message are left: they are bounded well below it
        event["attrs"], event["detail"] = {}, None


def _size_bound(event: WireEvent) -> int:
    """An upper bound of `len(json.dumps(event))`: a character is at most 12 bytes escaped (`\\ud83d\\ude00`).

    Fields not counted here (ids, enums, numbers, keys) are short and bounded: `_FIXED` covers them.
    """
    chars = sum(len(event[f] or "") for f in _TEXT_FIELDS) + sum(
        len(v or "") for v in event["source"].values()
    )
    for key, value in event["attrs"].items():
        chars += len(key) + (len(value) if isinstance(value, str) else 24)
    return 12 * chars + _FIXED + 8 * len(event["attrs"])


_TEXT_FIELDS = ("server", "messageSafe", "detail", "userId", "conversationId", "runId", "tool")
_FIXED = 1024
