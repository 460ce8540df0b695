"""Opaque keyset cursors: base64url of the last `(ts, id)` seen, bound to the query, MAC'd with the
deployment's own key.

The key is not a constant of the code: it comes from `MCPDIAG_CURSOR_SECRET` when set, otherwise from a
random key the store keeps (created with its schema), so every replica on one store accepts the same
cursors and no other deployment can mint one. Even a cursor whose MAC checks is decoded defensively: the
position it names must be a timestamp and an event id the store could have written.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets

from mcpdiag.store.errors import InvalidCursorError

_MAC_BYTES = 12
KEY_BYTES = 32
MAX_CURSOR_CHARS = 512
_MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can write
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def new_cursor_key() -> bytes:
    """A fresh random key for a deployment's cursors."""
    return secrets.token_bytes(KEY_BYTES)


def cursor_key_from_secret(secret: str) -> bytes:
    """The cursor key derived from an operator's secret (`MCPDIAG_CURSOR_SECRET`)."""
    return hmac.new(secret.encode(), b"mcpdiag cursor key v2", hashlib.sha256).digest()


class CursorCodec:
    """Encodes and checks the cursors of one deployment (one key)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, ts_ms: int, event_id: str, fingerprint: str) -> str:
        """The cursor resuming a listing after the event `(ts_ms, event_id)` of the query `fingerprint`."""
        payload = json.dumps([ts_ms, event_id, fingerprint], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def decode(self, cursor: str, fingerprint: str) -> tuple[int, str]:
        """`(ts_ms, event_id)` of a cursor; `InvalidCursorError` if malformed, forged or another query's."""
        if not cursor or len(cursor) > MAX_CURSOR_CHARS:
            raise InvalidCursorError("cursor is empty or too long")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursorError("cursor is not valid base64url") from exc
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidCursorError("cursor was modified, truncated or made elsewhere")
        try:
            ts_ms, event_id, bound = json.loads(payload)
        except (ValueError, TypeError) as exc:
            raise InvalidCursorError("cursor payload is malformed") from exc
        if (
            type(ts_ms) is not int
            or not 0 <= ts_ms <= _MAX_TS_MS
            or not isinstance(event_id, str)
            or not _EVENT_ID.fullmatch(event_id)
            or not isinstance(bound, str)
        ):
            raise InvalidCursorError("cursor payload is malformed")
        if bound != fingerprint:
            raise InvalidCursorError("cursor belongs to a different query; start again without a cursor")
        return ts_ms, event_id
