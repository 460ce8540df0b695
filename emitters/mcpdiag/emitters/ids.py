"""Identifiers: time-sortable event ids and W3C trace ids."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds, 80 random bits, Crockford base32; sorts by time."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_trace_id() -> str:
    """A fresh random W3C trace id: 32 lowercase hex, never all zeros."""
    while True:
        value = os.urandom(16).hex()
        if value.strip("0"):
            return value
