"""Fixtures of the failure zoo: loopback servers (once per module), an emitter per test, planted secrets."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trustme
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.sinks import MemorySink
from tests.e2e.oauth_server import OAuthZoo
from tests.e2e.servers import (
    PYTHON,
    SERVER_FILE,
    free_port,
    misbehaving_app,
    serve,
    wait_for_port,
    zoo_server,
)


@dataclass(frozen=True)
class Planted:
    """Secrets a scenario hands to the client; none may show up in an event."""

    token: str
    password: str
    bearer: str
    env_value: str

    @property
    def values(self) -> tuple[str, ...]:
        return (self.token, self.password, self.bearer, self.env_value)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"}

    def url(self, port: int, path: str, scheme: str = "http", host: str = "127.0.0.1") -> str:
        """A URL carrying the password in its userinfo and the token in its query."""
        return f"{scheme}://zoo:{self.password}@{host}:{port}{path}?token={self.token}"


@dataclass
class Capture:
    """An emitter writing to memory."""

    emitter: Emitter
    sink: MemorySink

    def events(self) -> list[dict[str, object]]:
        """Every event emitted so far."""
        assert self.emitter.flush(5)
        return list(self.sink.events)


@pytest.fixture
def planted() -> Planted:
    return Planted(*(secrets.token_hex(16) for _ in range(4)))


@pytest.fixture
def capture() -> Iterator[Capture]:
    sink = MemorySink()
    emitter = Emitter(sink, service="failure-zoo", flush_interval=0.01)
    yield Capture(emitter, sink)
    emitter.close(2)


@pytest.fixture(scope="module")
def mcp_port() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


@pytest.fixture(scope="module")
def eliciting_port() -> Iterator[int]:
    """The zoo server with a tool that needs a URL elicitation first."""
    with serve(zoo_server(elicits=True).streamable_http_app()) as port:
        yield port


@dataclass(frozen=True)
class Recording:
    """A real MCP server whose `traced_fail` tool records the `_meta.traceparent` of each call."""

    port: int
    received: list[str | None]


@pytest.fixture(scope="module")
def recording_server() -> Iterator[Recording]:
    received: list[str | None] = []
    with serve(zoo_server(received).streamable_http_app()) as port:
        yield Recording(port, received)


@pytest.fixture(scope="module")
def oauth_zoo() -> Iterator[tuple[int, OAuthZoo]]:
    """The OAuth-protected MCP server with its authorization server, and its port."""
    app = OAuthZoo()
    with serve(app) as port:
        yield port, app


@pytest.fixture(scope="session")
def otel_sdk() -> TracerProvider:
    """An OpenTelemetry SDK as the global tracer provider (settable once per process: kept for the session).

    Tests that run later see real spans too, which they must not mind: every event still carries a trace id.
    """
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider


@pytest.fixture(scope="module")
def bad_port() -> Iterator[int]:
    with serve(misbehaving_app) as port:
        yield port


@pytest.fixture(scope="module")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    with serve(misbehaving_app, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as port:
        yield port


@pytest.fixture
def server_process() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The zoo MCP server in its own process (so a test can kill it), and its port."""
    port = free_port()
    process = subprocess.Popen([PYTHON, SERVER_FILE, "http", str(port)])
    try:
        wait_for_port(port)
        yield port, process
    finally:
        process.kill()
        process.wait(5)
