"""Loopback stubs and certificates for the doctor tests: counting servers, broken MCP endpoints, TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.e2e.servers import serve


@dataclass
class Counting:
    """A stub that counts every request it receives; `/redirect?to=URL` answers 307 to URL."""

    seen: list[str] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        self.seen.append(f"{request.method} {request.url.path}")
        target = request.query_params.get("to")
        if request.url.path == "/redirect" and target:
            response = Response("", 307, {"Location": target})
        elif request.url.path == "/echo-auth":
            body = f"<html>blocked for {request.headers.get('authorization')}</html>"
            response = Response(body, 502, media_type="text/html")
        else:
            response = Response("hello", 200, media_type="text/plain")
        await response(scope, receive, send)


async def _jsonrpc(request: Request) -> Response:
    """`/garbage`: initialize answered with JSON that is not JSON-RPC. `/tools-fail`: tools/list errors."""
    if request.method != "POST":
        return Response(status_code=405)
    message = await request.json()
    if "id" not in message:
        return Response(status_code=202)
    if request.url.path == "/garbage":
        return JSONResponse({"hello": "this is not JSON-RPC"})
    if message["method"] == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "tools-fail", "version": "0.1"},
        }
        return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": result})
    error = {"code": -32603, "message": "tool registry unavailable"}
    return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "error": error})


broken_mcp_app = Starlette(
    routes=[Route(path, _jsonrpc, methods=["GET", "POST", "DELETE"]) for path in ("/garbage", "/tools-fail")]
)


@dataclass(frozen=True)
class TlsServers:
    """https ports: a self-signed, an expired, an expiring and a healthy certificate (all for 127.0.0.1)."""

    self_signed: int
    expired: int
    expiring: int
    trusted: int
    ca: trustme.CA

    def trust(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def _write(folder: Path, name: str, cert_pem: bytes, key_pem: bytes) -> tuple[str, str]:
    certfile, keyfile = folder / f"{name}.pem", folder / f"{name}.key"
    certfile.write_bytes(cert_pem)
    keyfile.write_bytes(key_pem)
    return str(certfile), str(keyfile)


def self_signed_pem() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 that signs itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "self-signed.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@contextmanager
def tls_servers(folder: Path, app: Callable[[], Any]) -> Iterator[TlsServers]:
    """A fresh `app()` served over https four times, with the four certificates of `TlsServers`."""
    ca = trustme.CA()
    now = dt.datetime.now(dt.UTC)
    leaves = {
        "expired": ca.issue_cert(
            "127.0.0.1", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        ),
        "expiring": ca.issue_cert("127.0.0.1", not_after=now + dt.timedelta(days=5)),
        "trusted": ca.issue_cert("127.0.0.1"),
    }
    files = {"self_signed": _write(folder, "self", *self_signed_pem())}
    for name, leaf in leaves.items():
        files[name] = _write(folder, name, leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes())
    with (
        serve(app(), ssl_certfile=files["self_signed"][0], ssl_keyfile=files["self_signed"][1]) as a,
        serve(app(), ssl_certfile=files["expired"][0], ssl_keyfile=files["expired"][1]) as b,
        serve(app(), ssl_certfile=files["expiring"][0], ssl_keyfile=files["expiring"][1]) as c,
        serve(app(), ssl_certfile=files["trusted"][0], ssl_keyfile=files["trusted"][1]) as d,
    ):
        yield TlsServers(a, b, c, d, ca)
