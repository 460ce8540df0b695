"""`POST /v1/events` through HTTP (in-process ASGI, lifespan running) into a real SQLite store."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.collector import EventValidator, create_collector_app
from mcpdiag.emitters import DiagnosticEvent, Redactor, format_ts
from mcpdiag.emitters.redact import CACHE_STRINGS
from mcpdiag.store import EventQuery
from mcpdiag.store.base import utc_now
from tests.collector.support import asgi_client, new_key, serve, settings_for, stored_ids, wire_events
from tests.waiting import HTTP_PATIENCE

NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
async def client(tmp_path: Path, key: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_collector_app(settings_for(tmp_path, key, known_secrets="hunter2-corp-secret"))
    async with asgi_client(app, key) as client:
        yield client


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json={"events": wire_events(1)})
    assert response.status_code == 202 and response.json()["accepted"] == 1


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message and "Traceback" not in message
    return message


async def test_valid_events_are_stored_and_invalid_ones_reported_by_index_and_field(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    good = wire_events(3)
    bad_trace = {**wire_events(1)[0], "traceId": "not-hex"}
    no_server = {k: v for k, v in wire_events(1)[0].items() if k != "server"}
    bad_attr = {**wire_events(1)[0], "attrs": {"nested": {"x": 1}}}
    events = [good[0], bad_trace, good[1], no_server, "not an object", bad_attr, good[2]]
    response = await client.post("/v1/events", json={"events": events})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "traceId"),
        (3, "server"),
        (4, "event"),
        (5, "attrs"),
    ]
    assert all(r["message"] for r in body["rejected"])
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(e["id"] for e in good)


async def test_ndjson_lines_are_events_and_a_broken_line_is_rejected_by_index(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    events = wire_events(2)
    lines = [json.dumps(events[0]), "{not json", "", json.dumps(events[1])]
    response = await client.post("/v1/events", content="\r\n".join(lines).encode(), headers=NDJSON)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(1, "event")]
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(e["id"] for e in events)


async def test_resending_the_same_events_stores_each_once(client: httpx.AsyncClient, tmp_path: Path) -> None:
    events = wire_events(5)
    for _ in range(3):
        response = await client.post("/v1/events", json={"events": events + events[:2]})
        assert response.status_code == 202
    assert sorted(stored_ids(tmp_path / "events.db")) == sorted(e["id"] for e in events)


async def test_a_timestamp_over_five_minutes_ahead_is_rejected_and_unknown_codes_are_kept(
    client: httpx.AsyncClient,
) -> None:
    soon, late = wire_events(2)
    soon["ts"] = format_ts(utc_now() + timedelta(minutes=4))
    late["ts"] = format_ts(utc_now() + timedelta(minutes=6))
    unknown = {**wire_events(1)[0], "code": "MCP_SOMETHING_NEW"}
    response = await client.post("/v1/events", json={"events": [soon, late, unknown]})
    assert response.json()["accepted"] == 2
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(1, "ts")]
    runtime = client._transport.app.state.collector  # type: ignore[attr-defined]
    page = await runtime.store.page(EventQuery(server="github", limit=10))
    assert "MCP_SOMETHING_NEW" in {item["code"] for item in page.items}


async def test_secrets_are_redacted_again_including_known_ones_and_the_ingest_key(
    client: httpx.AsyncClient, key: str
) -> None:
    event = wire_events(1)[0]
    event["detail"] = f"POST failed: Authorization: Bearer {'x9' * 20} pw=hunter2-corp-secret key {key}"
    event["attrs"] = {"password": "p@ss-w0rd", "endpoint": "/mcp"}
    response = await client.post("/v1/events", json={"events": [event]})
    assert response.json()["accepted"] == 1
    runtime = client._transport.app.state.collector  # type: ignore[attr-defined]
    [stored] = (await runtime.store.page(EventQuery(server="github"))).items
    text = json.dumps(stored)
    assert "x9x9" not in text and "hunter2-corp-secret" not in text and key not in text
    assert "p@ss-w0rd" not in text and stored["attrs"]["endpoint"] == "/mcp"


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"authorization": "Bearer wrong"}, {"authorization": "Basic abc"}],
)
async def test_a_missing_or_wrong_key_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    client.headers.pop("x-api-key")
    response = await client.post("/v1/events", json={"events": wire_events(1)}, headers=headers)
    assert_error(response, 401, "unauthorized")


async def test_a_bearer_key_is_accepted(client: httpx.AsyncClient, key: str) -> None:
    client.headers.pop("x-api-key")
    response = await client.post(
        "/v1/events", json={"events": wire_events(1)}, headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 202


async def test_each_ingest_key_is_counted_under_its_key_id_never_its_value(tmp_path: Path) -> None:
    """During a rotation /metrics tells which keys are still in use: requests per key, labelled by the
    first 16 hex digits of the key's SHA-256 (what `sha256sum` prints); refused keys are not labelled."""
    old, new = new_key(), new_key()
    app = create_collector_app(settings_for(tmp_path, old, ingest_keys=f"{old},{new}"))
    async with asgi_client(app) as client:
        for key in (old, old, new, "ik_never_configured_0123456789"):
            await client.post("/v1/events", json={"events": wire_events(1)}, headers={"x-api-key": key})
        metrics = (await client.get("/metrics")).text
    for key, count in ((old, 2), (new, 1)):
        key_id = hashlib.sha256(key.encode()).hexdigest()[:16]
        assert f'mcpdiag_ingest_key_requests_total{{key_id="{key_id}"}} {count}.0' in metrics
        assert key not in metrics
    assert metrics.count("mcpdiag_ingest_key_requests_total{") == 2
    assert 'mcpdiag_ingest_requests_refused_total{code="unauthorized"} 1.0' in metrics


