"""`MCPDIAG_DOCTOR_ALLOW`: the CIDRs and host names an admin lets the doctor reach (internal MCP servers),
while every other address that is not public stays refused."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from mcpdiag.api.allowlist import allow_entries
from mcpdiag.api.settings import ApiSettings
from mcpdiag.doctor import AddressPolicy, DoctorOptions, run_doctor
from mcpdiag.doctor.options import policy_from
from tests.doctor.doctor_support import Counting
from tests.doctor.test_doctor_ssrf import fake_dns
from tests.e2e.servers import serve, zoo_server


def nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.20.1.2", True),
        ("10.20.255.255", True),
        ("10.21.0.1", False),  # next to the allowed range
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),  # metadata stays refused
        ("::ffff:10.20.1.2", True),  # the same destination, mapped
        ("64:ff9b::a14:102", True),  # NAT64 of 10.20.1.2
        ("::ffff:10.21.0.1", False),
        ("fd00:1::5", True),
        ("fd01::5", False),
        ("fe80::1%eth0", False),
        ("not-an-ip", False),
    ],
)
def test_listed_networks_open_exactly_their_addresses(address: str, allowed: bool) -> None:
    policy = AddressPolicy(allowed_networks=nets("10.20.0.0/16", "fd00:1::/32"))
    assert (policy.refusal("mcp.corp.test", address) is None) is allowed


def test_public_addresses_stay_reachable_and_nothing_else_opens() -> None:
    policy = AddressPolicy(allowed_networks=nets("10.20.0.0/16"))
    assert policy.refusal("example.test", "93.184.216.34") is None
    assert policy.refusal("localhost", "::1") is not None
    assert AddressPolicy().refusal("mcp.corp.test", "10.20.1.2") is not None


def test_the_allow_list_reads_cidrs_addresses_and_host_names() -> None:
    networks, hosts = allow_entries(
        " 10.20.0.0/16, 192.168.7.9 ,fd00::/8,[::1], MCP.Corp.Example , *.corp.test,"
    )
    assert networks == nets("10.20.0.0/16", "192.168.7.9/32", "fd00::/8", "::1/128")
    assert hosts == {"mcp.corp.example", "*.corp.test"}
    assert allow_entries("") == ((), frozenset())


@pytest.mark.parametrize(
    "entry",
    ["10.0.0.0/33", "http://mcp.corp", "mcp corp", "*", "*.", "-bad.example", "a/b", "x" * 300, "*.*.corp"],
)
def test_an_entry_that_is_neither_is_refused_when_the_settings_load(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a CIDR"):
        allow_entries(f"10.0.0.0/8, {entry}")
    with pytest.raises(ValidationError, match="MCPDIAG_DOCTOR_ALLOW"):
        ApiSettings(_env_file=None, doctor_allow=f"10.0.0.0/8, {entry}")


def test_the_settings_merge_the_older_domain_list() -> None:
    """`MCPDIAG_DOCTOR_ALLOWED_DOMAINS` keeps working; its hosts and the new list's are one set."""
    settings = ApiSettings(
        _env_file=None, doctor_allow="10.1.0.0/16, a.corp.test", doctor_allowed_domains="B.example"
    )
    assert settings.doctor_allowed_hosts == {"a.corp.test", "b.example"}
    assert settings.doctor_allowed_networks == nets("10.1.0.0/16")
    policy = policy_from(False, settings.doctor_allowed_hosts, settings.doctor_allowed_networks)
    assert policy.refusal("b.example", "10.9.9.9") is None and policy.refusal("c.example", "10.9.9.9")


@pytest.fixture
def stub() -> Iterator[tuple[int, Counting]]:
    app = Counting()
    with serve(app) as port:
        yield port, app


async def test_a_run_reaches_an_allowed_loopback_address_and_not_its_neighbour(
    stub: tuple[int, Counting],
) -> None:
    """127.0.0.1/32 listed: the doctor talks to it; 127.0.0.2 (also loopback, not listed) is refused before
    any byte is sent."""
    port, app = stub
    options = DoctorOptions(policy=AddressPolicy(allowed_networks=nets("127.0.0.1/32")), timeout_s=5)
    reached = await run_doctor(f"http://127.0.0.1:{port}/mcp", options)
    assert reached.step("dns").status == "ok" and reached.step("tcp").status == "ok"
    assert app.seen  # the request arrived
    seen = len(app.seen)
    refused = await run_doctor(f"http://127.0.0.2:{port}/mcp", options)
    assert (refused.failed_step, refused.code) == ("dns", "MCP_DOMAIN_NOT_ALLOWED")
    assert refused.refused, "the doctor's own policy, not the server"
    assert len(app.seen) == seen


