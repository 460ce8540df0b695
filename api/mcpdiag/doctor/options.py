"""How a doctor run is configured, and the target it probes."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import httpx2

from mcpdiag.doctor.netguard import AddressPolicy, Network, Resolver, is_ip_literal, system_resolver

DoctorTransport = Literal["streamable-http", "sse"]
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    """Transport, headers (secrets: never echoed), the address policy, the time bound and the trust store.

    `resolver` and `ssl_context` are the boundary tests fake: a resolver that maps a test name to
    127.0.0.1, a context trusting a test CA. The defaults are the system resolver and httpx2's trust store.
    """

    transport: DoctorTransport = "streamable-http"
    headers: Mapping[str, str] = field(default_factory=dict)
    policy: AddressPolicy = field(default_factory=AddressPolicy)
    timeout_s: float = 20.0
    resolver: Resolver = system_resolver
    ssl_context: ssl.SSLContext | None = None

    def trust(self) -> ssl.SSLContext:
        """The TLS context every step uses (verifies certificates and host names)."""
        return self.ssl_context or httpx2.create_ssl_context()


class TargetError(ValueError):
    """The URL cannot be probed at all (not http/https, no host)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The URL being probed, taken apart."""

    url: str
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Target:
        """Split `url`; `TargetError` unless it is an absolute http(s) URL with a host."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            # Not the parser's message: it quotes what it could not read, which is a password with an
            # unescaped `/` in `http://user:pa/ss@host` (the text up to the `/` taken for a port).
            raise TargetError(
                "url: is not a valid URL: a port must be a number, and a ':', '/' or '@' in a user name or "
                "password must be percent-escaped"
            ) from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise TargetError("url: must start with http:// or https://")
        if not parts.hostname:
            raise TargetError("url: has no host name")
        return cls(url.strip(), scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80))

    @property
    def tls(self) -> bool:
        """Whether the URL is https."""
        return self.scheme == "https"

    @property
    def loopback(self) -> bool:
        """Whether the host is this machine (plain HTTP is fine there)."""
        if self.host in LOOPBACK_NAMES or self.host.endswith(".localhost"):
            return True
        return is_ip_literal(self.host) and (self.host.startswith("127.") or self.host.strip("[]") == "::1")

    @property
    def origin(self) -> str:
        """`scheme://host:port` for discovery URLs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def policy_from(
    allow_private: bool, allowed_domains: object, allowed_networks: Iterable[Network] = ()
) -> AddressPolicy:
    """An `AddressPolicy` from settings values: host patterns as a set or a comma-separated string, and the
    networks (CIDRs) whose addresses may be reached although they are not public."""
    if isinstance(allowed_domains, str):
        domains = {d.strip().lower() for d in allowed_domains.split(",") if d.strip()}
    elif isinstance(allowed_domains, set | frozenset | list | tuple):
        domains = {str(d).strip().lower() for d in allowed_domains if str(d).strip()}
    else:
        domains = set()
    return AddressPolicy(
        allow_private=allow_private,
        allowed_domains=frozenset(domains),
        allowed_networks=tuple(allowed_networks),
    )