async def test_with_no_ingest_keys_configured_ingest_is_closed(tmp_path: Path) -> None:
    app = create_collector_app(settings_for(tmp_path, "unused", ingest_keys=""))
    async with asgi_client(app, "anything") as client:
        message = assert_error(await client.post("/v1/events", json={"events": []}), 401, "unauthorized")
    assert "MCPDIAG_INGEST_KEYS" in message


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"", {}, 400, "empty_body"),
        (b"  \n ", NDJSON, 400, "empty_body"),
        (b'{"events": [', {}, 400, "invalid_json"),
        (b"\xff\xfe", {}, 400, "invalid_json"),
        (b'[{"id": "a"}]', {}, 400, "invalid_body"),
        (b'{"events": {"id": "a"}}', {}, 400, "invalid_body"),
        (b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}, 400, "invalid_json"),
        (b"events", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        (b"{}", {"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        (b"{}", {"content-encoding": "br"}, 415, "unsupported_encoding"),
        (b"not gzip at all", {"content-encoding": "gzip"}, 400, "invalid_gzip"),
        (gzip.compress(b'{"events": []}')[:-6], {"content-encoding": "gzip"}, 400, "invalid_gzip"),
    ],
)
async def test_malformed_input_gets_a_4xx_naming_the_problem_and_the_service_keeps_serving(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    headers = {"content-type": "application/json", **headers}
    assert_error(await client.post("/v1/events", content=content, headers=headers), status, code)
    await assert_still_serving(client)


async def test_events_nested_deeply_inside_a_valid_body_are_rejected_not_crashed(
    client: httpx.AsyncClient,
) -> None:
    event = wire_events(1)[0]
    nested: Any = "leaf"
    for _ in range(900):
        nested = {"a": nested}
    event["attrs"] = {"deep": nested}
    body = json.dumps({"events": [event]}).encode()
    response = await client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (202, 400, 413), response.text
    await assert_still_serving(client)


async def test_more_than_1000_events_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/events", json={"events": wire_events(1001)})
    assert "1001 events" in assert_error(response, 413, "too_many_events")
    await assert_still_serving(client)


async def test_an_event_over_16_kib_is_413_naming_its_index(client: httpx.AsyncClient) -> None:
    events = wire_events(3)
    events[1]["detail"] = "x" * 17_000
    message = assert_error(await client.post("/v1/events", json={"events": events}), 413, "event_too_large")
    assert "[1]" in message
    line = json.dumps({**events[0], "attrs": {"pad": "y" * 16_500}})
    response = await client.post("/v1/events", content=line.encode(), headers=NDJSON)
    assert_error(response, 413, "event_too_large")
    await assert_still_serving(client)


async def test_a_body_over_8_mib_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"events": [], "pad": "' + b"z" * (8 * 1024 * 1024) + b'"}'
    headers = {"content-type": "application/json"}
    assert_error(await client.post("/v1/events", content=body, headers=headers), 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while streaming
        for _ in range(9):
            yield b" " * (1024 * 1024)

    response = await client.post("/v1/events", content=chunks(), headers=headers)
    assert_error(response, 413, "payload_too_large")
    await assert_still_serving(client)


@functools.cache
def gzip_bomb(decompressed_mib: int) -> bytes:
    """A gzip stream of zeros that inflates to `decompressed_mib` MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(decompressed_mib)]
    return b"".join(parts) + compressor.flush()


async def test_a_gzip_bomb_is_cut_off_with_bounded_memory(client: httpx.AsyncClient) -> None:
    bomb = gzip_bomb(1024)  # 1 GiB inflated, about 1 MiB on the wire
    assert len(bomb) < 2 * 1024 * 1024
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    tracemalloc.start()
    try:
        response = await client.post("/v1/events", content=bomb, headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error(response, 413, "payload_too_large")
    assert peak < 48 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    await assert_still_serving(client)


async def test_a_gzip_bomb_over_real_http_is_cut_off_quickly_and_the_service_keeps_serving(
    tmp_path: Path, key: str
) -> None:
    """The same bomb through uvicorn on loopback, sized up front (Content-Length) and streamed (chunked)."""
    bomb = gzip_bomb(1024)
    headers = {"content-type": "application/json", "content-encoding": "gzip", "x-api-key": key}

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: cut off while it streams in
        for start in range(0, len(bomb), 64 * 1024):
            yield bomb[start : start + 64 * 1024]

    app = create_collector_app(settings_for(tmp_path, key))
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": key}, timeout=HTTP_PATIENCE) as client,
    ):
        tracemalloc.start()  # uvicorn runs in this process: its allocations are traced too
        try:
            for content in (bomb, streamed()):
                # A fresh connection each time: the server may close one whose body it stopped reading.
                async with httpx.AsyncClient(base_url=url, timeout=HTTP_PATIENCE) as bomber:
                    response = await bomber.post("/v1/events", content=content, headers=headers)
                assert_error(response, 413, "payload_too_large")
                health = await client.get("/healthz")
                assert health.status_code == 200, health.text
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 48 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
        await assert_still_serving(client)


async def test_a_gzip_body_is_accepted(client: httpx.AsyncClient, tmp_path: Path) -> None:
    events = wire_events(50)
    body = gzip.compress(json.dumps({"events": events}).encode())
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = await client.post("/v1/events", content=body, headers=headers)
    assert response.json() == {"accepted": 50, "rejected": []}
    assert len(stored_ids(tmp_path / "events.db")) == 50


async def test_a_full_queue_answers_503_with_retry_after_and_accepts_nothing(
    tmp_path: Path, key: str
) -> None:
    app = create_collector_app(settings_for(tmp_path, key, queue_max_events=10))
    async with asgi_client(app, key) as client:
        response = await client.post("/v1/events", json={"events": wire_events(11)})
        assert_error(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
        assert (await client.post("/v1/events", json={"events": wire_events(10)})).status_code == 202
    assert len(stored_ids(tmp_path / "events.db")) == 10


async def test_unknown_routes_and_methods_answer_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/nope"), 404, "not_found")
    assert_error(await client.get("/v1/events"), 405, "method_not_allowed")


def tricky_events() -> list[dict[str, Any]]:
    """Wire events whose redaction exercises every path: secret keys at any depth, known secrets, rules in
    free text, lists, and the same strings over and over (clean ones and ones that hold a secret)."""
    events = wire_events(6)
    events[0]["detail"] = f"POST failed: Authorization: Bearer {'x9' * 20}"
    events[1]["attrs"] = {"password": "p@ss-w0rd", "endpoint": "/mcp", "count": 3, "ok": True, "none": None}
    events[2]["attrs"] = {"nested": {"apiKey": "abc123456789", "list": ["token=s3cr3t-value", "plain", 1.5]}}
    events[3]["detail"] = "pw=hunter2-corp-secret in https://user:pa55word@example.com/x?sig=abcdef123"
    events[4]["clientSecret"] = "top-level-secret"  # an unknown field: redacted, then refused by validation
    events[5]["attrs"] = {"note": "x" * 300, "items": ("a", {"session_id": "s-123"})}
    return events + events + [dict(event, detail="plain text again") for event in events]


def test_the_validators_redaction_is_exactly_the_redactors() -> None:
    known = ["hunter2-corp-secret"]
    validator = EventValidator(known)
    redactor = Redactor(known)
    for _ in range(2):  # the second pass answers the clean strings from memory
        for event in tricky_events():
            counts: dict[str, int] = {}
            expected, fired = redactor.event(event)
            assert validator.redact(event, counts) == expected
            assert counts == fired
    remembered = validator.redactor.remembered()
    assert not any("x9x9" in text or "hunter2" in text or "pa55word" in text for text in remembered)


def test_check_stores_what_redact_then_validate_gives_and_counts_every_redaction() -> None:
    known = ["hunter2-corp-secret"]
    validator = EventValidator(known)
    redactor = Redactor(known)
    events = tricky_events()
    for _ in range(2):
        intake = validator.check(events)
        expected: list[DiagnosticEvent] = []
        refused: list[int] = []
        counts: dict[str, int] = {}
        for index, event in enumerate(events):
            redacted, fired = redactor.event(event)
            for rule, count in fired.items():
                counts[rule] = counts.get(rule, 0) + count
            try:
                expected.append(DiagnosticEvent.model_validate(redacted))
            except ValueError:
                refused.append(index)
        assert intake.events == expected and len(expected) >= 9
        assert intake.redactions == counts
        assert [rejection.index for rejection in intake.rejected] == refused


def test_the_memory_of_clean_strings_is_bounded() -> None:
    validator = EventValidator()
    for i in range(CACHE_STRINGS + 100):
        validator.redact({"detail": f"message {i}"}, {})
    assert 0 < len(validator.redactor.remembered()) <= CACHE_STRINGS


def stored_docs(db: Path) -> list[dict[str, Any]]:
    """Every stored event document (read with plain sqlite3, as a strict UTF-8 decoder)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT doc FROM events")]


LONE = "\\udcff"  # as JSON spells it: a lone surrogate, e.g. a non-UTF-8 path decoded with surrogateescape


def surrogate_events() -> list[dict[str, Any]]:
    """Events with a lone surrogate in each text field a sender controls, between two plain events."""
    fields: list[dict[str, Any]] = [
        {"detail": "exited reading /srv/\udcff.json"},
        {"messageSafe": "stopped at /srv/\udcff"},
        {"server": "files-\udcff"},
        {"userId": "u\udcff"},
        {"tool": "read\udcff"},
        {"attrs": {"path": "/srv/\udcff", "k\udcff": 1}},
        {"source": {"service": "host-\udcff", "host": "h", "version": "1"}},
        {"detail": "\ud800\udc00 reversed pair is two lone ones: \udc00\ud800"},
    ]
    plain = wire_events(len(fields) + 2)
    return [plain[0], *({**plain[i + 1], **f} for i, f in enumerate(fields)), plain[-1]]


def assert_no_surrogates(doc: Any) -> None:
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate


async def test_lone_surrogates_in_any_field_are_stored_as_replacement_characters_with_the_whole_batch(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    events = surrogate_events()
    body = json.dumps({"events": events}).encode()  # ensure_ascii: `\udcff` escapes, as HttpSink sends
    assert LONE.encode() in body
    response = await client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": len(events), "rejected": []}
    docs = {doc["id"]: doc for doc in stored_docs(tmp_path / "events.db")}
    assert set(docs) == {e["id"] for e in events}
    for doc in docs.values():
        assert_no_surrogates(doc)
    by_field = [docs[e["id"]] for e in events[1:-1]]
    assert by_field[0]["detail"] == "exited reading /srv/\ufffd.json"
    assert by_field[2]["server"] == "files-\ufffd" and by_field[5]["attrs"] == {
        "path": "/srv/\ufffd",
        "k\ufffd": 1,
    }
    assert by_field[6]["source"]["service"] == "host-\ufffd"
    await assert_still_serving(client)


async def test_ndjson_surrogate_escapes_are_stored_replaced_and_lines_that_are_not_utf8_rejected_by_index(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """An escape is valid JSON (replaced, kept); bytes that are not UTF-8 are not JSON (that line only)."""
    escaped, cesu, latin1, emoji = wire_events(4)
    lines = [
        json.dumps({**escaped, "detail": "p\udcff"}).encode(),
        json.dumps({**cesu, "detail": "CESU-8 "}).encode().replace(b'CESU-8 "', b'CESU-8 \xed\xb3\xbf"'),
        json.dumps({**latin1, "detail": "caf"}).encode().replace(b'caf"', b'caf\xe9"'),
        json.dumps({**emoji, "detail": "\U0001f600 stays"}).encode(),  # a valid pair: kept as is
    ]
    response = await client.post("/v1/events", content=b"\n".join(lines), headers=NDJSON)
    body = response.json()
    assert body["accepted"] == 2 and [r["index"] for r in body["rejected"]] == [1, 2], response.text
    assert all("UTF-8" in r["message"] for r in body["rejected"])
    details = {doc["id"]: doc["detail"] for doc in stored_docs(tmp_path / "events.db")}
    assert details == {escaped["id"]: "p\ufffd", emoji["id"]: "\U0001f600 stays"}
