"""Running uvicorn servers inside one event loop, with Ctrl-C / SIGTERM leading to a graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn

from mcpdiag.cli.httpguard import guarded_protocol
from mcpdiag.cli.settings import ServeSettings, get_serve_settings
from mcpdiag.collector.logging import stdlib_log_config

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACEFUL_SHUTDOWN_S = 10.0


class ManagedServer(uvicorn.Server):
    """A uvicorn server whose owner handles the signals, so several can share one event loop and the
    process exits 0 after a graceful shutdown (uvicorn's own handler re-raises the signal at the end)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handling to the owner."""
        yield

    @property
    def port(self) -> int:
        """The port the first listening socket is bound to (after startup)."""
        for server in self.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return int(self.config.port)


def managed_server(
    app: Any,
    *,
    host: str,
    port: int,
    quiet: bool = False,
    graceful_s: float = GRACEFUL_SHUTDOWN_S,
    limits: ServeSettings | None = None,
) -> ManagedServer:
    """A `ManagedServer` for `app` (lifespan on) within `limits` (default: the MCPDIAG_* settings);
    `quiet` keeps access logs and startup lines out."""
    limits = limits or get_serve_settings()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        http=guarded_protocol(limits.header_timeout_s, limits.max_connections),
        timeout_keep_alive=max(1, round(limits.keep_alive_s)),
        timeout_graceful_shutdown=int(graceful_s),
        ssl_certfile=limits.tls_cert_file,
        ssl_keyfile=limits.tls_key_file,
        log_level="warning" if quiet else "info",
        access_log=not quiet,
        log_config=None if quiet else stdlib_log_config(),
    )
    return ManagedServer(config)


def bind_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on now, in words, or None (checked first: uvicorn reports it with
    a traceback). A port in use is named as one; an address this machine does not have, as that."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use; pick another with --port"
            reason = exc.strerror or str(exc) or type(exc).__name__
            return f"cannot listen on {host}:{port}: {reason}; pick another --host"
    return None


def loopback_socket() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 and a free port (no race between choosing and binding)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def wait_started(server: ManagedServer, task: asyncio.Task[None], timeout: float = 30.0) -> None:
    """Wait until `server` accepts connections; raise if its task ends first or `timeout` passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped during startup")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the server did not start in time")
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None], on_force: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first SIGINT/SIGTERM/SIGHUP calls `on_stop`, a second one `on_force`."""
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def handle(sig: int) -> None:
        received.append(sig)
        (on_stop if len(received) == 1 else on_force)()

    # SIGHUP too (the terminal closed: `mcpdiag open` must still delete the decrypted bundle), unless it
    # is ignored (`nohup`), which a handler would undo.
    hangup = [signal.SIGHUP] if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN else []
    stops = [*STOP_SIGNALS, *hangup]
    for sig in stops:
        loop.add_signal_handler(sig, handle, sig)
    try:
        yield
    finally:
        for sig in stops:
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def serving(app: Any, limits: ServeSettings | None = None) -> AsyncIterator[str]:
    """`app` served quietly on 127.0.0.1 (a free port) inside this event loop; yields its base URL."""
    sock = loopback_socket()
    server = managed_server(app, host="127.0.0.1", port=0, quiet=True, limits=limits)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_started(server, task)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        end_streams(server)
        server.should_exit = True
        await task
        sock.close()


def end_streams(server: ManagedServer) -> None:
    """Tell the app's live streams to end: uvicorn's graceful shutdown waits for open connections, and a
    stream would otherwise hold it until the grace period runs out."""
    stopping = getattr(getattr(server.config.app, "state", None), "streams_stopping", None)
    if stopping is not None:
        stopping.set()


async def serve_until_stopped(server: ManagedServer) -> None:
    """Serve until SIGINT/SIGTERM, then shut down gracefully (a second signal forces it)."""

    def stop() -> None:
        end_streams(server)
        server.should_exit = True

    def force() -> None:
        server.force_exit = True

    with stop_signals(stop, force):
        await server.serve()
