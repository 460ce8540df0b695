"""Base64 is read, run by run: a run whose text holds a secret is replaced whole (`encoded_secret`), and
base64 that says nothing secret (or is no text at all: digests, keys, ids) is left exactly as it was.
The encodings of every token format and context secret are in `test_redact_encodings` (`secret_forms`)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import string
import uuid

import pytest

from mcpdiag.emitters import Redactor, find_leaks, redact_event, redact_text
from tests.emitters.secret_forms import TOKEN_FORMATS, Secret, chars, survivors


def _b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


@pytest.mark.parametrize(
    "text",
    [
        "config=" + _b64("log_level=debug\nport=8080\nhost=mcp.example.com"),
        '{"blob": "' + _b64(json.dumps({"tool": "search", "page": 2})) + '"}',
        "sha256=" + _b64(hashlib.sha256(os.urandom(8)).digest()),
        "nonce " + base64.urlsafe_b64encode(os.urandom(24)).decode(),
        "trace " + uuid.uuid4().hex + uuid.uuid4().hex,
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ" + _b64(os.urandom(48)),
        "File site-packages/httpx/_transports/default.py, in handle_async_request_with_retries",
        "data:image/png;base64," + _b64(b"\x89PNG\r\n\x1a\n" + os.urandom(40)),
        _b64("a session expired and the client reconnected"),
    ],
)
def test_base64_that_says_nothing_secret_is_left_as_it_was(text: str) -> None:
    counts: dict[str, int] = {}
    assert Redactor().text(text, counts) == text and not counts


def test_only_the_run_that_holds_a_secret_goes_and_the_text_around_it_stays() -> None:
    secret = chars(24)
    plain = _b64("nothing to see in this one")
    text = f"a={plain} b={_b64('password=' + secret)} c=done"
    assert redact_text(text) == f"a={plain} b=[REDACTED:encoded_secret] c=done"


def test_a_secret_a_format_rule_already_took_is_counted_under_its_own_name() -> None:
    """`Authorization: Basic <base64 of user:password>` stays the Basic rule's."""
    text = "Authorization: Basic " + _b64(f"user:{chars(20)}")
    assert find_leaks(text) == ["basic"] and redact_text(text) == "Authorization: Basic [REDACTED:basic]"


def test_an_encoded_secret_in_an_event_key_or_value_is_redacted_and_counted() -> None:
    token = TOKEN_FORMATS["stripe_live"]()
    blob = _b64(f"STRIPE_KEY={token.token}")
    out, counts = redact_event({"attrs": {"env": blob, blob: 1}, "detail": f"loaded {blob}"})
    assert not survivors(token, json.dumps(out)) and counts == {"encoded_secret": 3}


@pytest.mark.parametrize("engine", ["stdlib", None])
def test_both_scan_engines_read_base64_alike(engine: str | None) -> None:
    text = "x=" + _b64("token=" + chars(30)) + " y=" + _b64("plain words only, and more of them")
    assert Redactor(engine=engine).text(text) == redact_text(text)
    assert "[REDACTED:encoded_secret]" in redact_text(text)


@pytest.mark.parametrize("prefix", ["", "a", "ab"])  # every offset of the secret in the encoded text
@pytest.mark.parametrize("urlsafe", [False, True])
def test_a_known_secret_is_removed_from_base64_at_any_offset(prefix: str, urlsafe: bool) -> None:
    known = chars(20)
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = "blob=" + encode(f"{prefix}x={known};y=1".encode()).decode()
    out = Redactor([known]).text(text)
    assert "[REDACTED:known_secret]" in out
    assert not survivors(Secret("known", known, known), out), out


def test_a_short_known_secret_is_not_looked_for_in_base64() -> None:
    """Under `MIN_ENCODED_SECRET` characters, its base64 forms would match unrelated base64 by chance."""
    text = "blob=" + _b64("x=abcd1234")
    assert Redactor(["abcd123"]).text(text) == text


@pytest.mark.parametrize("engine", ["stdlib", None])
@pytest.mark.parametrize("around", ["café {} fin", "令牌 {}", "😀{}", "{}\u00a0é"])
def test_base64_is_read_in_text_that_is_not_ascii(engine: str | None, around: str) -> None:
    """Hyperscan scans such text lowercased for the other tags; the base64 forms are looked for as written."""
    token = TOKEN_FORMATS["github_classic"]()
    text = around.format("config=" + _b64(f"token={token.token}"))
    out = Redactor(engine=engine).text(text)
    assert not survivors(token, out) and "[REDACTED:encoded_secret]" in out, out


def test_wrapped_utf16_glued_and_legacy_base64_are_read() -> None:
    secret = chars(24)
    texts = [
        base64.encodebytes(("HOME=/root\nUSER=" + "x" * 36 + f"\nDB_PASSWORD={secret}\n").encode()).decode(),
        "-EncodedCommand " + base64.b64encode(f'$env:API_TOKEN="{secret}"'.encode("utf-16-le")).decode(),
        "key=v1" + _b64(json.dumps({"token": secret})),
        "x=" + base64.b64encode("déjà vu, password=".encode("latin-1") + secret.encode()).decode(),
        "\\U0001F600" + _b64(f"password={secret}"),
    ]
    for text in texts:
        out = redact_text(text)
        assert not survivors(Secret("s", secret, secret), out) and "[REDACTED:encoded_secret]" in out, out


