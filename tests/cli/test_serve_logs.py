"""What `mcpdiag serve` writes to its log: one JSON line each (ours, uvicorn's, any library's), the request
id on every line of a request, and never a secret a caller sent, in any spelling.

A real `serve` subprocess on loopback: secrets generated at run time are put where a caller can put them
(a path, a query string, a Debug ID lookup that is audited, an error message that quotes its input, the
service's own ingest key), and the whole output is read back.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt

from mcpdiag.collector.logging import LogRedaction, RedactFilter
from tests.cli.test_cli_serve import free_port, wait_ready
from tests.waiting import HTTP_PATIENCE


def _ghp() -> str:
    return "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


def _spellings(secret: str) -> set[str]:
    """`secret` as a log line could hold it: as is, percent-escaped, JSON-escaped inside a string."""
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1], secret[: len(secret) * 3 // 4]}


def test_serve_logs_are_json_lines_with_request_ids_and_hold_no_secret(tmp_path: Path) -> None:
    ingest_key, jwt_secret = secrets.token_hex(20), secrets.token_urlsafe(40)
    in_path, in_query, looked_up, in_header = _ghp(), _ghp(), _ghp(), _ghp()
    port = free_port()
    env = {
        **os.environ,
        "MCPDIAG_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "MCPDIAG_INGEST_KEYS": ingest_key,
        "MCPDIAG_JWT_SECRET": jwt_secret,
        "MCPDIAG_SPOOL_DIR": str(tmp_path / "spool"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpdiag.cli.app", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    now = int(time.time())
    support = jwt.encode(
        {"sub": "sam", "roles": ["support"], "iat": now, "exp": now + 600}, jwt_secret, algorithm="HS256"
    )
    admin = jwt.encode(
        {"sub": "ada", "roles": ["admin"], "iat": now, "exp": now + 600}, jwt_secret, algorithm="HS256"
    )
    request_ids = [f"req-{secrets.token_hex(6)}" for _ in range(4)]
    try:
        wait_ready(f"{base}/readyz", process)
        with httpx.Client(base_url=base, timeout=HTTP_PATIENCE) as client:
            auth = {"Authorization": f"Bearer {support}"}
            answers = [
                client.get(
                    f"/api/mcp/{in_path}/diagnostics", headers={**auth, "x-request-id": request_ids[0]}
                ),
                client.get(
                    "/api/mcp/github/diagnostics",
                    params={"tool": in_query},
                    headers={**auth, "x-request-id": request_ids[1]},
                ),
                client.get(f"/api/diagnostics/{looked_up}", headers={**auth, "x-request-id": request_ids[2]}),
                client.get(
                    f"/ui/?token={support}", headers={"x-request-id": request_ids[3], "x-other": in_header}
                ),
                client.post("/v1/events", headers={"x-api-key": ingest_key}, content=b"{not json"),
                # Audited: the user id the admin typed is stored and logged with the export.
                client.get(
                    "/api/admin/bundle",
                    params={"userId": looked_up, "since": "1h"},
                    headers={"Authorization": f"Bearer {admin}"},
                ),
            ]
            trail = client.get("/api/admin/audit", headers={"Authorization": f"Bearer {admin}"})
            assert trail.status_code == 200 and trail.json()["items"], trail.text
            assert looked_up not in trail.text and "[REDACTED" in trail.text
            # A secret a caller sent is not echoed back either, even in an error that quotes its input.
            for answer in answers:
                for secret in (in_path, in_query, looked_up, ingest_key):
                    assert secret not in answer.text, answer.text
            assert answers[0].status_code == 404 and "[REDACTED" in answers[0].json()["error"]["message"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate(timeout=5)
    output = out + err
    for secret in (in_path, in_query, looked_up, support, jwt_secret, ingest_key):
        for spelling in _spellings(secret):
            assert spelling not in output, f"a secret reached the log: {spelling[:8]}…"
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert len(access) >= len(answers), out
    # Every access line is JSON with the id of its request (uvicorn's own text lines are gone).
    assert "INFO:" not in output, output
    logged_ids = {line.get("request_id") for line in access}
    assert set(request_ids) <= logged_ids, (request_ids, logged_ids)
    assert any("/api/diagnostics/[REDACTED" in line["event"] for line in access), access
    audits = [line for line in lines if line.get("event") == "audit"]
    assert audits and all(looked_up not in json.dumps(line) for line in audits)


def _formatted(redaction: LogRedaction, record: logging.LogRecord, formatter: logging.Formatter) -> str:
    assert RedactFilter(redaction).filter(record)
    return formatter.format(record)


def test_a_library_record_is_redacted_before_any_handler_formats_it() -> None:
    """The stdlib filter redacts a record's message, arguments, traceback and stack before any handler or
    formatter of the host's, or the service's own JSON one (which reads the exception itself), sees them."""
    from mcpdiag.collector.logging import stdlib_log_config

    secret, known = _ghp(), secrets.token_hex(20)
    redaction = LogRedaction()
    redaction.add_secrets([known])
    config = stdlib_log_config()  # the service's own formatter, built as dictConfig builds it
    service = config["formatters"]["json"]["()"](
        **{k: v for k, v in config["formatters"]["json"].items() if k != "()"}
    )
    for formatter in (logging.Formatter(), service):
        try:
            raise ValueError(f"bad token {secret} from {known}")
        except ValueError:
            record = logging.LogRecord(
                "lib", logging.ERROR, __file__, 1, "%s said %r", (known, {"q": secret}), sys.exc_info()
            )
        record.stack_info = f"Stack: called with {secret}"
        text = _formatted(redaction, record, formatter)
        assert secret not in text and known not in text, text
        assert "said" in text and "ValueError" in text and "Traceback" in text, text


def test_uvicorns_access_formatter_still_reads_a_redacted_record() -> None:
    """uvicorn's own access formatter (`uvicorn --factory …`, a host's logging config) unpacks the record's
    five arguments: they keep their shape, each redacted (a token in a path or query)."""
    from uvicorn.logging import AccessFormatter

    secret = _ghp()
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/mcp/github/diagnostics?tool={secret}", "1.1", 200),
        None,
    )
    text = _formatted(
        LogRedaction(), record, AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s')
    )
    assert secret not in text and '"GET /api/mcp/github/diagnostics?tool=[REDACTED' in text and "200" in text


def test_a_record_that_cannot_be_read_never_raises_into_the_caller() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

        __repr__ = __str__

    for msg, args in (("%(a)s", ({"b": 1},)), ("x %s", (Unprintable(),)), (Unprintable(), ())):
        record = logging.LogRecord("lib", logging.ERROR, __file__, 1, msg, args, None)
        assert RedactFilter(LogRedaction()).filter(record)
        logging.Formatter().format(record)  # and what it left formats


def test_a_request_id_that_holds_a_secret_is_replaced() -> None:
    """The caller's X-Request-ID is written into every line and span: one the redactor would change is not
    used (a fresh id instead), one it would not is kept."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from mcpdiag.collector.logging import RequestIdMiddleware

    app = Starlette(
        routes=[Route("/", lambda request: PlainTextResponse(request.scope["state"]["request_id"]))]
    )
    client = TestClient(RequestIdMiddleware(app))
    secret = "password=" + secrets.token_hex(8)
    assert client.get("/", headers={"x-request-id": secret}).text != secret
    assert client.get("/", headers={"x-request-id": "req-42"}).text == "req-42"


