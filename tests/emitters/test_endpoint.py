"""`url_endpoint` / `command_endpoint`: what an event may name of a server's address, and nothing more."""

from __future__ import annotations

import secrets

import pytest

from mcpdiag.emitters import Emitter, MemorySink, command_endpoint, url_endpoint


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
        ("HTTPS://MCP.Example.COM:8443/v1/mcp", "https://mcp.example.com:8443/v1/mcp"),
        ("https://user:{s}@mcp.example.com/mcp?token={s}&x=1#frag={s}", "https://mcp.example.com/mcp"),
        ("https://{s}@mcp.example.com/", "https://mcp.example.com/"),
        ("http://[::1]:9000/sse?api_key={s}", "http://[::1]:9000/sse"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("  https://mcp.example.com/mcp;params?q={s}  ", "https://mcp.example.com/mcp;params"),
    ],
)
def test_a_url_endpoint_keeps_scheme_host_port_and_path_only(url: str, endpoint: str) -> None:
    secret = secrets.token_hex(12)
    named = url_endpoint(url.format(s=secret))
    assert named == endpoint and secret not in (named or "")


@pytest.mark.parametrize(
    "url", ["", "mcp.example.com/mcp", "https://", "http://[::1/x", "http://h:99999/", "file:///etc"]
)
def test_a_url_without_a_host_names_no_endpoint(url: str) -> None:
    assert url_endpoint(url) is None


def test_an_endpoint_is_bounded_without_half_a_segment() -> None:
    """A path segment the bound would cut goes whole (cut, it could be the head of a token)."""
    assert url_endpoint("https://mcp.example.com/" + "a" * 5000) == "https://mcp.example.com/"
    long = "https://mcp.example.com/" + "b" * 400 + "/" + "c" * 200
    assert url_endpoint(long) == "https://mcp.example.com/" + "b" * 400 + "/"


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("npx", "npx"),
        ("/home/alice/.local/bin/files-server", "files-server"),
        (r"C:\tools\srv.exe", "srv.exe"),
        ("", None),
        ("  ", None),
    ],
)
def test_a_stdio_endpoint_is_the_commands_file_name(command: str, name: str | None) -> None:
    """The directories (home directories name people) are left out on POSIX; arguments are never given."""
    assert command_endpoint(command) == name


def test_a_token_in_an_endpoints_path_is_redacted_with_the_event() -> None:
    """The endpoint travels as an attr, so the emitter's redactor sees it like every other text."""
    sink = MemorySink()
    emitter = Emitter(sink, service="test")
    token = "ghp_" + secrets.token_hex(18)
    known = secrets.token_hex(16)
    emitter.register_secret(known)
    endpoint = url_endpoint(f"https://mcp.example.com/t/{token}/{known}/mcp?key={known}")
    assert endpoint is not None
    emitter.emit_event("MCP_CONNECTED", server="github", touchpoint="lifecycle", endpoint=endpoint)
    assert emitter.flush(5)
    [event] = sink.events
    shown = str(event["attrs"]["endpoint"])
    assert shown.startswith("https://mcp.example.com/t/") and token not in shown and known not in shown
    emitter.close(5)
