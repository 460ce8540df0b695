"""SSRF guard: which addresses the doctor may connect to, and an httpx2 transport that enforces it.

Every connection re-resolves its host and re-checks every address right before connecting, then connects
to a vetted address (the Host header and TLS SNI keep the name). A name that resolves to a public address
for the first check and to 127.0.0.1 for the second (DNS rebinding), or a redirect to a private address,
is refused before any byte reaches it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore2
import httpx2

from mcpdiag.emitters.mcp import host_allowed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves a host name and port to IP address strings; raises `socket.gaierror` when it does not resolve."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (`getaddrinfo`), addresses in its order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressRefusedError(ConnectionError):
    """The doctor refused to connect: the address is not public and the host is not allowed. `host` and
    `address`: the connection refused (None for one that names no address, such as a unix socket)."""

    def __init__(self, message: str, host: str | None = None, address: str | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.address = address


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Private, loopback, link-local and metadata addresses are refused unless allowed: by host name
    (`allowed_domains`, exact or `*.example.com`), by address (`allowed_networks`, the CIDRs an admin lists
    for internal MCP servers), or all of them (`allow_private`, for development)."""

    allow_private: bool = False
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    allowed_networks: tuple[Network, ...] = ()

    def refusal(self, host: str, address: str) -> str | None:
        """Why `host` at `address` may not be reached, or None when it may."""
        if self.allow_private or host_allowed(host, self.allowed_domains):
            return None
        kind, carried = _judge(address)
        if kind == "public" or self.network_allowed(address):
            return None
        return f"{address} is a {kind} address" + (
            f" (it carries the IPv4 address {carried})" if carried else ""
        )

    def network_allowed(self, address: str) -> bool:
        """Whether `address` (or the IPv4 address an IPv6 form carries: the same destination) is in one of
        `allowed_networks`."""
        if not self.allowed_networks:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            candidates += embedded_ipv4(ip)
        return any(c.version == n.version and c in n for c in candidates for n in self.allowed_networks)

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """Raise `AddressRefusedError` if any of `host`'s addresses may not be reached."""
        for address in addresses:
            if (reason := self.refusal(host, address)) is not None:
                raise AddressRefusedError(f"refused {host}: {reason}", host, address)


# IPv6 forms that carry an IPv4 address in their low 32 bits; traffic to them ends up at that IPv4 address
# (a translator, a tunnel, or the host's own stack), so they are judged by it.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: DNS64 answers it
_LOW32_FORMS = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated; never a real destination)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # SIIT "IPv4-translated" (RFC 2765)
)
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use translators
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_ISATAP_IDS = (0x0000_5EFE, 0x0200_5EFE)
# The IANA registry marks all of 192.0.0.0/24 non-global; Python 3.11's table only knows two pieces of it.
_IETF_ASSIGNMENTS = ipaddress.IPv4Network("192.0.0.0/24")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries: mapped, IPv4-compatible, SIIT, NAT64 (well-known and
    local-use /48), 6to4, Teredo (server and client) and ISATAP forms."""
    found: list[ipaddress.IPv4Address] = []
    value = int(ip)
    low32 = ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64 or (value > 1 and any(ip in form for form in _LOW32_FORMS)):  # not :: or ::1
        found.append(low32)
    if ip in _NAT64_LOCAL:  # RFC 6052 /48 layout: 16 bits, the u-octet, 16 bits
        found.append(ipaddress.IPv4Address((value >> 64 & 0xFFFF) << 16 | (value >> 40 & 0xFFFF)))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if value >> 32 & 0xFFFF_FFFF in _ISATAP_IDS:
        found.append(low32)
    return found


def address_kind(address: str) -> str:
    """`public`, or what makes an address off limits: loopback, private, link-local (metadata), ...

    An IPv6 address that carries an IPv4 address is off limits when the IPv4 address is; beyond that, IPv6
    is public only in global unicast (2000::/3) outside the ranges `ipaddress` knows to be special.
    """
    return _judge(address)[0]


def _judge(address: str) -> tuple[str, ipaddress.IPv4Address | None]:
    """The kind of `address`, and the embedded IPv4 address that decided it (if one did)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "malformed", None
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_kind(ip), None
    for inner in embedded_ipv4(ip):
        if (inner_kind := _ipv4_kind(inner)) != "public":
            return inner_kind, inner
    if ip.ipv4_mapped is not None:
        return "public", None  # the host's own stack sends it as that (public) IPv4 address
    if (kind := _special_kind(ip)) is not None:
        return kind, None
    if ip in _NAT64 or ip.sixtofour is not None:
        return "public", None  # a public IPv4 address behind a translator or a 6to4 relay
    if any(ip in form for form in (*_LOW32_FORMS, _NAT64_LOCAL)):
        return "reserved", None
    return ("public" if ip in _GLOBAL_UNICAST and ip.is_global else "reserved"), None


def _ipv4_kind(ip: ipaddress.IPv4Address) -> str:
    kind = _special_kind(ip)
    if kind is not None:
        return kind
    return "public" if ip.is_global and ip not in _IETF_ASSIGNMENTS else "reserved"


def _special_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_reserved and isinstance(ip, ipaddress.IPv4Address):
        return "reserved"
    if ip.is_private:
        return "private"
    return None


def is_ip_literal(host: str) -> bool:
    """Whether `host` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int, resolver: Resolver) -> list[str]:
    """The addresses of `host` (itself when it is an IP literal); `socket.gaierror` when none."""
    if is_ip_literal(host):
        return [host.strip("[]")]
    addresses = await resolver(host, port)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return addresses


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """A network backend that resolves, vets and pins every TCP connection."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Connect to the first reachable vetted address of `host`."""
        addresses = await resolve(host, port, self._resolver)
        self._policy.check(host, addresses)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        """Never: a doctor run only speaks TCP."""
        raise AddressRefusedError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running event loop."""
        await self._inner.sleep(seconds)


def guarded_transport(
    policy: AddressPolicy, resolver: Resolver, ssl_context: ssl.SSLContext
) -> httpx2.AsyncHTTPTransport:
    """An httpx2 transport whose every connection goes through `GuardedBackend` (no proxy from the env)."""
    transport = httpx2.AsyncHTTPTransport(verify=ssl_context, trust_env=False)
    # httpx2 offers no parameter for the network backend: swap in a pool built with ours.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=ssl_context, network_backend=GuardedBackend(policy, resolver)
    )
    return transport
