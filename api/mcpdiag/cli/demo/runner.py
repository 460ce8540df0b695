"""`mcpdiag demo`: the service on a local SQLite store in dev mode, filled with diagnostics made the real way.

The demo runs, in one process and one event loop:

1. the service (API, collector, UI) under uvicorn on `host:port`, its store `sqlite:///<data-dir>/mcpdiag.db`,
   with a generated ingest key and JWT secret;
2. demo MCP servers on free loopback ports (see `servers.py`): github (healthy, with tools), docs-search
   (a "proxy" answering HTML), notion (OAuth that nobody completes), weather (never answers), jira (a host
   name that does not resolve), local-files (a stdio process that dies with a message on stderr);
3. a stand-in chat app: an `Emitter` shipping to the collector over HTTP and the official MCP SDK
   connecting Alice, Bob and server-wide connections to them (`scenarios.py`). Every event is real; the
   past day is filled by re-sending copies of those events with earlier timestamps (`history.py`);
4. a trickle: every 10-20 s one more scenario, until Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from mcpdiag.api.app import create_app
from mcpdiag.api.settings import ApiSettings
from mcpdiag.cli.demo.history import RecordingSink, WireEvent, post_events, spread_history
from mcpdiag.cli.demo.scenarios import SCENARIOS, DemoHost, trickle_step
from mcpdiag.cli.demo.servers import DEMO_SERVERS_HOST, DemoServers
from mcpdiag.cli.serving import ManagedServer, end_streams, managed_server, stop_signals, wait_started
from mcpdiag.cli.text import cli_console, shown, terminal_safe
from mcpdiag.collector.logging import configure_logging
from mcpdiag.collector.settings import CollectorSettings
from mcpdiag.emitters import Emitter, HttpSink

TRICKLE_S = (10.0, 20.0)
SIGN_IN = "Alice (end user), Bob (end user), Sam (support), Ada (admin) — pick one on the sign-in screen"


@dataclass
class DemoOptions:
    """What `mcpdiag demo` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    trickle: bool = True
    seed: int | None = None
    ingest_keys: tuple[str, ...] = ()
    """Keys the collector accepts; the first is the demo host's. None given: one generated for this run."""
    key_source: str = "generated for this run"


