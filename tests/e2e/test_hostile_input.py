"""Hostile requests at the collector's HTTP edge, through real uvicorn on loopback: each gets a clear 4xx
(or the connection is closed), never a 500, and `/healthz` keeps answering 200 throughout."""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.collector import MAX_BODY_BYTES, create_collector_app
from mcpdiag.store import SQLiteEventStore
from tests.collector.support import settings_for, wire_events
from tests.e2e.loopback import RawAnswer, raw_exchange, request_head, serve_on
from tests.waiting import HTTP_PATIENCE

BODY_TIMEOUT_S = 1.0
HUNDRED_MB = 100 * 1024 * 1024
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Collector:
    port: int
    key: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, content: bytes, **headers: str) -> httpx.Response:
        headers = {"content-type": "application/json", "x-api-key": self.key, **headers}
        return httpx.post(self.url + "/v1/events", content=content, headers=headers, timeout=HTTP_PATIENCE)

    def healthz(self) -> int:
        return httpx.get(self.url + "/healthz", timeout=HTTP_PATIENCE).status_code


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """The collector over a real SQLite file, with a short body timeout; healthy again after each attack."""
    key = "ik_" + secrets.token_hex(16)
    settings = settings_for(tmp_path, key, body_timeout_s=BODY_TIMEOUT_S)
    app = create_collector_app(settings, SQLiteEventStore(tmp_path / "events.db"))
    with serve_on(app, timeout_keep_alive=2) as port:
        target = Collector(port, key)
        assert target.healthz() == 200
        yield target
        assert target.healthz() == 200, "the collector stopped answering /healthz after the attack"
        good = target.post(json.dumps({"events": wire_events(1)}).encode())
        assert good.status_code == 202, "the collector stopped ingesting after the attack"


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def zeros(total: int) -> Iterator[bytes]:
    """`total` bytes of body in 64 KiB chunks (generated lazily: nothing is built up front)."""
    chunk = b"0" * CHUNK
    for _ in range(total // CHUNK):
        yield chunk


def test_a_declared_100_mb_body_is_refused_with_413_before_it_is_read(collector: Collector) -> None:
    head = request_head(
        "/v1/events", collector.key, {"Content-Type": "application/json", "Content-Length": str(HUNDRED_MB)}
    )
    answer = raw_exchange(collector.port, head, zeros(HUNDRED_MB))
    assert answer.status == 413, answer
    assert json.loads(answer.body)["error"]["code"] == "payload_too_large"
    assert answer.sent < HUNDRED_MB // 2, "the server should refuse long before the body is in"


def test_a_100_mb_chunked_body_is_cut_off_at_the_limit_with_413(collector: Collector) -> None:
    head = request_head(
        "/v1/events", collector.key, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    )
    framed = (f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" for chunk in zeros(HUNDRED_MB))
    answer = raw_exchange(collector.port, head, framed)
    assert answer.status == 413, answer
    assert json.loads(answer.body)["error"]["code"] == "payload_too_large"
    assert answer.sent < 4 * MAX_BODY_BYTES, "the server should stop reading soon after 8 MiB"


def test_a_gzip_bomb_is_refused_with_413_without_being_inflated(collector: Collector) -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1024 * 1024)
    bomb = b"".join(deflate.compress(block) for _ in range(100)) + deflate.flush()
    assert len(bomb) < 200 * 1024  # 100 MiB of zeros in ~100 KiB
    response = collector.post(bomb, **{"content-encoding": "gzip"})
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


def test_a_gzip_body_that_is_not_gzip_gets_400(collector: Collector) -> None:
    response = collector.post(b"\x1f\x8b not gzip at all", **{"content-encoding": "gzip"})
    assert response.status_code == 400
    assert error_code(response) == "invalid_gzip"


def test_invalid_utf8_in_a_json_body_gets_400(collector: Collector) -> None:
    event = json.dumps(wire_events(1)[0]).encode().replace(b'"server": "', b'"server": "\xff\xfe', 1)
    response = collector.post(b'{"events": [' + event + b"]}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_json"
    assert "utf-8" in response.json()["error"]["message"].lower()


def test_invalid_utf8_on_an_ndjson_line_rejects_that_event_by_index(collector: Collector) -> None:
    good, bad = (json.dumps(event).encode() for event in wire_events(2))
    bad = bad.replace(b'"server": "', b'"server": "\xff', 1)
    response = collector.post(good + b"\n" + bad + b"\n", **{"content-type": "application/x-ndjson"})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]


@pytest.mark.parametrize("depth", [100_000, 200])
def test_deeply_nested_attrs_get_a_4xx_naming_the_problem(collector: Collector, depth: int) -> None:
    event = json.dumps({**wire_events(1)[0], "attrs": "@"})
    nested = '{"a": ' * depth + "1" + "}" * depth
    response = collector.post(('{"events": [' + event.replace('"@"', nested) + "]}").encode())
    if response.status_code == 202:  # parsed: the event itself is refused, with attrs named
        rejected: list[dict[str, Any]] = response.json()["rejected"]
        assert response.json()["accepted"] == 0
        assert rejected and rejected[0]["field"].startswith("attrs"), rejected
    else:
        assert response.status_code in (400, 413), response.text
        assert error_code(response) in ("invalid_json", "event_too_large")


@pytest.mark.parametrize("kind", ["application/json", "application/x-ndjson"])
def test_ten_thousand_tiny_events_in_one_request_get_413(collector: Collector, kind: str) -> None:
    json_body = json.dumps({"events": [{}] * 10_000}).encode()
    body = json_body if kind == "application/json" else b"{}\n" * 10_000
    response = collector.post(body, **{"content-type": kind})
    assert response.status_code == 413
    assert error_code(response) == "too_many_events"


HEALTH_ANSWERS_IN_S = 5.0
"""What the slowloris test claims: `/healthz` answers within this while slow bodies trickle in (a health
check that waited behind them would time out here, so this bound is the claim, not patience)."""


class HealthPoller:
    """Polls `/healthz` from another thread; every answer must be a 200."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=HEALTH_ANSWERS_IN_S) as client:
            while not self._stop.wait(0.05):
                try:
                    self.statuses.append(client.get(self.url + "/healthz").status_code)
                except httpx.HTTPError as exc:
                    self.statuses.append(type(exc).__name__)

    def stop(self) -> list[int | str]:
        self._stop.set()
        self._thread.join(10)
        return self.statuses


def test_a_slowloris_body_gets_408_and_health_answers_meanwhile(collector: Collector) -> None:
    head = request_head(
        "/v1/events", collector.key, {"Content-Type": "application/json", "Content-Length": "100000"}
    )
    poller = HealthPoller(collector.url)
    answers: list[RawAnswer] = []

    def trickle() -> None:  # one byte every 50 ms: ~1.4 hours for the whole body, if let be
        answers.append(raw_exchange(collector.port, head, (b" " for _ in range(400)), pause=0.05))

    clients = [threading.Thread(target=trickle) for _ in range(20)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(30)
    statuses = poller.stop()

    assert len(answers) == 20
    for answer in answers:
        assert answer.status == 408, answer
        assert json.loads(answer.body)["error"]["code"] == "request_timeout"
    assert statuses and all(status == 200 for status in statuses), statuses


def test_gzip_of_a_valid_batch_is_still_accepted(collector: Collector) -> None:
    """The limits above do not get in the way of an honest compressed batch."""
    body = gzip.compress(json.dumps({"events": wire_events(500)}).encode())
    response = collector.post(body, **{"content-encoding": "gzip"})
    assert response.status_code == 202
    assert response.json() == {"accepted": 500, "rejected": []}
