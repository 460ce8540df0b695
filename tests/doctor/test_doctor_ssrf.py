"""SSRF: with default settings the doctor refuses loopback, private, link-local and metadata addresses,
names resolving to them, and redirects to them, before any request reaches the target."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpcore2
import pytest
from starlette.responses import Response

from mcpdiag.doctor import AddressPolicy, AddressRefusedError, DoctorOptions, run_doctor
from mcpdiag.doctor.netguard import GuardedBackend, address_kind
from tests.doctor.doctor_support import Counting
from tests.e2e.servers import serve


@pytest.fixture
def stub() -> Iterator[tuple[int, Counting]]:
    app = Counting()
    with serve(app) as port:
        yield port, app


def fake_dns(names: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """A resolver for test names (the boundary is DNS itself); anything else does not resolve."""

    async def resolve(host: str, port: int) -> list[str]:
        if host in names:
            return names[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return resolve


async def test_loopback_is_refused_before_any_request(stub: tuple[int, Counting]) -> None:
    port, app = stub
    report = await run_doctor(f"http://127.0.0.1:{port}/mcp", DoctorOptions())
    assert (report.failed_step, report.code) == ("dns", "MCP_DOMAIN_NOT_ALLOWED")
    assert report.refused, "the doctor's own policy, not the server"
    assert "loopback" in report.step("dns").summary and "public" in report.step("dns").summary
    # The way out it names is the setting that takes addresses and networks (the older ones do not).
    detail = report.step("dns").detail or report.step("dns").summary
    assert (
        "MCPDIAG_DOCTOR_ALLOW" in detail and "ALLOW_PRIVATE" not in detail and "ALLOWED_DOMAINS" not in detail
    )
    assert report.step("tcp").status == "skipped"
    assert app.seen == []


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://10.20.30.40/mcp", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:8080/mcp", "loopback"),
        ("http://[::ffff:127.0.0.1]/mcp", "loopback"),
        ("http://0.0.0.0/mcp", "unspecified"),
    ],
)
async def test_private_and_metadata_addresses_are_refused(url: str, kind: str) -> None:
    report = await run_doctor(url, DoctorOptions(timeout_s=3))
    assert (report.failed_step, report.code) == ("dns", "MCP_DOMAIN_NOT_ALLOWED")
    assert report.refused, "the doctor's own policy, not the server"
    assert kind in report.step("dns").summary


async def test_a_name_that_resolves_nowhere_fails_at_dns_without_traffic() -> None:
    report = await run_doctor("http://nowhere.doctor-ssrf.invalid/mcp", DoctorOptions())
    assert (report.failed_step, report.code) == ("dns", "MCP_DNS_FAILURE")


async def test_a_name_resolving_to_loopback_is_refused(stub: tuple[int, Counting]) -> None:
    port, app = stub
    options = DoctorOptions(resolver=fake_dns({"innocent.example.test": ["93.184.216.34", "127.0.0.1"]}))
    report = await run_doctor(f"http://innocent.example.test:{port}/mcp", options)
    assert (report.failed_step, report.code) == ("dns", "MCP_DOMAIN_NOT_ALLOWED")  # every address counts
    assert report.refused, "the doctor's own policy, not the server"
    assert app.seen == []


async def test_a_redirect_from_an_allowed_host_to_loopback_is_refused() -> None:
    first, second = Counting(), Counting()
    with serve(first) as port1, serve(second) as port2:
        options = DoctorOptions(
            policy=AddressPolicy(allowed_domains=frozenset({"mcp.example.test"})),
            resolver=fake_dns({"mcp.example.test": ["127.0.0.1"]}),
        )
        target = f"http://127.0.0.1:{port2}/mcp"
        report = await run_doctor(f"http://mcp.example.test:{port1}/redirect?to={target}", options)
    assert (report.failed_step, report.code) == ("http", "MCP_DOMAIN_NOT_ALLOWED"), report.to_dict()
    assert report.refused, "the doctor's own policy, not the server"
    assert "redirected" in report.step("http").summary
    assert first.seen == ["POST /redirect"] and second.seen == []


async def test_every_connection_is_vetted_again_right_before_connecting() -> None:
    """DNS rebinding: whatever an earlier lookup said, the address being connected to is checked."""
    backend = GuardedBackend(AddressPolicy(), fake_dns({"rebind.example.test": ["127.0.0.1"]}))
    with pytest.raises(AddressRefusedError):
        await backend.connect_tcp("rebind.example.test", 80)
    with pytest.raises(AddressRefusedError):
        await backend.connect_unix_socket("/var/run/docker.sock")
    assert isinstance(backend, httpcore2.AsyncNetworkBackend)


@pytest.mark.parametrize(
    ("address", "kind"),
    [("8.8.8.8", "public"), ("127.0.0.2", "loopback"), ("192.168.1.1", "private"), ("100.64.0.1", "reserved"),
     ("169.254.169.254", "link-local (cloud metadata)"), ("fd00:ec2::254", "private"), ("fe80::1%eth0",
     "link-local (cloud metadata)"), ("::ffff:10.0.0.1", "private"), ("not-an-ip", "malformed")],
)  # fmt: skip
def test_address_kinds(address: str, kind: str) -> None:
    assert address_kind(address) == kind


def test_allowed_domains_and_allow_private_open_the_policy() -> None:
    assert AddressPolicy(allow_private=True).refusal("x", "127.0.0.1") is None
    policy = AddressPolicy(allowed_domains=frozenset({"*.corp.test"}))
    assert policy.refusal("mcp.corp.test", "10.0.0.5") is None
    assert policy.refusal("corp.test.evil", "10.0.0.5") is not None


async def test_a_server_that_refuses_the_host_itself_is_a_failure_of_the_server() -> None:
    """421 from the server's own host check is the same code, but the server answered it: the run tested
    the server, so the report is no refusal of the doctor's (and the inspection counts as a failure)."""

    async def misdirected(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await Response("misdirected", 421, media_type="text/plain")(scope, receive, send)

    with serve(misdirected) as port:
        options = DoctorOptions(policy=AddressPolicy(allowed_domains=frozenset({"127.0.0.1"})), timeout_s=5)
        report = await run_doctor(f"http://127.0.0.1:{port}/mcp", options)
    assert report.code == "MCP_DOMAIN_NOT_ALLOWED" and report.failed_step in ("http", "mcp"), report.to_dict()
    assert report.refused is False
