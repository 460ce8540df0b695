"""Sinks deliver batches and report outcomes instead of raising; HttpSink against a real loopback server."""

from __future__ import annotations

import gzip
import json
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mcpdiag.emitters import Emitter, HttpSink, MemorySink
from mcpdiag.emitters.sinks import CallableSink, Outcome


class Collector:
    """A tiny real HTTP server on loopback whose next answers the test scripts."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.judge: Callable[[bytes], tuple[int, dict[str, str], bytes]] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "raw": raw,
                    }
                )
                if outer.answers:
                    status, headers, body = outer.answers.pop(0)
                elif outer.judge is not None:
                    status, headers, body = outer.judge(raw)
                else:
                    status, headers, body = 202, {}, b'{"accepted": 1}'
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


def events(n: int) -> list[dict[str, Any]]:
    sink = MemorySink()
    emitter = Emitter(sink, service="t", flush_interval=0.01)
    for _ in range(n):
        emitter.emit("MCP_TIMEOUT", server="github", touchpoint="connect")
    emitter.close()
    return sink.events


def test_http_sink_posts_gzip_json_with_the_api_key(collector: Collector) -> None:
    key = secrets.token_hex(16)
    batch = events(3)
    result = HttpSink(collector.url, api_key=key).send(batch)
    assert result.outcome is Outcome.SENT
    [request] = collector.requests
    assert request["path"] == "/v1/events"
    assert request["headers"]["x-api-key"] == key and request["headers"]["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(request["raw"]))["events"] == batch


def test_http_sink_honours_retry_after_then_succeeds(collector: Collector) -> None:
    collector.answers = [(503, {"Retry-After": "0"}, b"busy"), (429, {"Retry-After": "0"}, b"slow down")]
    result = HttpSink(collector.url, api_key="k" * 8, max_attempts=3).send(events(1))
    assert result.outcome is Outcome.SENT and len(collector.requests) == 3


def test_http_sink_reports_retry_when_the_collector_is_down() -> None:
    sink = HttpSink("http://127.0.0.1:9", api_key="k" * 8, timeout=1, max_attempts=2, backoff=0.01)
    assert sink.send(events(1)).outcome is Outcome.RETRY


def test_http_sink_gives_up_on_a_permanent_rejection(collector: Collector) -> None:
    collector.answers = [(401, {}, b'{"error": {"code": "unauthorized"}}')]
    result = HttpSink(collector.url, api_key="wrong-key").send(events(1))
    assert result.outcome is Outcome.FAILED and "401" in (result.error or "")
    assert len(collector.requests) == 1


def test_a_refused_key_is_said_once_in_the_log_and_counted(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong ingest key refused every batch and nothing said so but `stats()` (found by a pass as an
    embedding developer): one warning names the refusal, whatever the number of batches."""
    key = "ik_" + secrets.token_hex(16)
    collector.judge = lambda raw: (401, {}, b'{"error": {"code": "unauthorized", "message": "invalid key"}}')
    sink = HttpSink(collector.url, api_key=key)
    emitter = Emitter(sink, service="t", flush_interval=0.01, coalesce_window=0)
    with caplog.at_level("WARNING", logger="mcpdiag.emitters"):
        for batch in range(3):
            emitter.emit("MCP_TIMEOUT", server=f"s{batch}", touchpoint="connect")
            assert emitter.flush(5)
    emitter.close(2)
    said = [r.getMessage() for r in caplog.records if "refused the batch" in r.getMessage()]
    assert len(said) == 1 and "401" in said[0] and "ingest key" in said[0], said
    assert key not in caplog.text
    assert emitter.stats().failed_batches == 3


