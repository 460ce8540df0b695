"""Redaction sees through encodings and nesting: every token format, in every context, in every encoding
(percent-encoded once or twice, JSON-escaped, JSON inside JSON, inside URLs, HTML entities, base64 where the
Basic rule decodes it, as a dict key) leaves no trace of the secret, and redacting again changes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

import pytest

from mcpdiag.emitters import Redactor, find_leaks, redact_event, redact_text
from tests.emitters.secret_forms import Case, basic_cases, chars, context_cases, survivors, token_cases

CASES = [*token_cases(), *context_cases(), *basic_cases()]


def _failures(cases: Iterable[Case], redact: object) -> list[str]:
    assert callable(redact)
    failed = []
    for case in cases:
        out = redact(case.text)
        if found := survivors(case.secret, out):
            failed.append(f"{case.name}: {found} survived in {out!r}")
    return failed


def test_no_generated_secret_survives_in_any_encoding_or_context() -> None:
    failed = _failures(CASES, redact_text)
    assert not failed, f"{len(failed)} of {len(CASES)} cases leak:\n" + "\n".join(failed[:40])


def test_every_encoded_secret_is_reported_by_find_leaks() -> None:
    missed = [case.name for case in CASES if not find_leaks(case.text)]
    assert not missed, f"{len(missed)} of {len(CASES)} not reported:\n" + "\n".join(missed[:40])


def test_redacting_an_encoded_secret_twice_changes_nothing() -> None:
    redactor = Redactor()
    unstable = []
    for case in CASES:
        once = redactor.text(case.text)
        counts: dict[str, int] = {}
        if redactor.text(once, counts) != once or counts:
            unstable.append(case.name)
    assert not unstable, "\n".join(unstable[:40])


def test_an_encoded_secret_is_found_in_event_values_at_any_depth_and_in_keys() -> None:
    failed = []
    for case in CASES:
        event = {
            "detail": case.text,
            "attrs": {"note": case.text, "list": [case.text, {"deep": case.text}], case.text: 1},
        }
        out, counts = redact_event(event)
        dumped = json.dumps(out)
        if found := survivors(case.secret, dumped) or not counts:
            failed.append(f"{case.name}: {found}")
    assert not failed, "\n".join(failed[:40])


@pytest.mark.parametrize(
    "template",
    [
        "q=a%3D{}",
        "a%20{}",
        "%22{}%22",
        "x%2C{}",
        "a%3d{}",
        "%2522{}%2522",
        "\\u0022{}\\u0022",
        "&quot;{}&quot;",
    ],
)
def test_a_token_right_after_an_escape_is_redacted_and_the_escape_is_kept(template: str) -> None:
    token = "ghp_" + chars(36)
    out = redact_text(template.format(token))
    assert out == template.format("[REDACTED:github_token]")


def test_json_inside_a_json_string_is_redacted_and_both_documents_stay_valid() -> None:
    secret = chars(20)
    inner = json.dumps({"client_secret": secret, "pin_password": 1234, "user": "app"})
    text = json.dumps({"body": inner, "status": 400})
    out = redact_text(text)
    assert secret not in out
    outer = json.loads(out)
    assert json.loads(outer["body"]) == {
        "client_secret": "[REDACTED:assignment]",
        "pin_password": "[REDACTED:assignment]",
        "user": "app",
    }
    assert outer["status"] == 400


def test_a_known_secret_is_found_percent_encoded_twice_json_escaped_and_in_lowercase_hex() -> None:
    secret = chars(10) + '/+=&"' + chars(10)
    redactor = Redactor([secret])
    for text in (
        "x=" + json.dumps(secret)[1:-1],
        "x=" + quote(quote(secret, safe=""), safe=""),
        "x=" + re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        "x=" + json.dumps(json.dumps(secret))[1:-1],
    ):
        out = redactor.text(text)
        assert secret[:10] not in out and secret[-10:] not in out, out
        assert "[REDACTED:known_secret]" in out


def test_escapes_without_a_secret_leave_the_text_byte_for_byte() -> None:
    texts = [
        r"spawn failed: C:\Users\alice\AppData\Local\mcp\server.exe (errno 2)",
        json.dumps({"message": "line one\nline two", "path": "C:\\tmp\\x"}),
        "GET https://api.example.com/search?q=mcp%20server%2C%20fast&page=2 -> 200",
        "&lt;html&gt;&lt;title&gt;502 Bad Gateway&lt;/title&gt;",
        "100% done, 50%off, %zz, %",
        json.dumps(json.dumps({"tool": "search", "max_tokens": 1024})),
    ]
    for text in texts:
        assert redact_text(text) == text
        assert find_leaks(text) == []
