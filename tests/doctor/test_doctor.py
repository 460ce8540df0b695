"""The doctor's ladder against real loopback servers (private addresses allowed, as in a dev setup)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from mcpdiag.doctor import AddressPolicy, DoctorOptions, DoctorReport, run_doctor
from mcpdiag.emitters import Emitter, MemorySink
from tests.doctor.doctor_stubs import Tools, huge_tools
from tests.doctor.doctor_support import TlsServers, broken_mcp_app, tls_servers
from tests.e2e.oauth_server import OAuthZoo
from tests.e2e.servers import free_port, misbehaving_app, serve, zoo_server

ZOO_TOOLS = {"echo", "fail", "refuse", "slow", "traced_fail"}
SECRET = "doctor-secret-token-4f1c9a7e"
ROOT = Path(__file__).resolve().parents[2]


def options(**over: Any) -> DoctorOptions:
    values: dict[str, Any] = {"policy": AddressPolicy(allow_private=True), "timeout_s": 15, **over}
    return DoctorOptions(**values)


def statuses(report: DoctorReport) -> dict[str, str]:
    return {step.name: step.status for step in report.steps}


@pytest.fixture(scope="module")
def zoo() -> Iterator[int]:
    with serve(zoo_server().streamable_http_app()) as port:
        yield port


@pytest.fixture(scope="module")
def zoo_sse() -> Iterator[int]:
    with serve(zoo_server().sse_app()) as port:
        yield port


@pytest.fixture(scope="module")
def bad() -> Iterator[int]:
    with serve(misbehaving_app) as port:
        yield port


@pytest.fixture(scope="module")
def broken() -> Iterator[int]:
    with serve(broken_mcp_app) as port:
        yield port


@pytest.fixture(scope="module")
def oauth() -> Iterator[int]:
    with serve(OAuthZoo()) as port:
        yield port


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServers]:
    with tls_servers(
        tmp_path_factory.mktemp("doctor-tls"), lambda: zoo_server().streamable_http_app()
    ) as servers:
        yield servers


async def test_a_healthy_server_passes_every_step_and_counts_its_tools(zoo: int) -> None:
    sink = MemorySink()
    emitter = Emitter(sink, service="doctor-test", flush_interval=0.01)
    headers = {"Authorization": f"Bearer {SECRET}"}
    report = await run_doctor(f"http://127.0.0.1:{zoo}/mcp", options(headers=headers), emitter=emitter)
    emitter.close(2)
    assert report.ok and report.code is None and report.failed_step is None and report.action is None
    assert statuses(report) == {
        "dns": "ok", "tcp": "ok", "tls": "skipped", "http": "ok",
        "mcp": "ok", "oauth": "skipped", "tools": "warn",
    }  # fmt: skip
    # The zoo's tools have no descriptions: that works, but models pick tools by them.
    assert "4 without a description" in report.step("tools").summary
    assert report.step("tools").summary.startswith("5 tools")
    assert all(name in (report.step("tools").detail or "") for name in ZOO_TOOLS)
    assert "zoo" in report.step("mcp").summary and "protocol" in report.step("mcp").summary
    assert all(s.duration_ms is not None for s in report.steps if s.status == "ok")
    # One inspection event under the run's Debug ID; the header value is never in it.
    [event] = sink.events
    assert event["touchpoint"] == "inspection" and event["traceId"] == report.debug_id
    assert event["code"] == "MCP_CONNECTED" and event["severity"] == "info"
    assert SECRET not in str(event) and SECRET not in str(report.to_dict())


async def test_the_sse_transport_walks_the_same_ladder(zoo_sse: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{zoo_sse}/sse", options(transport="sse"))
    assert report.ok, report.to_dict()
    assert report.step("tools").summary.startswith("5 tools")


async def test_a_name_that_does_not_resolve_fails_at_dns() -> None:
    report = await run_doctor("https://mcp.doctor-test.invalid/mcp", options())
    assert (report.failed_step, report.code, report.action) == ("dns", "MCP_DNS_FAILURE", "edit_server")
    assert all(s.status == "skipped" for s in report.steps[1:])


async def test_a_closed_port_fails_at_tcp() -> None:
    report = await run_doctor(f"http://127.0.0.1:{free_port()}/mcp", options())
    assert (report.failed_step, report.code) == ("tcp", "MCP_CONNECTION_REFUSED")
    assert report.action == "retry"


@pytest.mark.parametrize(
    ("which", "reason"), [("self_signed", "self-signed certificate"), ("expired", "certificate has expired")]
)
async def test_an_untrusted_certificate_fails_at_tls_with_the_reason(
    tls: TlsServers, which: str, reason: str
) -> None:
    port = getattr(tls, which)
    report = await run_doctor(f"https://127.0.0.1:{port}/mcp", options(ssl_context=tls.trust()))
    assert (report.failed_step, report.code) == ("tls", "MCP_TLS_ERROR")
    assert reason in report.step("tls").summary
    assert "subject:" in (report.step("tls").detail or "")  # the certificate is still described


async def test_an_expiring_certificate_warns_but_passes(tls: TlsServers) -> None:
    report = await run_doctor(f"https://127.0.0.1:{tls.expiring}/mcp", options(ssl_context=tls.trust()))
    assert report.ok, report.to_dict()
    assert report.step("tls").status == "warn" and "expires in" in report.step("tls").summary
    assert [s.name for s in report.warnings] == ["tls", "tools"]  # the zoo's tools lack descriptions


async def test_a_trusted_certificate_is_described(tls: TlsServers) -> None:
    report = await run_doctor(f"https://127.0.0.1:{tls.trusted}/mcp", options(ssl_context=tls.trust()))
    assert report.ok and report.step("tls").status == "ok"
    assert "valid until" in report.step("tls").summary


@pytest.mark.parametrize(
    ("path", "code"), [("/s/200-html", "MCP_PROXY_SSE_ISSUE"), ("/s/502", "MCP_PROXY_SSE_ISSUE"),
                       ("/s/nothing-here", "MCP_ENDPOINT_NOT_FOUND"), ("/s/429", "MCP_RATE_LIMITED")],
)  # fmt: skip
async def test_proxy_pages_and_bad_statuses_fail_at_http(bad: int, path: str, code: str) -> None:
    report = await run_doctor(f"http://127.0.0.1:{bad}{path}", options())
    assert (report.failed_step, report.code) == ("http", code), report.to_dict()
    assert report.step("mcp").status == "skipped"


async def test_a_proxy_html_page_is_named_as_a_web_page(bad: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{bad}/s/200-html", options())
    assert "web page" in report.step("http").summary
    assert "blocked by policy" in (report.step("http").detail or "")


async def test_401_with_oauth_metadata_fails_at_oauth_naming_the_authorization_server(oauth: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{oauth}/m/ok/mcp", options())
    assert (report.failed_step, report.code, report.action) == ("oauth", "MCP_AUTH_REQUIRED", "authenticate")
    assert statuses(report)["http"] == "ok" and statuses(report)["mcp"] == "skipped"
    summary = report.step("oauth").summary
    assert f"http://127.0.0.1:{oauth}/as/ok" in summary and "dynamic client registration" in summary
    assert "registration_endpoint" in (report.step("oauth").detail or "")


async def test_broken_oauth_metadata_fails_at_oauth_as_oauth_failed(oauth: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{oauth}/m/prm-500/mcp", options())
    assert (report.failed_step, report.code) == ("oauth", "MCP_OAUTH_FAILED")


async def test_an_initialize_answered_with_garbage_fails_at_mcp(broken: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{broken}/garbage", options())
    assert (report.failed_step, report.code) == ("mcp", "MCP_INSPECTION_FAILED"), report.to_dict()
    assert report.step("http").status == "ok"


async def test_a_failing_tools_list_fails_at_tools(broken: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{broken}/tools-fail", options())
    assert report.failed_step == "tools", report.to_dict()
    assert report.step("mcp").status == "ok" and "tools-fail" in report.step("mcp").summary
    assert "tool registry unavailable" in (report.step("tools").detail or "")


async def test_invalid_tool_definitions_fail_at_tools(bad: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{bad}/bad-tools", options())
    assert (report.failed_step, report.code) == ("tools", "MCP_INSPECTION_FAILED")


async def test_the_whole_run_is_bounded(bad: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{bad}/s/silent", options(timeout_s=1.5))
    assert (report.failed_step, report.code) == ("http", "MCP_TIMEOUT")
    assert "1.5" in report.step("http").summary or "2 s" in report.step("http").summary


@pytest.mark.parametrize(("count", "name_chars"), [(10, 60_000), (1, 129), (3_000, 40)])
async def test_what_a_run_reports_about_tools_is_bounded(count: int, name_chars: int) -> None:
    """Huge names, a name just over the spec's 128, and thousands of tools: the report stays small, names
    over 128 characters are shown by their length and warned about."""
    with serve(Tools(huge_tools(count, name_chars))) as port:
        sink = MemorySink()
        emitter = Emitter(sink, service="doctor-test", flush_interval=0.01)
        report = await run_doctor(f"http://127.0.0.1:{port}/mcp", options(), emitter=emitter)
        emitter.close(2)
    tools = report.step("tools")
    assert tools.status == "warn" and tools.summary.startswith(f"{count} tool"), report.to_dict()
    assert len(tools.summary) <= 1000 and len(tools.detail or "") <= 17 * 1024
    assert len(str(report.to_dict())) < 48 * 1024
    if name_chars > 128:
        assert "with a name over 128 characters" in tools.summary
        assert "key" * 50 not in str(report.to_dict())  # no piece of an over-long name
    else:
        assert "and 2800 more" in (tools.detail or "")
    [event] = sink.events
    assert len(str(event)) < 24 * 1024


@asynccontextmanager
async def raw_tcp(answer: bytes | None) -> AsyncIterator[int]:
    """A TCP port that answers whatever it is sent with `answer` (or nothing) and hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        if answer:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_https_on_a_plain_http_port_says_to_use_http(zoo: int) -> None:
    report = await run_doctor(f"https://127.0.0.1:{zoo}/mcp", options())
    assert (report.failed_step, report.code) == ("tls", "MCP_TLS_ERROR")
    summary = report.step("tls").summary
    assert "plain HTTP" in summary and f"http://127.0.0.1:{zoo}/mcp" in summary, summary
    assert "certificate" not in summary