def test_a_host_that_ends_without_close_still_delivers_what_it_emitted(collector: Collector) -> None:
    """The README's embed never calls `close()`: a script that emits and ends lost its events (the worker is a
    daemon thread) and the Debug ID it printed never resolved. The interpreter's exit now drains them."""
    script = (
        "import sys\n"
        "from mcpdiag.emitters import Emitter, HttpSink\n"
        "emitter = Emitter(HttpSink(sys.argv[1], api_key='k'), service='script', flush_interval=60)\n"
        "print(emitter.emit('MCP_TIMEOUT', server='github', touchpoint='connect'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, collector.url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    debug_id = done.stdout.strip()
    sent = [json.loads(gzip.decompress(r["raw"]))["events"] for r in collector.requests]
    assert [e["traceId"] for batch in sent for e in batch] == [debug_id]


def test_http_sink_counts_events_the_collector_rejected(collector: Collector) -> None:
    answer = {"accepted": 1, "rejected": [{"index": 1, "field": "server", "message": "too long"}]}
    collector.answers = [(202, {}, json.dumps(answer).encode())]
    result = HttpSink(collector.url, api_key="k" * 8).send(events(2))
    assert result.outcome is Outcome.SENT and result.rejected == 1


def test_callable_sink_turns_exceptions_into_failed_results() -> None:
    seen: list[int] = []
    assert CallableSink(lambda batch: seen.append(len(batch))).send(events(2)).outcome is Outcome.SENT
    assert seen == [2]
    result = CallableSink(lambda batch: 1 / 0).send(events(1))
    assert result.outcome is Outcome.FAILED and "ZeroDivisionError" in (result.error or "")


@pytest.mark.parametrize(
    ("status", "outcome", "isolate", "requests"),
    [
        (500, Outcome.RETRY, True, 1),
        (501, Outcome.RETRY, True, 1),
        (400, Outcome.FAILED, True, 1),
        (413, Outcome.FAILED, True, 1),
        (422, Outcome.FAILED, True, 1),
        (401, Outcome.FAILED, False, 1),
        (403, Outcome.FAILED, False, 1),
        (404, Outcome.FAILED, False, 1),
        (415, Outcome.FAILED, False, 1),
        (408, Outcome.RETRY, False, 2),
        (429, Outcome.RETRY, False, 2),
        (502, Outcome.RETRY, False, 2),
        (503, Outcome.RETRY, False, 2),
        (504, Outcome.RETRY, False, 2),
    ],
)
def test_http_sink_says_when_an_answer_may_be_about_the_batch_itself(
    collector: Collector, status: int, outcome: Outcome, isolate: bool, requests: int
) -> None:
    """Answers about the content (400, 413, 422, 500) ask the emitter to isolate the event at fault and are
    not retried in the sink; an unavailable collector (408, 429, 502-504) is retried as before."""
    collector.answers = [(status, {"Retry-After": "0"}, b'{"error": {"code": "x", "message": "y"}}')] * 2
    result = HttpSink(collector.url, api_key="k" * 8, max_attempts=2, backoff=0.01).send(events(2))
    assert (result.outcome, result.isolate, len(collector.requests)) == (outcome, isolate, requests)
    assert str(status) in (result.error or "")


def test_an_event_the_collector_answers_500_to_is_isolated_and_every_other_one_arrives(
    collector: Collector,
) -> None:
    """Through real HTTP: the collector fails (500) any batch holding one poisoned event; the emitter splits
    the batch until that event is alone, drops and counts it, and delivers every other event in order."""
    stored: list[dict[str, Any]] = []

    def judge(raw: bytes) -> tuple[int, dict[str, str], bytes]:
        batch = json.loads(gzip.decompress(raw))["events"]
        if any(event["attrs"].get("poison") for event in batch):
            return 500, {}, b"Internal Server Error"
        stored.extend(batch)
        return 202, {}, json.dumps({"accepted": len(batch), "rejected": []}).encode()

    collector.judge = judge
    emitter = Emitter(
        HttpSink(collector.url, api_key="k" * 8), service="t", flush_interval=3600, coalesce_window=0
    )
    ids = [
        emitter.emit("MCP_TIMEOUT", server="github", touchpoint="connect", attrs={"poison": n == 41})
        for n in range(200)
    ]
    assert emitter.flush(30), "the batch must not be retried forever"
    later = emitter.emit("MCP_CONNECTED", server="github", touchpoint="lifecycle")
    assert emitter.flush(30)
    emitter.close()
    assert [e["traceId"] for e in stored] == ids[:41] + ids[42:] + [later]
    stats = emitter.stats()
    assert stats.poisoned == 1 and stats.dropped_total == 1
    assert sum(e["attrs"].get("mcpdiag.dropped_events", 0) for e in stored) == 1
    assert len(collector.requests) <= 40
