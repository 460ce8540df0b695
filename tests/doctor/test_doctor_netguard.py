"""The doctor's address policy: IPv6 forms that embed an IPv4 address (mapped, IPv4-compatible, SIIT, NAT64,
6to4, Teredo, ISATAP) are judged by the address they embed, and IPv6 is public only in global unicast."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpdiag.doctor import AddressPolicy
from mcpdiag.doctor.netguard import address_kind, embedded_ipv4

# Where refused IPv4 addresses live (IANA special-purpose registry), so that examples are not all public.
_SPECIAL_V4 = [ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
)]  # fmt: skip


@st.composite
def ipv4s(draw: st.DrawFn) -> ipaddress.IPv4Address:
    """Any IPv4 address, half of the time one from a special-purpose block."""
    if draw(st.booleans()):
        return ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    network = draw(st.sampled_from(_SPECIAL_V4))
    return network[draw(st.integers(0, network.num_addresses - 1))]


def _v6(value: int) -> str:
    return str(ipaddress.IPv6Address(value))


def embeddings(v4: ipaddress.IPv4Address, noise: int, other: ipaddress.IPv4Address) -> dict[str, str]:
    """Every IPv6 spelling that carries `v4` (noise fills the bits a form leaves free)."""
    n = int(v4)
    low16 = noise & 0xFFFF
    return {
        "mapped": _v6(0xFFFF << 32 | n),
        "ipv4-compatible": _v6(n),
        "siit": _v6(0xFFFF << 48 | n),
        "nat64": _v6(0x0064FF9B << 96 | n),
        # RFC 6052 with a /48 prefix: 16 bits, the zero u-octet, then 16 bits, then a suffix.
        "nat64-local": _v6(
            0x0064FF9B0001 << 80 | (n >> 16) << 64 | (n & 0xFFFF) << 40 | (noise & 0xFFFFFFFFFF)
        ),
        "6to4": _v6(0x2002 << 112 | n << 80 | (noise & ((1 << 80) - 1))),
        "teredo-server": _v6(0x20010000 << 96 | n << 64 | low16 << 48 | (int(other) ^ 0xFFFFFFFF)),
        "teredo-client": _v6(0x20010000 << 96 | int(other) << 64 | low16 << 48 | (n ^ 0xFFFFFFFF)),
        "isatap": _v6((0x2001_4860_0000_0000 | (noise & 0xFFFF)) << 64 | 0x5EFE << 32 | n),
        "isatap-global": _v6((0x2001_4860_0000_0000 | (noise & 0xFFFF)) << 64 | 0x0200_5EFE << 32 | n),
    }


@settings(max_examples=400, deadline=None, derandomize=True)
@given(ipv4s(), st.integers(0, (1 << 80) - 1), st.ip_addresses(v=4))
def test_every_ipv6_form_of_a_refused_ipv4_address_is_refused(
    v4: ipaddress.IPv4Address, noise: int, other: ipaddress.IPv4Address
) -> None:
    policy = AddressPolicy()
    if policy.refusal("h.test", str(v4)) is None:
        return
    for form, address in embeddings(v4, noise, other).items():
        assert policy.refusal("h.test", address) is not None, (form, address, v4)
        if address not in ("::", "::1"):  # the IPv6 unspecified and loopback addresses, refused as such
            assert v4 in embedded_ipv4(ipaddress.IPv6Address(address)), (form, address)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.ip_addresses(v=4))
def test_a_public_ipv4_address_stays_reachable_through_mapping_nat64_and_6to4(
    v4: ipaddress.IPv4Address,
) -> None:
    """DNS64 answers 64:ff9b::/96 for IPv4-only hosts: refusing those would break IPv6-only clusters."""
    if address_kind(str(v4)) != "public":
        return
    forms = embeddings(v4, 0x1234, ipaddress.IPv4Address("8.8.8.8"))
    for form in ("mapped", "nat64", "6to4"):
        assert address_kind(forms[form]) == "public", (form, forms[form])


@pytest.mark.parametrize(
    ("address", "kind"),
    [("::7f00:1", "loopback"), ("::ffff:0:7f00:1", "loopback"), ("64:ff9b::7f00:1", "loopback"),
     ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"), ("64:ff9b::a00:1", "private"),
     ("2002:7f00:1::", "loopback"), ("2002:a00:1::1", "private"), ("::808:808", "reserved"),
     ("::ffff:0:808:808", "reserved"), ("64:ff9b:1:808:8:800::", "reserved"), ("ff02::1", "multicast"),
     ("ff0e::1", "multicast"), ("fec0::1", "site-local"), ("100::1", "private"), ("2001:db8::1", "private"),
     ("4000::1", "reserved"), ("192.0.0.8", "reserved"), ("240.0.0.1", "reserved"),
     ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "private"),
     ("2001:4860:4860::8888", "public"), ("64:ff9b::808:808", "public"), ("2002:808:808::1", "public"),
     ("::ffff:8.8.8.8", "public")],
)  # fmt: skip
def test_address_kinds_of_special_ipv6_forms(address: str, kind: str) -> None:
    assert address_kind(address) == kind


def test_a_refusal_names_the_embedded_address() -> None:
    reason = AddressPolicy().refusal("h.test", "64:ff9b::7f00:1")
    assert reason is not None and "127.0.0.1" in reason and "loopback" in reason
