"""What a doctor run reads and whom it tells what: every body on every step is bounded (a huge answer ends in
a clear failed step after a few MiB, a trickle at the run's time bound), and the caller's headers never
leave the target's origin (scheme, host and port), whichever step follows the redirect."""

from __future__ import annotations

import secrets
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme

from mcpdiag.doctor import AddressPolicy, DoctorOptions, DoctorReport, run_doctor
from mcpdiag.doctor.bounded import clip, shown
from tests.doctor.doctor_stubs import Hostile, MiB, Recorder
from tests.e2e.servers import serve

# What the stub may have pushed into loopback socket buffers (both ends, two streams for SSE) before the
# doctor hung up, plus the 2 MiB the doctor reads: far below the 64 MiB each case offers.
SENT_BOUND = 24 * MiB


def options(**over: Any) -> DoctorOptions:
    values: dict[str, Any] = {"policy": AddressPolicy(allow_private=True), "timeout_s": 20, **over}
    return DoctorOptions(**values)


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[int, Hostile]]:
    stub = Hostile()
    with serve(stub) as port:
        yield port, stub


def where(report: DoctorReport) -> tuple[str | None, str | None]:
    return report.failed_step, report.code


@pytest.mark.parametrize(
    ("case", "transport", "step", "code"),
    [
        ("redirect-huge", "streamable-http", "http", "MCP_INSPECTION_FAILED"),  # a redirect's body
        ("error-huge", "streamable-http", "http", "MCP_PROXY_SSE_ISSUE"),  # an error page
        ("init-huge", "streamable-http", "mcp", "MCP_INSPECTION_FAILED"),  # initialize as JSON
        ("init-4xx-huge", "streamable-http", "mcp", "MCP_INSPECTION_FAILED"),  # a JSON error answer
        ("init-sse-huge", "streamable-http", "mcp", "MCP_INSPECTION_FAILED"),  # initialize as an SSE stream
        ("tools-huge", "streamable-http", "tools", "MCP_INSPECTION_FAILED"),  # tools/list
        ("sse-huge", "sse", "mcp", "MCP_INSPECTION_FAILED"),  # the SSE stream before its endpoint
        ("sse-msg-huge", "sse", "mcp", "MCP_INSPECTION_FAILED"),  # the SSE stream after the endpoint
        ("sse-post-huge", "sse", "mcp", "MCP_INSPECTION_FAILED"),  # the answer to a message POST
        ("oauth-prm-huge", "streamable-http", "oauth", "MCP_OAUTH_FAILED"),  # protected-resource metadata
        ("oauth-as-huge", "streamable-http", "oauth", "MCP_OAUTH_FAILED"),  # authorization-server metadata
    ],
)
async def test_a_huge_answer_on_any_step_is_cut_off_and_fails_that_step(
    hostile: tuple[int, Hostile], case: str, transport: str, step: str, code: str
) -> None:
    port, stub = hostile
    path = "sse" if transport == "sse" else "mcp"
    report = await run_doctor(f"http://127.0.0.1:{port}/{case}/{path}", options(transport=transport))
    assert where(report) == (step, code), report.to_dict()
    if case != "error-huge":  # an error page is only sampled: the step fails on what the page says
        assert "larger than" in report.step(step).summary, report.step(step).summary
    assert 0 < stub.sent[case] <= SENT_BOUND, f"the doctor read {stub.sent[case] / MiB:.0f} MiB"
    assert len(str(report.to_dict())) < 64 * 1024


@pytest.mark.parametrize(
    ("case", "transport", "step"),
    [("init-trickle", "streamable-http", "mcp"), ("sse-trickle", "sse", "mcp"),
     ("oauth-trickle", "streamable-http", "oauth")],
)  # fmt: skip
async def test_a_trickling_answer_ends_at_the_runs_time_bound(
    hostile: tuple[int, Hostile], case: str, transport: str, step: str
) -> None:
    port, _ = hostile
    path = "sse" if transport == "sse" else "mcp"
    url = f"http://127.0.0.1:{port}/{case}/{path}"
    report = await run_doctor(url, options(transport=transport, timeout_s=2))
    assert where(report) == (step, "MCP_TIMEOUT"), report.to_dict()


# -- headers across origins -------------------------------------------------------------------------------


def caller_headers() -> dict[str, str]:
    """What a caller sends with a run: credentials of every shape, and a header of its own."""
    return {
        "X-Api-Key": secrets.token_hex(16),
        "Private-Token": secrets.token_hex(16),
        "Authorization": f"Bearer {secrets.token_hex(16)}",
        "Cookie": f"sid={secrets.token_hex(16)}",
        f"X-Tenant-{secrets.token_hex(3)}": secrets.token_hex(16),
    }


def leaks(seen: list[dict[str, str]], caller: dict[str, str]) -> list[str]:
    """Caller headers (by name or by value) among the headers of requests another origin received."""
    names = {name.lower() for name in caller}
    values = [value.partition(" ")[2] or value for value in caller.values()]
    return [f"{k}: {v}" for headers in seen for k, v in headers.items()
            if k in names or any(value in v for value in values)]  # fmt: skip


@pytest.fixture(scope="module")
def two() -> Iterator[tuple[int, Recorder, int, Recorder]]:
    first, second = Recorder(), Recorder()
    with serve(first) as port1, serve(second) as port2:
        yield port1, first, port2, second