def test_structured_fields_keys_and_objects_are_redacted() -> None:
    """Every field of a structlog line, its keys and what would be written as a repr included."""
    secret = _ghp()
    redaction = LogRedaction()

    class Thing:
        def __repr__(self) -> str:
            return f"Thing(token={secret})"

    line = redaction.processor(
        None,
        "info",
        {
            "event": f"saw {secret}",
            secret: 1,
            "nested": {"list": [secret]},
            "thing": Thing(),
            "level": "info",
        },
    )
    assert secret not in json.dumps(line, default=str)
    assert line["level"] == "info" and line["event"].startswith("saw [REDACTED")


def test_an_error_message_names_its_field_whole_and_redacts_what_was_sent() -> None:
    """`passphrase: …` is our field name, not an assignment to redact; a value the caller sent is redacted
    wherever it stands, the field position included."""
    from mcpdiag.collector.handlers import shown_message

    secret = _ghp()
    for ours in (
        "passphrase: unknown query parameter",
        "token: must be a string",
        "missing bearer token: send 'Authorization: Bearer <JWT>'",
        "missing ingest key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
    ):
        assert shown_message(ours) == ours
    for message in (f"{secret}: unknown query parameter", f"tool: {secret!r} is too long", f"saw {secret}"):
        shown = shown_message(message)
        assert secret not in shown and "[REDACTED" in shown, shown


EMBEDDED = """
import logging, sys
from pathlib import Path
from mcpdiag.collector import create_collector_app
from tests.collector.support import settings_for
key, token, where = sys.argv[1], sys.argv[2], Path(sys.argv[3])
create_collector_app(settings_for(where, key))  # embedded: no log config of ours, none of the host's
logging.getLogger("some.library").warning("retrying with key=%s after %s", key, token)
logging.getLogger().error("root: Authorization: Bearer %s", token)
"""


def test_an_embedded_app_redacts_what_reaches_pythons_fallback_handler(tmp_path: Path) -> None:
    """A host that embeds the app and configures no logging (as `serve --quiet` and `mcpdiag open` run):
    a library's warning goes to Python's last-resort handler on stderr, which printed it raw."""
    key, token = "ik_" + secrets.token_hex(16), _ghp()
    done = subprocess.run(
        [sys.executable, "-c", EMBEDDED, key, token, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "retrying with key=" in done.stderr and "root: Authorization" in done.stderr, done.stderr
    for secret in (key, token):
        assert not any(spelling in done.stderr for spelling in _spellings(secret)), done.stderr
