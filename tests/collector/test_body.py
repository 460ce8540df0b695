"""Reading a request body: every member of a gzip body (RFC 1952 §2.2), over real HTTP into a real store,
with the decompression bound across all of them and a 400 naming whatever is not gzip."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import shutil
import subprocess
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.collector import create_collector_app
from mcpdiag.collector.body import MAX_GZIP_MEMBERS
from tests.collector.support import new_key, serve, settings_for, stored_ids, wire_events
from tests.waiting import HTTP_PATIENCE

JSON_GZIP = {"content-type": "application/json", "content-encoding": "gzip"}
NDJSON_GZIP = {"content-type": "application/x-ndjson", "content-encoding": "gzip"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the collector app under uvicorn on loopback, storing into `tmp_path / events.db`."""
    key = new_key()
    app = create_collector_app(settings_for(tmp_path, key))
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE) as c,
    ):
        yield c


def members(*parts: bytes) -> bytes:
    """`parts` as consecutive gzip members, like `cat a.gz b.gz`."""
    return b"".join(gzip.compress(part, mtime=0) for part in parts)


def gzip_tool(*parts: bytes) -> bytes:
    """`parts` compressed one by one by gzip(1) and appended, as a shell pipeline or a log shipper does."""
    tool = shutil.which("gzip")
    if tool is None:
        pytest.fail("gzip(1) is not installed (it is in every Debian base system)")
    out = b""
    for part in parts:
        out += subprocess.run([tool, "-c", "-n"], input=part, capture_output=True, check=True).stdout
    return out


def streamed_members(*parts: bytes) -> bytes:
    """What a streaming writer leaves after closing and reopening its gzip file for each write."""
    buffer = io.BytesIO()
    for part in parts:
        with gzip.GzipFile(fileobj=buffer, mode="ab", mtime=0) as writer:
            writer.write(part)
    return buffer.getvalue()


def cut(data: bytes, *at: int) -> list[bytes]:
    points = [0, *at, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def json_body(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}).encode()


def inside_token(body: bytes, events: list[dict[str, Any]]) -> list[bytes]:
    """Member boundaries in the middle of a trace id, of the `"events"` key and of a number."""
    trace = body.index(events[1]["traceId"].encode()) + 7
    key = body.index(b'"events"') + 3
    number = body.index(b'"attempt": 1') + len(b'"attempt": ')
    return cut(body, key, number, trace)


COMPRESSORS: dict[str, Callable[..., bytes]] = {
    "concatenated": members,
    "gzip-tool": gzip_tool,
    "streaming-writer": streamed_members,
}


@pytest.mark.parametrize("compress", sorted(COMPRESSORS))
@pytest.mark.parametrize("split", ["halves", "inside-tokens", "empty-members", "one-byte-members"])
async def test_every_member_of_a_gzip_body_is_read_and_stored(
    client: httpx.AsyncClient, tmp_path: Path, compress: str, split: str
) -> None:
    events = wire_events(20)
    body = json_body(events)
    parts = {
        "halves": lambda: cut(body, len(body) // 2),
        "inside-tokens": lambda: inside_token(body, events),
        "empty-members": lambda: [b"", *cut(body, 100), b"", b""],
        "one-byte-members": lambda: [body[:1], body[1:2], body[2:]],
    }[split]()
    response = await client.post("/v1/events", content=COMPRESSORS[compress](*parts), headers=JSON_GZIP)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 20, "rejected": []}
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(e["id"] for e in events)


