"""`mcpdiag open`: a bundle loaded into a throwaway store and served read-only on loopback.

The bundle is decrypted (if it is an `.age` file) into a private temporary directory, verified (problems
are shown, not fatal: a damaged bundle is still worth reading) while it loads into a SQLite file in
another one, and served by the read-only viewer app until Ctrl-C; then both directories are removed. The
URL printed carries the support viewer's token in its fragment (never sent to the server; the UI keeps it
for the tab), so no other local user or web page can read the customer's data from the port.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from mcpdiag.api.viewer import create_viewer_app
from mcpdiag.bundle.crypt import DecryptionKeys, opened
from mcpdiag.bundle.load import load_bundle, read_info, viewer_store
from mcpdiag.bundle.verify import verify_bundle
from mcpdiag.cli.errors import CliError
from mcpdiag.cli.serving import loopback_socket, managed_server, stop_signals, wait_started
from mcpdiag.cli.settings import ServeSettings


def _socket(port: int) -> socket.socket:
    if port == 0:
        return loopback_socket()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise CliError(f"127.0.0.1:{port} is already in use; pick another with --port") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve_bundle(src: Path, keys: DecryptionKeys, *, port: int, say: Callable[[str], None]) -> None:
    """Open `src` and serve it until SIGINT/SIGTERM (see the module docstring)."""
    with opened(src, keys) as plain, tempfile.TemporaryDirectory(prefix="mcpdiag-view-") as tmp:
        info = read_info(plain, src.name)
        store = await viewer_store(Path(tmp) / "bundle.db", info)
        try:
            # Verified while it loads (hashing and inflating release the GIL): the report only warns.
            report, result = await asyncio.gather(
                asyncio.to_thread(verify_bundle, plain, shown_name=src.name),
                load_bundle(plain, store, name=src.name),
            )
            for problem in report.problems:
                say(f"warning: {problem.name}: {problem.detail}")
            app = create_viewer_app(store, result.info, loaded=result.loaded, skipped=result.skipped)
            sock = _socket(port)
            # Plain HTTP on loopback whatever MCPDIAG_TLS_* say: those are the deployment's, not this view's.
            limits = ServeSettings(_env_file=None, tls_cert_file=None, tls_key_file=None)
            server = managed_server(app, host="127.0.0.1", port=0, quiet=True, limits=limits)

            def stop() -> None:
                server.should_exit = True

            def force() -> None:
                server.force_exit = True

            with stop_signals(stop, force):
                task = asyncio.create_task(server.serve(sockets=[sock]))
                await wait_started(server, task)
                url = f"http://127.0.0.1:{sock.getsockname()[1]}"
                say(
                    f"bundle: {info.name} — {info.hostname}, {info.window_from} to {info.window_to}, "
                    f"{result.loaded:,} events"
                    + (f" ({result.skipped:,} unreadable lines skipped)" if result.skipped else "")
                )
                say(f"open: {url}/ui/#token={app.state.viewer_token}")
                say("read-only, signed in as a support viewer; Ctrl-C stops and deletes the loaded copy")
                await task
            sock.close()
        finally:
            await store.close()
