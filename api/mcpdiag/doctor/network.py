"""The network layers: `dns` (resolve and vet), `tcp` (connect), `tls` (handshake and certificate)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509

from mcpdiag.doctor.netguard import AddressRefusedError, address_kind, resolve
from mcpdiag.doctor.options import DoctorOptions, Target
from mcpdiag.doctor.report import EXPIRY_WARNING_DAYS, Outcome, StepFailed
from mcpdiag.emitters.mcp import host_key

_SHOWN_ADDRESSES = 4
_ALLOW_HINT = (
    "an admin can allow an internal server: its address, network or host name in MCPDIAG_DOCTOR_ALLOW"
)


async def dns_step(target: Target, options: DoctorOptions) -> tuple[Outcome, list[str]]:
    """Resolve the host and refuse it when any address is off limits (before any packet is sent)."""
    try:
        addresses = await resolve(target.host, target.port, options.resolver)
    except (OSError, UnicodeError) as exc:
        raise StepFailed(
            "MCP_DNS_FAILURE",
            f"The name {target.host} does not resolve. Check the spelling of the server address.",
            f"getaddrinfo({target.host!r}): {type(exc).__name__}: {exc}",
        ) from exc
    for address in addresses:
        if (reason := options.policy.refusal(target.host, address)) is not None:
            raise StepFailed(
                "MCP_DOMAIN_NOT_ALLOWED",
                _points_to(target.host, address),
                f"{reason}; no request was sent ({_ALLOW_HINT})",
                refused=True,
            )
    shown = ", ".join(addresses[:_SHOWN_ADDRESSES]) + (" …" if len(addresses) > _SHOWN_ADDRESSES else "")
    if addresses == [target.host.strip("[]")]:
        return Outcome(f"{target.host} is an IP address: no lookup needed."), addresses
    return Outcome(f"{target.host} resolves to {shown}.", f"addresses: {', '.join(addresses)}"), addresses


def connection_refused(target_host: str, refused: AddressRefusedError) -> StepFailed:
    """A later step's connection that the address policy refused (the `dns` step had let the name pass):
    to the name under test, which now points elsewhere (DNS rebinding, or a record that changed), or to
    where the server redirected."""
    host, address = refused.host, refused.address
    if host is not None and address is not None and host_key(host) == host_key(target_host):
        summary = _points_to(host, address, since=" now (the first lookup found an address it may reach)")
    else:
        summary = "Refused: the server redirected to an address the connection test may not reach."
    detail = f"{refused}; no request was sent there ({_ALLOW_HINT})"
    return StepFailed("MCP_DOMAIN_NOT_ALLOWED", summary, detail, refused=True)


def _points_to(host: str, address: str, since: str = "") -> str:
    return (
        f"Refused: {host} points to a {address_kind(address)} address{since}. "
        "The connection test only reaches public addresses and those an admin allowed."
    )


async def tcp_step(target: Target, addresses: list[str], timeout: float) -> tuple[Outcome, str]:
    """Open a TCP connection to the first address that accepts one."""
    failures: list[str] = []
    timed_out = False
    for address in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, target.port), timeout)
        except TimeoutError:
            timed_out = True
            failures.append(f"{address}: timed out after {timeout:.0f} s")
            continue
        except OSError as exc:
            failures.append(f"{address}: {type(exc).__name__} (errno {exc.errno}) {exc.strerror or ''}")
            continue
        await _close(writer)
        return Outcome(f"Connected to {address} port {target.port}."), address
    code = "MCP_TIMEOUT" if timed_out and len(failures) == 1 else "MCP_CONNECTION_REFUSED"
    summary = (
        f"Connecting to {target.host} port {target.port} timed out."
        if code == "MCP_TIMEOUT"
        else f"Nothing accepts connections at {target.host} port {target.port}. Is the server running?"
    )
    raise StepFailed(code, summary, "\n".join(failures))


async def tls_step(target: Target, address: str, options: DoctorOptions, timeout: float) -> Outcome:
    """Handshake with certificate and host name verification; report the certificate and its expiry."""
    if not target.tls:
        if target.loopback:
            return Outcome("Plain HTTP on this machine: no TLS needed.", status="skipped")
        return Outcome(
            "Plain HTTP: traffic to this server is not encrypted (tokens included). Prefer https://.",
            status="warn",
        )
    try:
        der, version = await _handshake(target, address, options.trust(), timeout)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or "verification failed"
        shown = ""
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            der, _ = await _handshake(target, address, _unverified(), timeout)
            shown = _describe(der)
        raise StepFailed(
            "MCP_TLS_ERROR",
            f"The server's certificate is not trusted: {reason}.",
            f"verify code {exc.verify_code}: {reason}\n{shown}".strip(),
        ) from exc
    except ssl.SSLError as exc:
        raise await _not_tls(target, address, timeout, f"{type(exc).__name__}: {exc.reason or exc}") from exc
    except TimeoutError as exc:
        raise StepFailed("MCP_TIMEOUT", "The secure (TLS) handshake timed out.") from exc
    except OSError as exc:
        raise await _not_tls(target, address, timeout, f"{type(exc).__name__}: {exc}") from exc
    cert = x509.load_der_x509_certificate(der)
    days = (cert.not_valid_after_utc - datetime.now(UTC)).total_seconds() / 86400
    subject, issuer = _name(cert.subject), _name(cert.issuer)
    until = cert.not_valid_after_utc.date().isoformat()
    summary = f"{version}: certificate for {subject} issued by {issuer}, valid until {until}."
    if days < EXPIRY_WARNING_DAYS:
        return Outcome(
            f"The certificate expires in {max(days, 0):.0f} days ({until}): renew it soon. {summary}",
            _describe(der),
            status="warn",
        )
    return Outcome(summary, _describe(der))


async def _not_tls(target: Target, address: str, timeout: float, why: str) -> StepFailed:
    """The failure of a handshake that never got to a certificate: named for what the port speaks."""
    if await _speaks_plain_http(target, address, timeout):
        return StepFailed(
            "MCP_TLS_ERROR",
            f"This port speaks plain HTTP, not HTTPS: use {_as_http(target)} (or serve TLS on it).",
            f"{why}\na plain HTTP request to port {target.port} got an HTTP answer",
        )
    return StepFailed(
        "MCP_TLS_ERROR",
        f"Port {target.port} does not complete a TLS handshake: it is not serving HTTPS (or something in the "
        "way cuts the connection).",
        why,
    )


async def _speaks_plain_http(target: Target, address: str, timeout: float) -> bool:
    """Whether the port answers a plain `HEAD /` like an HTTP server (reads five bytes: `HTTP/`)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, target.port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        host = f"[{target.host}]" if ":" in target.host else target.host
        writer.write(f"HEAD / HTTP/1.1\r\nHost: {host}:{target.port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(len(b"HTTP/")), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        await _close(writer)
    return head.startswith(b"HTTP/")


def _as_http(target: Target) -> str:
    """The URL with http:// and the same port (which is not 80), without user info or query."""
    parts = urlsplit(target.url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"http://{host}:{target.port}{parts.path}"


async def _handshake(
    target: Target, address: str, context: ssl.SSLContext, timeout: float
) -> tuple[bytes, str]:
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(address, target.port, ssl=context, server_hostname=target.host), timeout
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        version = str(ssl_object.version()) if ssl_object is not None else "TLS"
    finally:
        await _close(writer)
    if not der:
        raise ssl.SSLError("the server sent no certificate")
    return der, version


def _unverified() -> ssl.SSLContext:
    # Only to show the certificate that just failed verification: nothing is sent over this connection.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    organization = name.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    chosen = common or organization
    return str(chosen[0].value) if chosen else name.rfc4514_string() or "(empty name)"


def _describe(der: bytes) -> str:
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = ", ".join(str(n.value) for n in names)
    except x509.ExtensionNotFound:
        sans = "none"
    return (
        f"subject: {cert.subject.rfc4514_string()}\nissuer: {cert.issuer.rfc4514_string()}\n"
        f"valid: {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()}\n"
        f"names: {sans}"
    )


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1)