async def test_ndjson_written_one_member_per_line_is_read_whole(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    events = wire_events(30)
    lines = [json.dumps(e).encode() + b"\n" for e in events]
    response = await client.post("/v1/events", content=members(*lines), headers=NDJSON_GZIP)
    assert response.json() == {"accepted": 30, "rejected": []}
    assert len(stored_ids(tmp_path / "events.db")) == 30


async def test_members_streamed_in_small_chunks_across_their_boundaries_are_read(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    events = wire_events(10)
    data = members(*cut(json_body(events), 50, 400, 401, 900))

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length; boundaries fall anywhere in a chunk
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    response = await client.post("/v1/events", content=chunks(), headers=JSON_GZIP)
    assert response.json() == {"accepted": 10, "rejected": []}
    assert len(stored_ids(tmp_path / "events.db")) == 10


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and "Traceback" not in error["message"]
    return str(error["message"])


@pytest.mark.parametrize(
    ("garbage", "says", "at"),
    [
        (b"GARBAGE", "not a gzip member", 0),
        (b"\x1f", "truncated", 0),
        (b"\x1f\x8b\x08", "truncated", 0),
        (b"\n", "not a gzip member", 0),
        (b"\x00\x00\x00junk", "not a gzip member", 3),
        (gzip.compress(b'{"more": 1}')[:-3], "truncated", 0),
    ],
    ids=["text", "half-magic", "header-only", "newline", "zeros-then-junk", "truncated-member"],
)
async def test_anything_after_a_member_that_is_not_a_whole_member_is_a_400_naming_it(
    client: httpx.AsyncClient, tmp_path: Path, garbage: bytes, says: str, at: int
) -> None:
    body = members(*cut(json_body(wire_events(3)), 60))
    response = await client.post("/v1/events", content=body + garbage, headers=JSON_GZIP)
    message = assert_error(response, 400, "invalid_gzip")
    assert says in message and "member 3" in message and f"byte {len(body) + at}" in message, message
    assert stored_ids(tmp_path / "events.db") == []


async def test_zero_padding_after_the_last_member_is_ignored_as_gzip_does(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = members(*cut(json_body(wire_events(3)), 60)) + bytes(512)
    assert (await client.post("/v1/events", content=body, headers=JSON_GZIP)).json()["accepted"] == 3


async def test_a_truncated_only_member_and_a_body_that_is_not_gzip_are_400(client: httpx.AsyncClient) -> None:
    whole = gzip.compress(json_body(wire_events(2)))
    assert "truncated" in assert_error(
        await client.post("/v1/events", content=whole[:-4], headers=JSON_GZIP), 400, "invalid_gzip"
    )
    assert "not valid gzip" in assert_error(
        await client.post("/v1/events", content=b"plain text", headers=JSON_GZIP), 400, "invalid_gzip"
    )


async def test_the_decompression_bound_holds_across_all_members(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Three members of 3 MiB each inflate past 8 MiB together: 413, though each one alone is under it."""
    body = json_body(wire_events(1))
    padding = b" " * (3 * 1024 * 1024)
    data = members(body[:-2], padding, padding, padding, body[-2:])
    assert len(data) < 64 * 1024
    assert_error(await client.post("/v1/events", content=data, headers=JSON_GZIP), 413, "payload_too_large")
    assert stored_ids(tmp_path / "events.db") == []


async def test_more_members_than_the_bound_is_a_400(client: httpx.AsyncClient) -> None:
    body = json_body(wire_events(1))
    data = members(*([b""] * MAX_GZIP_MEMBERS), body)
    message = assert_error(
        await client.post("/v1/events", content=data, headers=JSON_GZIP), 400, "invalid_gzip"
    )
    assert str(MAX_GZIP_MEMBERS) in message


@pytest.mark.parametrize("encoding", ["deflate", "zlib", "br", "gzip, deflate"])
async def test_encodings_other_than_gzip_are_415(client: httpx.AsyncClient, encoding: str) -> None:
    body = zlib.compress(json_body(wire_events(1)))
    headers = {"content-type": "application/json", "content-encoding": encoding}
    assert_error(await client.post("/v1/events", content=body, headers=headers), 415, "unsupported_encoding")


async def test_otlp_json_in_several_gzip_members_is_read_whole(client: httpx.AsyncClient) -> None:
    record = {"attributes": [{"key": "mcp.server.name", "value": {"stringValue": "github"}}]}
    request = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record, record]}]}]}).encode()
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = await client.post("/v1/logs", content=members(*cut(request, 30, 90)), headers=headers)
    assert response.status_code == 200, response.text
    assert "partialSuccess" not in response.json()


@pytest.mark.parametrize(
    "body",
    [
        b'{"events": [{"count": 1' + b"0" * 5000 + b"}]}",
        b'{"events": [], "x": -' + b"9" * 4400 + b"}",
        b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"flags": 1' + b"0" * 5000 + b"}]}]}]}",
    ],
    ids=["event field", "top level", "otlp"],
)
def test_a_number_of_thousands_of_digits_is_described_not_pythons_advice(body: bytes) -> None:
    """Found by an adversarial pass: past Python's bound on an integer's digits the 400 quoted its message,
    `use sys.set_int_max_str_digits() to increase the limit`, advice for whoever runs the parser."""
    from mcpdiag.collector.body import load_json
    from mcpdiag.collector.errors import InvalidBodyError
    from mcpdiag.store.transfer.checks import parse_line

    with pytest.raises(InvalidBodyError) as refused:
        load_json(body)
    assert refused.value.code == "invalid_json"
    assert "sys." not in refused.value.message and "digits" in refused.value.message, refused.value.message
    with pytest.raises(ValueError) as parsed:
        parse_line(body)
    from mcpdiag.emitters.text import json_problem

    assert "sys." not in json_problem(parsed.value) and "digits" in json_problem(parsed.value)