def test_a_known_secret_no_utf8_can_hold_is_matched_as_it_is_not_thrown_on() -> None:
    secret = "abc\ud800defgh-more"
    assert Redactor([secret]).text(f"x {secret} y") == "x [REDACTED:known_secret] y"


def test_the_word_test_of_decoded_text_is_the_same_on_both_engines() -> None:
    """What base64 must say (`BASE64_WORDS`, as spelled there) is found by one Hyperscan pass on the default
    engine and by a test per word on the stdlib one: both say the same of every word in every place, of
    spellings the list does not hold (`ToKeN`), and of text that is not ASCII or not even valid UTF-16."""
    from mcpdiag.emitters import redact_engine

    texts = ["", "plain words only", "ToKeN=1 PaSsWoRd=2", "é" * 3 + "\udc80", "\x00" * 20]
    for word in redact_engine.BASE64_WORDS:
        texts += [word, f"é{word}\udc80", f"{chars(5)} {word}={chars(8)}", word[:-1] + " " + word[-1]]
    by_loop = [redact_engine._says_word_by_loop(text) for text in texts]
    assert by_loop == [redact_engine._SAYS_WORD(text) for text in texts]
    assert by_loop[:5] == [False] * 5
    assert all(by_loop[5 + 4 * i + j] for i in range(len(redact_engine.BASE64_WORDS)) for j in range(3))


@pytest.mark.parametrize("odd", ["\udcff", "\udc80\udce9", "\ud800"])
def test_a_known_secret_of_bytes_that_are_not_utf8_is_found_percent_encoded_and_in_base64(odd: str) -> None:
    """A secret read from the environment or a file with bytes that are not UTF-8 holds lone surrogates
    (`surrogateescape`): its percent-escapes and its base64 are those of the bytes it was read from (any
    other lone surrogate: as UTF-8 would write it), in the redactor as in the bundle's needles."""
    from urllib.parse import quote

    from mcpdiag.bundle.known_secrets import secret_needles

    secret = chars(10) + odd + chars(8)
    handling = "surrogateescape" if all("\udc80" <= c <= "\udcff" for c in odd) else "surrogatepass"
    raw = secret.encode("utf-8", handling)
    percent = quote(raw, safe="")
    wrapped = b"cfg " + raw + b" end"
    texts = {
        percent: f"GET /cb?state={percent}&page=2",
        "base64": "blob " + _b64(wrapped),
        "url-safe base64": "blob " + base64.urlsafe_b64encode(wrapped).decode(),
    }
    for form, text in texts.items():
        out = Redactor([secret]).text(text)
        assert "[REDACTED:known_secret]" in out and raw not in _decoded_runs(out), (form, out)
    assert percent in secret_needles([secret])


def _decoded_runs(text: str) -> bytes:
    """The bytes every run of base64 in `text` says, and `text` itself (percent-escapes decoded)."""
    from urllib.parse import unquote_to_bytes

    found = [unquote_to_bytes(text)]
    for word in text.replace("=", " ").split():
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            with contextlib.suppress(ValueError):
                found.append(decode(word + "=" * (-len(word) % 4)))
    return b"\n".join(found)


def _binary_with(planted: bytes) -> bytes:
    """`planted` among bytes that are not text (control characters; not NUL, which reads as UTF-16), whose
    base64 is one run however it is read."""
    return b"\x01" * secrets.choice(range(9, 15)) + planted + b"\x02" * secrets.choice(range(9, 15))


def test_random_bytes_that_say_a_secret_word_by_chance_are_not_a_secret_but_a_token_in_them_is() -> None:
    """Found in CI: one ULID in about a million decoded, as base64, to bytes holding `PWD=`; the collector's
    redaction made the id `[REDACTED:encoded_secret]` and refused the event (a 202 that lost it). Bytes that
    do not read as text say such words by chance; a provider's token in them is still one."""
    for word in (b"PWD=", b"key=", b"token: ", b"password="):
        for _ in range(12):
            run = base64.b64encode(_binary_with(word + b"abc")).decode()
            assert redact_text(f"id {run} end") == f"id {run} end", (word, run)
    token = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    run = base64.b64encode(_binary_with(token.encode())).decode()
    assert "[REDACTED:encoded_secret]" in redact_text(run)
    said = base64.b64encode(b"config PWD=" + secrets.token_urlsafe(12).encode()).decode()
    assert redact_text(said) == "[REDACTED:encoded_secret]"


def test_ids_of_base64_characters_are_never_redacted() -> None:
    """ULIDs and trace ids are runs of base64 characters: none is judged a secret (two that were are kept)."""
    from mcpdiag.emitters.ids import new_event_id, new_trace_id

    ids = ["01M91HFSSEB7G11BXRD0FQ8P68", "01M91HFWMFQV0Q914A8GAEG3P0"]
    ids += [new_event_id(1_700_000_000_000 + i) for i in range(20_000)]
    ids += [new_trace_id() for _ in range(20_000)]
    assert [i for i in ids if redact_text(i) != i] == []