async def test_https_on_a_port_that_hangs_up_on_tls_but_speaks_http_says_to_use_http() -> None:
    async with raw_tcp(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n") as port:
        report = await run_doctor(f"https://127.0.0.1:{port}/", options())
    assert report.failed_step == "tls" and "plain HTTP" in report.step("tls").summary


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.6\r\n", None])
async def test_https_on_a_port_that_speaks_neither_tls_nor_http_suggests_nothing(
    answer: bytes | None,
) -> None:
    async with raw_tcp(answer) as port:
        report = await run_doctor(f"https://127.0.0.1:{port}/mcp", options())
    assert (report.failed_step, report.code) == ("tls", "MCP_TLS_ERROR")
    summary = report.step("tls").summary
    assert "http://" not in summary and "certificate" not in summary, summary


async def test_a_streamable_endpoint_tried_as_sse_is_named(zoo: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{zoo}/mcp", options(transport="sse"))
    assert report.failed_step == "http" and report.action == "edit_server", report.to_dict()
    assert "speaks streamable HTTP" in report.step("http").summary
    assert "--transport streamable-http" in report.step("http").summary


async def test_an_sse_endpoint_tried_as_streamable_http_is_named(zoo_sse: int) -> None:
    report = await run_doctor(f"http://127.0.0.1:{zoo_sse}/sse", options())
    assert report.failed_step == "http" and report.action == "edit_server", report.to_dict()
    assert "speaks SSE" in report.step("http").summary and "--transport sse" in report.step("http").summary


@pytest.mark.parametrize("path", ["/s/nothing-here", "/s/502"])
async def test_no_transport_hint_where_neither_transport_answers(bad: int, path: str) -> None:
    for transport in ("sse", "streamable-http"):
        report = await run_doctor(f"http://127.0.0.1:{bad}{path}", options(transport=transport))
        assert report.failed_step == "http" and "speaks" not in report.step("http").summary


async def test_the_sdks_log_records_stay_in_the_run(broken: int, caplog: pytest.LogCaptureFixture) -> None:
    """The SDK logs a traceback for a garbage initialize: the run keeps it (for support), the process's
    logs never see it (they are the service's logs, shared by every user)."""
    caplog.set_level(logging.DEBUG)
    report = await run_doctor(f"http://127.0.0.1:{broken}/garbage", options())
    assert report.failed_step == "mcp"
    assert not [r for r in caplog.records if r.name == "mcp" or r.name.startswith("mcp.")]
    assert "sdk log: error mcp.client.streamable_http: Error parsing JSON response" in (
        report.step("mcp").detail or ""
    )
    logging.getLogger("mcp.client.streamable_http").warning("outside a run")  # others still log
    assert [r.getMessage() for r in caplog.records if r.name.startswith("mcp.")] == ["outside a run"]


def test_a_report_hides_detail_from_those_who_may_not_read_it(tmp_path: Path) -> None:
    report = DoctorReport(url="http://x", transport="sse", debug_id="a" * 32)
    wire = report.to_dict(include_detail=False)
    assert set(wire) == {"ok", "code", "failedStep", "steps", "debugId", "action", "guide", "refused"}


async def test_the_oauth_step_and_every_step_status_survive_redaction(oauth: int) -> None:
    """Step names are data: the run's event (as the emitter and then the collector redact it) names every
    step's status, `oauth` included, and nothing in the oauth step's texts is taken for a secret."""
    from mcpdiag.collector import EventValidator

    sink = MemorySink()
    emitter = Emitter(sink, service="doctor-test", flush_interval=0.01)
    report = await run_doctor(f"http://127.0.0.1:{oauth}/m/ok/mcp", options(), emitter=emitter)
    emitter.close(2)
    [event] = sink.events
    intake = EventValidator().check([event])
    [stored] = intake.events
    steps = dict(part.split("=") for part in stored.attrs["doctor.steps"].split())
    assert steps == statuses(report) and steps["oauth"] == "fail"
    assert stored.attrs["doctor.failedStep"] == "oauth"
    assert intake.redactions == {} and "[REDACTED" not in stored.model_dump_json()
    oauth_step = report.step("oauth")
    assert "[REDACTED" not in oauth_step.summary + (oauth_step.detail or "")


async def test_a_failed_run_cites_the_guide_of_its_code(bad: int) -> None:
    """The failed step's code comes with its guide (a file that exists); a healthy run has none."""
    report = await run_doctor(f"http://127.0.0.1:{bad}/s/502", options())
    assert report.to_dict()["guide"] == "docs/codes/MCP_PROXY_SSE_ISSUE.md"
    assert (ROOT / report.to_dict()["guide"]).is_file()
    assert DoctorReport(url="http://x", transport="sse", debug_id="a" * 32).to_dict()["guide"] is None