async def test_a_name_inside_an_allowed_network_is_reached_and_a_redirect_out_of_it_refused() -> None:
    first, second = Counting(), Counting()
    with serve(first) as port1, serve(second) as port2:
        options = DoctorOptions(
            policy=AddressPolicy(allowed_networks=nets("127.0.0.1/32")),
            resolver=fake_dns({"mcp.corp.test": ["127.0.0.1"], "other.corp.test": ["127.0.0.3"]}),
            timeout_s=5,
        )
        target = f"http://other.corp.test:{port2}/mcp"
        report = await run_doctor(f"http://mcp.corp.test:{port1}/redirect?to={target}", options)
    assert (report.failed_step, report.code) == ("http", "MCP_DOMAIN_NOT_ALLOWED"), report.to_dict()
    assert report.refused, "the doctor's own policy, not the server"
    assert first.seen == ["POST /redirect"] and second.seen == []


class Rebinding:
    """A resolver for `mcp.corp.test` that answers the allowed address until `after()` is true, then one
    outside the allowed network: the name moved between the doctor's checks and a later connection."""

    def __init__(self, after: Callable[[], bool]) -> None:
        self.after = after
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["127.0.0.3"] if host == "mcp.corp.test" and self.after() else ["127.0.0.1"]


def _after_lookups(resolver: list[Rebinding], lookups: int) -> Callable[[], bool]:
    return lambda: resolver[0].calls > lookups


@pytest.mark.parametrize("step", ["http", "mcp"])
async def test_a_name_that_moves_out_of_the_allowed_network_is_refused_as_such_not_as_a_redirect(
    step: str,
) -> None:
    """DNS rebinding seen at the connection of the `http` probe (the name moved right after the `dns` step)
    or of the MCP session (after the probe was answered): refused by the doctor's own policy, and the report
    says the name now points elsewhere: no redirect happened, and none is named."""
    seen: list[str] = []
    app = zoo_server().streamable_http_app()

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
            # The MCP server answers its own host names only; the test name stands for 127.0.0.1.
            headers = [(k, v.replace(b"mcp.corp.test", b"127.0.0.1")) for k, v in scope["headers"]]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    holder: list[Rebinding] = []
    moved = _after_lookups(holder, 1) if step == "http" else (lambda: bool(seen))
    holder.append(Rebinding(moved))
    with serve(counted) as port:
        options = DoctorOptions(
            policy=AddressPolicy(allowed_networks=nets("127.0.0.1/32")), resolver=holder[0], timeout_s=10
        )
        report = await run_doctor(f"http://mcp.corp.test:{port}/mcp", options)
        reached = list(seen)
    assert (report.failed_step, report.code) == (step, "MCP_DOMAIN_NOT_ALLOWED"), report.to_dict()
    assert report.refused, "the doctor's own policy, not the server"
    summary = report.step(step).summary
    assert "redirect" not in summary.lower(), summary
    assert "mcp.corp.test" in summary and "loopback" in summary, summary
    assert "MCPDIAG_DOCTOR_ALLOW" in (report.step(step).detail or ""), report.step(step).detail
    assert len(reached) == (0 if step == "http" else 1), reached


@pytest.mark.parametrize("allowed", ["bücher.example", "xn--bcher-kva.example", "*.XN--BCHER-KVA.example."])
@pytest.mark.parametrize("host", ["bücher.example", "xn--bcher-kva.example", "BÜCHER.example"])
async def test_an_international_name_allowed_in_one_spelling_is_allowed_in_every_other(
    stub: tuple[int, Counting], allowed: str, host: str
) -> None:
    """The dns step sees the name as written, each connection its ASCII form (punycode): one name either
    way, so an allowed name is reached in both steps (a wildcard, case and a trailing dot alike)."""
    port, app = stub
    ascii_name, unicode_name = "xn--bcher-kva.example", "bücher.example"
    target = f"www.{host}" if allowed.startswith("*.") else host
    spellings = (target, target.lower(), ascii_name, unicode_name, f"www.{ascii_name}")
    names = {name: ["127.0.0.1"] for name in spellings}
    options = DoctorOptions(
        policy=AddressPolicy(allowed_domains=frozenset({allowed})), resolver=fake_dns(names), timeout_s=5
    )
    report = await run_doctor(f"http://{target}:{port}/mcp", options)
    assert report.step("dns").status == "ok", report.to_dict()
    assert report.code != "MCP_DOMAIN_NOT_ALLOWED" and not report.refused, report.to_dict()
    assert app.seen, "the request reached the allowed server"


async def test_an_international_name_that_moves_is_named_as_moved_not_as_a_redirect() -> None:
    calls: list[str] = []

    async def moving(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["127.0.0.3"]

    with serve(Counting()) as port:
        options = DoctorOptions(
            policy=AddressPolicy(allowed_networks=nets("127.0.0.1/32")), resolver=moving, timeout_s=5
        )
        report = await run_doctor(f"http://bücher.example:{port}/mcp", options)
    assert (report.failed_step, report.code) == ("http", "MCP_DOMAIN_NOT_ALLOWED"), report.to_dict()
    summary = report.step("http").summary
    assert "redirect" not in summary and "now" in summary, summary
