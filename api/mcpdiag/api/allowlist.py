"""`MCPDIAG_DOCTOR_ALLOW`: the internal addresses and host names an admin lets the doctor reach.

Comma-separated entries, each a CIDR (`10.20.0.0/16`, `fd00::/8`), an address (its /32 or /128) or a host name
(`mcp.corp.example`, or `*.corp.example` for any name under it). Anything else is refused when the settings
load, naming the entry, so a typo never silently opens (or closes) the doctor.
"""

from __future__ import annotations

import ipaddress
import re

from mcpdiag.emitters.redact import quoted

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_PATTERN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*\.?")
MAX_HOST_CHARS = 253


def allow_entries(text: str) -> tuple[tuple[Network, ...], frozenset[str]]:
    """The networks and the lower-case host patterns of an allow-list; `ValueError` naming the first entry
    that is neither."""
    networks: list[Network] = []
    hosts: set[str] = set()
    for raw in text.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.removeprefix("[").removesuffix("]"), strict=False))
            continue
        except ValueError:
            pass
        if len(entry) > MAX_HOST_CHARS or not _HOST_PATTERN.fullmatch(entry):
            raise ValueError(
                f"{quoted(raw.strip())} is neither a CIDR (10.0.0.0/8), an address nor a host name "
                "(mcp.corp.example, *.corp.example)"
            )
        hosts.add(entry)
    return tuple(networks), frozenset(hosts)
