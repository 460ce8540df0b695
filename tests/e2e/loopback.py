"""Loopback plumbing for the end-to-end tests: an ASGI app under uvicorn on a chosen port (so a test can
stop it and bring it back on the same port), and raw-socket HTTP/1.1 for requests no client library sends."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from tests.e2e.servers import free_port, wait_for_port


@contextlib.contextmanager
def serve_on(app: Any, port: int | None = None, **config: Any) -> Iterator[int]:
    """`app` under uvicorn on 127.0.0.1:`port` (a free one by default) in a thread; yields the port.

    Leaving the block shuts the server down: the port is closed again.
    """
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            **config,
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    wait_for_port(port)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not shut down"


@dataclass(frozen=True)
class RawAnswer:
    """What came back on a raw connection: the status (None if the server closed without answering)."""

    status: int | None
    head: bytes
    body: bytes
    sent: int
    """Body bytes the client managed to send before the answer (or the close)."""


def raw_exchange(
    port: int, head: bytes, chunks: Iterable[bytes], *, pause: float = 0.0, timeout: float = 20.0
) -> RawAnswer:
    """Send `head`, then `chunks` one by one (waiting `pause` between them) until the server answers or
    closes; then read the answer. Bounded by `chunks` and `timeout`."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], pause)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += len(chunk)
        return _read_answer(sock, sent, timeout)


def _read_answer(sock: socket.socket, sent: int, timeout: float) -> RawAnswer:
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            part = b""
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return RawAnswer(None, head, body, sent)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length and time.monotonic() < deadline:
        try:
            part = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not part:
            break
        body += part
    return RawAnswer(int(head.split(b" ")[1]), head, body, sent)


def request_head(path: str, key: str, headers: dict[str, str]) -> bytes:
    """An HTTP/1.1 POST request head for 127.0.0.1 with the ingest key."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"X-API-Key: {key}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