@dataclass
class Demo:
    """One demo run: the service, the demo servers, the host emitting diagnostics, and the trickle."""

    options: DemoOptions
    console: Console = field(default_factory=cli_console)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not self.options.ingest_keys:
            self.options.ingest_keys = (secrets.token_urlsafe(24),)

    @property
    def ingest_key(self) -> str:
        """The key the demo's own host sends with, and the one the banner offers to yours."""
        return self.options.ingest_keys[0]

    @property
    def base_url(self) -> str:
        """Where the service answers."""
        host = self.options.host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.options.port}"  # noqa: S104

    def service(self) -> ManagedServer:
        """The service's uvicorn server: dev mode, the demo's store, key and JWT secret. Its doctor may reach
        the demo's own MCP servers (on 127.0.0.1), so that Re-check and Test connection work on its cards,
        when the service listens on loopback only: served to a network, dev mode's open sign-in would let
        anyone there have the doctor probe this machine's ports."""
        data = self.options.data_dir.resolve()
        allow = DEMO_SERVERS_HOST if _loopback(self.options.host) else ""
        api = ApiSettings(dev_mode=True, jwt_secret=SecretStr(secrets.token_urlsafe(48)), doctor_allow=allow)
        collector = CollectorSettings(
            store_url=f"sqlite:///{data / 'mcpdiag.db'}",
            spool_dir=data / "spool",
            ingest_keys=frozenset(self.options.ingest_keys),
            batch_interval_ms=50,
        )
        app = create_app(api, collector)
        return managed_server(app, host=self.options.host, port=self.options.port, quiet=True)

    async def run(self) -> None:
        """Serve and fill until SIGINT/SIGTERM; then stop the trickle, servers, emitter and service."""
        started = time.monotonic()
        service = self.service()
        serving = asyncio.create_task(service.serve(), name="mcpdiag-service")

        def force() -> None:
            service.force_exit = True

        with stop_signals(self.stop.set, force):
            await wait_started(service, serving)
            self.options.port = service.port  # the port bound: `--port 0` asks for a free one
            self.console.print(
                f"mcpdiag demo: service ready at {shown(self.base_url)} in "
                f"{time.monotonic() - started:.1f} s; filling it with diagnostics…",
                highlight=False,
            )
            servers = DemoServers()
            emitter = Emitter(
                RecordingSink(HttpSink(self.base_url, api_key=self.ingest_key)),
                service="demo-chat-app",
                flush_interval=0.05,
            )
            host = DemoHost(emitter, servers, rng=random.Random(self.options.seed))
            work = asyncio.create_task(self._fill_and_trickle(host, started), name="mcpdiag-demo")
            stopped = asyncio.create_task(self.stop.wait())
            await asyncio.wait({work, stopped, serving}, return_when=asyncio.FIRST_COMPLETED)
            self.console.print("mcpdiag demo: stopping…", highlight=False)
            work.cancel()
            stopped.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            await host.close()
            await servers.stop()
            await emitter.aclose(5)
            end_streams(service)  # an open drawer's live stream would hold the shutdown for its grace period
            service.should_exit = True
            await serving
        self.console.print("mcpdiag demo: stopped", highlight=False)

    async def _fill_and_trickle(self, host: DemoHost, started: float) -> None:
        await host.servers.start()
        results = await asyncio.gather(*(s.run(host) for s in SCENARIOS), return_exceptions=True)
        await host.emitter.aflush(10)
        sink = host.emitter.sink
        assert isinstance(sink, RecordingSink)
        by_session: dict[tuple[str, str | None], list[WireEvent]] = defaultdict(list)
        for event in sink.take():
            by_session[(event["server"], event.get("userId"))].append(event)
        history = spread_history(
            [(by_session[(s.server, s.user_id)], s.history, s.window_h) for s in SCENARIOS], rng=host.rng
        )
        copied = await post_events(self.base_url, self.ingest_key, history)
        debug_ids = {s.server: r for s, r in zip(SCENARIOS, results, strict=True) if isinstance(r, str)}
        self._banner(time.monotonic() - started, copied, debug_ids.get("docs-search"))
        if not self.options.trickle:
            await self.stop.wait()  # keep serving what was filled until Ctrl-C
            return
        while True:
            await asyncio.sleep(host.rng.uniform(*TRICKLE_S))
            with contextlib.suppress(Exception):
                await trickle_step(host)

    def _banner(self, elapsed: float, copied: int, debug_id: str | None) -> None:
        console = self.console
        console.print(f"mcpdiag demo: filled in {elapsed:.1f} s ({copied:,} past events over the last 24 h)")
        console.print(f"\n  Open [bold]{shown(self.base_url)}/ui/[/bold]", highlight=False)
        console.print(f"  Sign in as: {shown(SIGN_IN)}", highlight=False)
        if debug_id:
            console.print(
                f"  As Sam, look up this Debug ID on the support page: [bold]{shown(debug_id)}[/bold]",
                highlight=False,
            )
        console.print(
            f"  API docs: {shown(self.base_url)}/docs    data: {shown(self.options.data_dir.resolve())}",
            highlight=False,
        )
        for line in host_snippet(self.base_url, self.ingest_key, self.options.key_source):
            console.print(terminal_safe(line), highlight=False, markup=False)
        trickle = "a new event every 10-20 s; " if self.options.trickle else ""
        console.print(f"\n  {shown(trickle)}Ctrl-C to stop.\n", highlight=False)


def host_snippet(base_url: str, key: str, source: str) -> list[str]:
    """What a newcomer pastes to point their own host at the demo: the key and the emitter's two lines."""
    return [
        "",
        f"  Point your own host at this demo (ingest key {source}):",
        f"    MCPDIAG_URL={base_url}",
        f"    MCPDIAG_INGEST_KEY={key}",
        "",
        "    from mcpdiag.emitters import Emitter, HttpSink",
        f'    emitter = Emitter(HttpSink("{base_url}", api_key="{key}"), service="my-chat-app")',
        "",
        f'  Other languages: OTLP/HTTP logs to {base_url}/v1/logs with "Authorization: Bearer {key}";',
        "  a fixed key across runs: mcpdiag demo --ingest-key KEY, or MCPDIAG_INGEST_KEYS=KEY.",
    ]


def quiet_logging() -> None:
    """Warnings only: the demo's console is for its banner (the MCP SDK would log every request)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The demo's failures are on purpose; the SDK's error logs about them would read like real trouble.
    for name in ("mcp", "httpx", "httpx2", "mcpdiag.emitters"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    configure_logging("WARNING")


def run_demo(options: DemoOptions) -> None:
    """Run the demo until Ctrl-C."""
    quiet_logging()
    asyncio.run(Demo(options).run())


def _loopback(host: str) -> bool:
    """Whether `host` (what the service binds) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