@pytest.fixture(scope="module")
def tls_recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Recorder, ssl.SSLContext]]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    folder: Path = tmp_path_factory.mktemp("doctor-redirect-tls")
    cert, key = folder / "leaf.pem", folder / "leaf.key"
    cert.write_bytes(leaf.cert_chain_pems[0].bytes())
    key.write_bytes(leaf.private_key_pem.bytes())
    context = ssl.create_default_context()
    ca.configure_trust(context)
    recorder = Recorder()
    with serve(recorder, ssl_certfile=str(cert), ssl_keyfile=str(key)) as port:
        yield port, recorder, context


def fake_dns(names: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    """Test names for the redirect targets (the boundary is DNS itself); anything else does not resolve."""

    async def resolve(host: str, port: int) -> list[str]:
        if host in names:
            return names[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return resolve


async def test_a_redirect_to_another_port_gets_none_of_the_callers_headers(
    two: tuple[int, Recorder, int, Recorder],
) -> None:
    port1, first, port2, second = two
    caller = caller_headers()
    target = quote(f"http://127.0.0.1:{port2}/port-change/mcp", safe="")
    await run_doctor(f"http://127.0.0.1:{port1}/port-change/redirect?to={target}", options(headers=caller))
    assert second.at("/port-change"), "the redirect was not followed"
    assert leaks(second.at("/port-change"), caller) == []
    assert leaks(first.at("/port-change"), caller) != []  # the target itself got them


async def test_a_redirect_to_another_host_name_gets_none_of_the_callers_headers(
    two: tuple[int, Recorder, int, Recorder],
) -> None:
    port1, first, _, _ = two
    caller = caller_headers()
    target = quote(f"http://other.doctor-test.invalid:{port1}/host-change/mcp", safe="")
    dns = fake_dns({"other.doctor-test.invalid": ["127.0.0.1"]})
    await run_doctor(
        f"http://127.0.0.1:{port1}/host-change/redirect?to={target}", options(headers=caller, resolver=dns)
    )
    moved = [h for h in first.at("/host-change/mcp") if h.get("host", "").startswith("other.")]
    assert moved, "the redirect was not followed"
    assert leaks(moved, caller) == []


async def test_a_redirect_to_https_gets_none_of_the_callers_headers(
    two: tuple[int, Recorder, int, Recorder], tls_recorder: tuple[int, Recorder, ssl.SSLContext]
) -> None:
    port1, _, _, _ = two
    tls_port, secure, trust = tls_recorder
    caller = caller_headers()
    target = quote(f"https://127.0.0.1:{tls_port}/scheme-change/mcp", safe="")
    report = await run_doctor(
        f"http://127.0.0.1:{port1}/scheme-change/redirect?to={target}",
        options(headers=caller, ssl_context=trust),
    )
    assert secure.at("/scheme-change"), report.to_dict()
    assert leaks(secure.at("/scheme-change"), caller) == []


async def test_a_redirect_within_the_origin_keeps_the_callers_headers(
    two: tuple[int, Recorder, int, Recorder],
) -> None:
    port1, first, _, _ = two
    caller = caller_headers()
    report = await run_doctor(f"http://127.0.0.1:{port1}/same/redirect?to=/same/mcp", options(headers=caller))
    followed = first.at("/same/mcp")
    assert followed and all(headers.get("x-api-key") == caller["X-Api-Key"] for headers in followed)
    assert report.step("http").status == "ok", report.to_dict()


async def test_oauth_discovery_never_sends_the_callers_headers_anywhere(
    two: tuple[int, Recorder, int, Recorder],
) -> None:
    port1, first, port2, second = two
    caller = caller_headers()
    metadata = quote(f"http://127.0.0.1:{port1}/oauth-hop/prm", safe="")
    hop = quote(f"http://127.0.0.1:{port2}/oauth-hop/redirect?to={metadata}", safe="")
    report = await run_doctor(f"http://127.0.0.1:{port1}/oauth-hop/signin?to={hop}", options(headers=caller))
    assert report.failed_step == "oauth", report.to_dict()
    assert second.at("/oauth-hop/redirect") and first.at("/oauth-hop/prm")
    assert leaks(second.at("/oauth-hop") + first.at("/oauth-hop/prm"), caller) == []


async def test_the_mcp_session_does_not_follow_a_redirect_to_another_origin(
    two: tuple[int, Recorder, int, Recorder],
) -> None:
    port1, _, port2, second = two
    caller = caller_headers()
    target = quote(f"http://127.0.0.1:{port2}/sdk-hop/mcp", safe="")
    await run_doctor(f"http://127.0.0.1:{port1}/sdk-hop/redirect?to={target}", options(headers=caller))
    assert leaks(second.at("/sdk-hop"), caller) == []


# -- text from a server, bounded before the redactor sees it ----------------------------------------------


def test_clipped_text_holds_a_secret_whole_or_not_at_all() -> None:
    secret = "ghp_" + secrets.token_hex(18)
    text = "tools: " + ", ".join(["t"] * 20) + f", {secret}, tail"
    for limit in range(10, len(text) + 2):
        clipped = clip(text, limit)
        assert secret in clipped or secret[:6] not in clipped, limit
        assert len(clipped) <= limit + 60


def test_an_over_long_name_is_shown_by_its_length_only() -> None:
    assert shown("search") == "search"
    assert shown("x" * 60_000) == "<a name of 60,000 characters>"
    assert shown(None) == ""
