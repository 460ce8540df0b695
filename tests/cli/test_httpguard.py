"""The HTTP server's own bounds, on the real `managed_server` over loopback: headers that never finish get
408 and the connection back, a flood of idle connections cannot crowd out the next real request, and a
flood of one log line costs a few lines and a count."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mcpdiag.api import create_app
from mcpdiag.cli.serving import serving
from mcpdiag.cli.settings import ServeSettings
from mcpdiag.collector.logging import RepeatFilter, RepeatLimiter
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import new_key
from tests.waiting import HTTP_PATIENCE, PATIENCE_S

HEAD_START = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    app = create_app(api_settings(Tokens(), None, tmp_path), collector_settings(tmp_path))
    limits = ServeSettings(_env_file=None, header_timeout_s=0.5, max_connections=16, keep_alive_s=30)
    async with serving(app, limits) as base:
        yield base


async def open_raw(url: str, first: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    if first:
        writer.write(first)
        await writer.drain()
    return reader, writer


async def closed_with(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before closing (bounded: a hang fails the test, it measures nothing)."""
    return await asyncio.wait_for(reader.read(), timeout=PATIENCE_S)


async def test_headers_that_never_finish_get_408_and_are_closed(url: str) -> None:
    slow = [await open_raw(url, HEAD_START) for _ in range(10)]
    silent = [await open_raw(url) for _ in range(5)]  # connect and say nothing at all
    for _, writer in slow:
        writer.write(b"a")  # still trickling: a byte is not a header
        await writer.drain()
    answers = [await closed_with(reader) for reader, _ in slow + silent]
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[:2]
    assert b'"request_timeout"' in answers[0]
    async with httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_a_keep_alive_connection_gets_a_fresh_header_bound_after_each_response(url: str) -> None:
    reader, writer = await open_raw(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b"}"), timeout=PATIENCE_S)
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(HEAD_START)  # the second request's headers never finish
    await writer.drain()
    rest = await closed_with(reader)
    assert b"HTTP/1.1 408 " in rest


async def test_idle_connections_past_the_cap_give_way_to_new_requests(url: str) -> None:
    """64 connections that send nothing, against a cap of 16: the oldest waiting ones are closed as new
    ones arrive, so the process never holds more than the cap and a real request still gets through."""
    idle = [await open_raw(url) for _ in range(64)]
    async with httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as client:
        for _ in range(5):
            assert (await client.get("/healthz")).status_code == 200
    await asyncio.sleep(0)  # let closes land
    still_open = 0
    for reader, _ in idle:
        try:
            data = await asyncio.wait_for(reader.read(1), timeout=0.05)
        except TimeoutError:
            still_open += 1
        else:
            assert data in (b"", b"H")  # closed by the cap, or a 408 already written
    assert still_open <= 16


async def test_when_every_connection_is_busy_a_new_one_is_answered_503(tmp_path: Path) -> None:
    """The cap holds even against connections that are each in the middle of a request (a slow body):
    those are not evicted, so a new connection is told to retry instead of being left to pile up."""
    key = new_key()
    app = create_app(api_settings(Tokens(), None, tmp_path), collector_settings(tmp_path, key))
    limits = ServeSettings(_env_file=None, header_timeout_s=30, max_connections=8, keep_alive_s=30)
    body_head = (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + key.encode() + b"\r\nContent-Length: 100\r\n\r\n{"
    )
    async with serving(app, limits) as base:
        busy = [await open_raw(base, body_head) for _ in range(8)]
        await asyncio.sleep(0.2)  # their headers are parsed: each is a request in flight
        reader, _ = await open_raw(base)
        answer = await closed_with(reader)
        assert answer.startswith(b"HTTP/1.1 503 ") and b'"overloaded"' in answer
        for _, writer in busy:
            writer.close()


def test_a_flood_of_one_log_line_is_a_burst_and_a_count() -> None:
    now = [0.0]
    limiter = RepeatLimiter(burst=5, window_s=10, clock=lambda: now[0])
    logger = logging.getLogger("mcpdiag.test.flood")
    logger.propagate = False
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.addFilter(RepeatFilter(limiter))
    for _ in range(10_000):
        logger.error("socket.accept() out of system resource")
    logger.error("a different line")
    assert len(records) == 6
    now[0] = 11.0
    logger.error("socket.accept() out of system resource")
    assert len(records) == 7 and "9995 similar messages suppressed" in records[-1].getMessage()


def test_the_limiter_forgets_kinds_it_cannot_hold() -> None:
    limiter = RepeatLimiter(burst=1, window_s=60, clock=lambda: 0.0)
    for kind in range(RepeatLimiter.MAX_KINDS * 3):
        assert limiter.admit(kind) == (True, 0)
    assert len(limiter._seen) <= RepeatLimiter.MAX_KINDS


def test_serve_settings_bound_what_they_take() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ServeSettings(_env_file=None, max_connections=0)
    assert socket.SOMAXCONN > 0
