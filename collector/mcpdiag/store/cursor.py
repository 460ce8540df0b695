"""Opaque keyset cursors: base64url of the last `(ts, id)` seen, bound to the query and checksummed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from mcpdiag.store.errors import InvalidCursorError

_KEY = b"mcpdiag-cursor-v1"
_MAC_BYTES = 9


def _mac(payload: bytes) -> bytes:
    return hmac.new(_KEY, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(ts_ms: int, event_id: str, fingerprint: str) -> str:
    """The cursor that resumes a listing after the event `(ts_ms, event_id)` of the query `fingerprint`."""
    payload = json.dumps([ts_ms, event_id, fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload + _mac(payload)).rstrip(b"=").decode()


def decode_cursor(cursor: str, fingerprint: str) -> tuple[int, str]:
    """`(ts_ms, event_id)` of a cursor; `InvalidCursorError` if it is malformed or not this query's."""
    if not cursor or len(cursor) > 512:
        raise InvalidCursorError("cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("cursor is not valid base64url") from exc
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    # The checksum detects edits and truncation; positions are not secret (scoping is enforced per query).
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(payload)):
        raise InvalidCursorError("cursor was modified or truncated")
    try:
        ts_ms, event_id, bound = json.loads(payload)
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("cursor payload is malformed") from exc
    if not isinstance(ts_ms, int) or not isinstance(event_id, str) or not isinstance(bound, str):
        raise InvalidCursorError("cursor payload is malformed")
    if bound != fingerprint:
        raise InvalidCursorError("cursor belongs to a different query; start again without a cursor")
    return ts_ms, event_id
