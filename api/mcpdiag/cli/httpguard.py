"""Bounds uvicorn itself does not set: how long a client may take to send a request's headers, and how many
connections one process holds.

uvicorn waits for headers forever and accepts every connection, so a few thousand unfinished requests hold
a file descriptor each until the process cannot accept `/healthz` any more. The protocol classes here are
uvicorn's own (httptools when installed, else h11) with two additions:

- a **header timer**, armed when a connection opens and again after each response, cancelled when a
  request's headers are complete: a client that has not sent them in time gets `408` and is closed;
- a **connection cap**: past it, a new connection evicts the oldest one that is only waiting (for headers,
  or idle between keep-alive requests); when every connection is busy with a request, the new one is
  answered `503` and closed. Waiting connections cost the attacker, never the next real request.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn without the [standard] extra
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def _answer(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


_TIMED_OUT = _answer(408, "Request Timeout", "request_timeout", "the request headers did not arrive in time")
_FULL = _answer(503, "Service Unavailable", "overloaded", "too many open connections; retry shortly")


class _Guarded(asyncio.Protocol):
    """The additions, mixed in front of a uvicorn HTTP protocol class (which `super()` is, in the MRO).

    A subclass only says when a request's headers are complete (`_disarm`); the timer and the cap work the
    same on both protocols.
    """

    header_timeout_s: float = 10.0
    max_connections: int = 1000
    # Set by uvicorn's protocol classes, which this is mixed into.
    transport: asyncio.Transport
    connections: set[Any]
    loop: asyncio.AbstractEventLoop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting_since: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._admit():
            self.transport.write(_FULL)
            self.transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        # A pipelined request may already be running after a response: its headers came long ago.
        if self._idle() and not self.transport.is_closing():
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_since = time.monotonic()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_timed_out)

    def _disarm(self) -> None:
        self._waiting_since = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _idle(self) -> bool:
        """No request in flight on this connection (waiting for one, or between keep-alive requests)."""
        cycle = getattr(self, "cycle", None)
        return cycle is None or bool(cycle.response_complete)

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self._waiting_since is not None and self._idle() and not self.transport.is_closing():
            self.transport.write(_TIMED_OUT)
            self.transport.close()

    def _admit(self) -> bool:
        """Make room for this connection under the cap; False when it must be turned away."""
        if len(self.connections) <= self.max_connections:
            return True
        waiting = [
            c
            for c in self.connections
            if c is not self
            and getattr(c, "_waiting_since", None) is not None
            and c._idle()
            and not c.transport.is_closing()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._waiting_since)
        oldest._disarm()
        oldest.transport.close()
        return True


class GuardedH11Protocol(_Guarded, H11Protocol):
    """uvicorn's h11 protocol with a header timer and a connection cap."""

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers were complete: a new cycle started
            self._disarm()


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):
        """uvicorn's httptools protocol with a header timer and a connection cap."""

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[asyncio.Protocol]:
    """The HTTP protocol class uvicorn should use (`uvicorn.Config(http=...)`) with these bounds."""
    base: type[Any] = GuardedHttpToolsProtocol if HttpToolsProtocol is not None else GuardedH11Protocol
    bounds = {"header_timeout_s": header_timeout_s, "max_connections": max_connections}
    return type(base.__name__, (base,), bounds)
