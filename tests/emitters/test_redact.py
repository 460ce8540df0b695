"""Redaction engine: every rule, the key layer, known secrets, idempotency and false positives.

Every secret here is generated at test time (a provider prefix plus random characters): no real-looking token
literal is committed.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpdiag.emitters.redact import (
    RULE_NAMES,
    Redactor,
    find_leaks,
    is_secret_key,
    redact_event,
    redact_text,
    redact_text_counted,
)

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
UPPER_ALNUM = string.ascii_uppercase + string.digits
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_rng = random.Random(20261121)


def chars(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_rng.choices(alphabet, k=n))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt() -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": chars(12), "exp": _rng.randrange(10**9, 2 * 10**9)}).encode())
    return f"{header}.{payload}.{chars(43, URLSAFE)}"


def make_pem(kind: str = "RSA ") -> str:
    body = "\n".join(chars(64, ALNUM + "+/") for _ in range(4))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


# name -> (factory, the rule expected to catch it)
PROVIDER_SECRETS: dict[str, tuple[Callable[[], str], str]] = {
    "aws_access_key_id": (lambda: "AKIA" + chars(16, UPPER_ALNUM), "aws_access_key_id"),
    "aws_session_key_id": (lambda: "ASIA" + chars(16, UPPER_ALNUM), "aws_access_key_id"),
    "github_pat_classic": (lambda: "ghp_" + chars(36), "github_token"),
    "github_oauth": (lambda: "gho_" + chars(36), "github_token"),
    "github_server": (lambda: "ghs_" + chars(36), "github_token"),
    "github_fine_grained": (lambda: "github_pat_" + chars(22) + "_" + chars(59), "github_token"),
    "slack_bot": (lambda: "xoxb-" + chars(12, string.digits) + "-" + chars(24), "slack_token"),
    "stripe_live": (lambda: "sk_live_" + chars(24), "stripe_key"),
    "stripe_restricted": (lambda: "rk_live_" + chars(24), "stripe_key"),
    "stripe_test": (lambda: "sk_test_" + chars(24), "stripe_key"),
    "google": (lambda: "AIza" + chars(35, URLSAFE), "google_api_key"),
    "anthropic": (lambda: "sk-ant-api03-" + chars(60, URLSAFE), "anthropic_key"),
    "openai": (lambda: "sk-" + chars(48), "openai_key"),
    "openai_project": (lambda: "sk-proj-" + chars(48, URLSAFE), "openai_key"),
    "jwt": (make_jwt, "jwt"),
}

CONTEXTS: dict[str, Callable[[str], str]] = {
    "json_string": lambda s: json.dumps({"detail": f"upstream rejected {s}", "status": 401}),
    "url_path": lambda s: f"GET https://hooks.example.com/v1/{s}/events failed",
    "log_line": lambda s: f"2026-11-21T10:41:05.123Z ERROR mcp.client: auth failed with {s} (retrying)",
    "exception": lambda s: str(ConnectionError(f"handshake failed for {s!r}")),
    "exception_group": lambda s: repr(ExceptionGroup("task group", [ValueError(f"bad credential {s}")])),
}


# --- one test per rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PROVIDER_SECRETS))
def test_provider_format_is_replaced_by_its_named_placeholder(kind: str) -> None:
    factory, rule = PROVIDER_SECRETS[kind]
    secret = factory()
    counts: dict[str, int] = {}
    assert redact_text_counted(f"value: {secret} end", counts=counts) == f"value: [REDACTED:{rule}] end"
    assert counts == {rule: 1}


@pytest.mark.parametrize("kind", sorted(PROVIDER_SECRETS))
@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_provider_secret_never_survives_in_any_context(kind: str, context: str) -> None:
    factory, rule = PROVIDER_SECRETS[kind]
    secret = factory()
    out = redact_text(CONTEXTS[context](secret))
    assert secret not in out
    assert f"[REDACTED:{rule}]" in out


def test_anthropic_key_gets_its_own_name_not_openai() -> None:
    counts: dict[str, int] = {}
    redact_text_counted("sk-ant-" + chars(40, URLSAFE), counts=counts)
    assert counts == {"anthropic_key": 1}


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""])
def test_pem_private_key_block_is_replaced_whole(kind: str) -> None:
    pem = make_pem(kind)
    assert redact_text(f"key file:\n{pem}\nloaded") == "key file:\n[REDACTED:private_key]\nloaded"


def test_pem_private_key_in_json_and_truncated_block_are_redacted() -> None:
    pem = make_pem()
    assert redact_text(json.dumps({"k": pem})) == '{"k": "[REDACTED:private_key]"}'
    truncated = pem[: len(pem) // 2]
    assert redact_text("stderr: " + truncated) == "stderr: [REDACTED:private_key]"


def test_url_password_keeps_scheme_user_and_host() -> None:
    out = redact_text("postgresql://app:s3cr3t-" + chars(8) + "@db:5432/x")
    assert out == "postgresql://app:[REDACTED:url_password]@db:5432/x"


def test_url_password_with_empty_user_or_raw_at_sign_is_redacted() -> None:
    password = chars(10)
    assert redact_text(f"redis://:{password}@cache:6379/0") == "redis://:[REDACTED:url_password]@cache:6379/0"
    out = redact_text(f"mongodb://admin:{password}@x@mongo:27017")
    assert out == "mongodb://admin:[REDACTED:url_password]@mongo:27017"


def test_url_userinfo_token_is_redacted_but_a_short_user_name_is_kept() -> None:
    token = chars(32)
    assert redact_text(f"git clone https://{token}@git.example.com/r.git") == (
        "git clone https://[REDACTED:url_userinfo]@git.example.com/r.git"
    )
    assert redact_text("https://alice@example.com/r.git") == "https://alice@example.com/r.git"


def test_bearer_token_is_redacted_keeping_the_scheme() -> None:
    token = chars(40, URLSAFE + ".")
    assert redact_text(f"sent Bearer {token} to server") == "sent Bearer [REDACTED:bearer] to server"
    assert redact_text(f"bearer {token}") == "bearer [REDACTED:bearer]"


def test_basic_credentials_are_redacted_when_they_decode_to_user_and_password() -> None:
    creds = base64.b64encode(f"user:{chars(12)}".encode()).decode()
    counts: dict[str, int] = {}
    assert redact_text_counted(f"Basic {creds} rejected", counts=counts) == "Basic [REDACTED:basic] rejected"
    assert counts == {"basic": 1}


@pytest.mark.parametrize(
    "name", ["token", "key", "api_key", "apikey", "sig", "signature", "code", "access_token", "id_token",
             "refresh_token", "client_secret", "password", "secret", "auth", "X-Amz-Signature",
             "X-Amz-Credential"],
)  # fmt: skip
def test_secret_query_parameter_value_is_redacted_keeping_its_name(name: str) -> None:
    value = chars(24, URLSAFE + "%")
    out = redact_text(f"GET https://api.example.com/x?page=2&{name}={value}&limit=10#top")
    assert out == f"GET https://api.example.com/x?page=2&{name}=[REDACTED:query_param]&limit=10#top"


def test_aws_secret_access_key_is_recognised_after_its_name() -> None:
    secret = chars(40, ALNUM + "/+")
    assert (
        redact_text(f"AWS_SECRET_ACCESS_KEY={secret}")
        == "AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_access_key]"
    )
    out, counts = redact_event({"env": json.dumps({"aws_secret_access_key": secret})})
    assert out == {"env": '{"aws_secret_access_key": "[REDACTED:aws_secret_access_key]"}'}
    assert counts == {"aws_secret_access_key": 1}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("password={v}", "password=[REDACTED:assignment]"),
        ("passwd: {v}", "passwd: [REDACTED:assignment]"),
        ("secret: {v}", "secret: [REDACTED:assignment]"),
        ("api_key = {v}", "api_key = [REDACTED:assignment]"),
        ("token: {v}", "token: [REDACTED:assignment]"),
        ("client_secret={v}&grant_type=x", "client_secret=[REDACTED:assignment]&grant_type=x"),
        ("db.password={v}, user=app", "db.password=[REDACTED:assignment], user=app"),
        ('{{"password": "{v}", "user": "app"}}', '{{"password": "[REDACTED:assignment]", "user": "app"}}'),
        ("{{'clientSecret': '{v}'}}", "{{'clientSecret': '[REDACTED:assignment]'}}"),
        ('password="{v} with spaces"', 'password="[REDACTED:assignment]"'),
    ],
)
def test_assignment_keeps_name_and_separator_and_replaces_the_value(template: str, expected: str) -> None:
    value = chars(16)
    assert redact_text(template.format(v=value)) == expected.format()


@pytest.mark.parametrize(
    "header", ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "x-auth-token"]
)
def test_header_line_is_redacted_to_the_end_of_the_line(header: str) -> None:
    value = f"{chars(6)}={chars(20)}; Path=/; HttpOnly"
    assert redact_text(f"{header}: {value}\nAccept: text/event-stream") == (
        f"{header}: [REDACTED:assignment]\nAccept: text/event-stream"
    )


def test_authorization_header_keeps_its_scheme() -> None:
    assert redact_text("Authorization: Bearer short") == "Authorization: Bearer [REDACTED:assignment]"
    assert redact_text(f"Authorization: Bearer {chars(40)}") == "Authorization: Bearer [REDACTED:bearer]"
    assert redact_text(f"Authorization: Digest {chars(30)}") == "Authorization: Digest [REDACTED:assignment]"


def test_json_number_under_a_secret_key_becomes_a_quoted_placeholder_and_stays_valid_json() -> None:
    text = json.dumps({"pin": 1234, "secret": 987654, "token": None, "nested": {"password": 42}})
    out = redact_text(text)
    assert json.loads(out) == {
        "pin": 1234,
        "secret": "[REDACTED:assignment]",
        "token": None,
        "nested": {"password": "[REDACTED:assignment]"},
    }


# --- the key layer (redact_event) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["password", "db_password", "DB_PASSWORD", "passwd", "pwd", "secret", "clientSecret", "client-secret",
     "X-Api-Key", "apiKey", "APIKey", "api.key", "access_token", "refreshToken", "csrftoken", "authorization",
     "authorizationHeader", "auth", "oauth", "Cookie", "set-cookie", "session", "sessionid", "private_key",
     "aws_private_key", "privateKey", "credentials", "secrets", "signature", "x-amz-security-token",
     "token_value", "secret_key"],
)  # fmt: skip
def test_secret_key_value_is_replaced_whatever_the_key_spelling(key: str) -> None:
    assert is_secret_key(key)
    out, counts = redact_event({key: "v" + chars(10), "other": "kept"})
    assert out == {key: "[REDACTED:secret_key]", "other": "kept"}
    assert counts == {"secret_key": 1}


@pytest.mark.parametrize(
    "key",
    ["author", "authors", "authority", "authentication_method", "token_count", "tokens_used", "max_tokens",
     "input_tokens", "token_type", "tokenizer", "session_id", "sessionId", "secret_name", "password_hash",
     "keyboard", "monkey", "passport", "cookie_policy_url", "auth_url", "code", "signature_algorithm"],
)  # fmt: skip
def test_ordinary_key_is_not_treated_as_secret(key: str) -> None:
    assert not is_secret_key(key)
    event = {key: "plain value 42"}
    assert redact_event(event) == (event, {})


def test_non_string_values_under_secret_keys_are_replaced_but_none_and_bools_stay() -> None:
    event = {"pin_password": 1234, "token": {"a": 1}, "secrets": [1, 2], "apiKey": 1.5, "auth": None,
             "cookie": True, "password": ""}  # fmt: skip
    out, counts = redact_event(event)
    assert out == {
        "pin_password": "[REDACTED:secret_key]",
        "token": "[REDACTED:secret_key]",
        "secrets": "[REDACTED:secret_key]",
        "apiKey": "[REDACTED:secret_key]",
        "auth": None,
        "cookie": True,
        "password": "",
    }
    assert counts == {"secret_key": 4}


def test_nested_dicts_lists_and_tuples_are_walked_and_counts_cover_every_rule() -> None:
    github, jwt = "ghp_" + chars(36), make_jwt()
    event = {
        "server": "github",
        "httpStatus": 401,
        "durationMs": 12.5,
        "retryable": False,
        "detail": f"GET https://x.example.com/?access_token={chars(20)} -> 401",
        "attrs": {
            "headers": [{"name": "Authorization", "value": f"Bearer {jwt}"}, ("ok", github)],
            "conn": {"dsn": f"postgresql://app:{chars(12)}@db/x", "db_password": chars(12)},
        },
    }
    out, counts = redact_event(event)
    assert out["server"] == "github" and out["httpStatus"] == 401 and out["durationMs"] == 12.5
    assert out["retryable"] is False
    assert out["detail"] == "GET https://x.example.com/?access_token=[REDACTED:query_param] -> 401"
    assert out["attrs"]["headers"] == [
        {"name": "Authorization", "value": "Bearer [REDACTED:jwt]"},
        ("ok", "[REDACTED:github_token]"),
    ]
    assert out["attrs"]["conn"] == {
        "dsn": "postgresql://app:[REDACTED:url_password]@db/x",
        "db_password": "[REDACTED:secret_key]",
    }
    assert counts == {"query_param": 1, "jwt": 1, "github_token": 1, "url_password": 1, "secret_key": 1}


def test_redact_event_returns_a_copy_and_leaves_the_input_untouched() -> None:
    event = {"attrs": {"token": "t" + chars(12), "list": ["password=" + chars(9)]}}
    snapshot = json.loads(json.dumps(event))
    out, _ = redact_event(event)
    assert event == snapshot
    assert out is not event and out["attrs"] is not event["attrs"]


def test_dict_keys_are_redacted_like_any_other_text() -> None:
    out, counts = redact_event({"password=abc12345": "x"})
    assert out == {"password=[REDACTED:assignment]": "x"} and counts == {"assignment": 1}


# --- known secrets --------------------------------------------------------------------------------


def test_known_secret_is_replaced_everywhere_and_attributed_to_known_secret() -> None:
    secret = chars(24)
    counts: dict[str, int] = {}
    out = redact_text_counted(f"{secret} and again {secret}", known_secrets=[secret], counts=counts)
    assert out == "[REDACTED:known_secret] and again [REDACTED:known_secret]"
    assert counts == {"known_secret": 2}


def test_known_secret_wins_over_a_format_rule_that_would_also_match() -> None:
    github = "ghp_" + chars(36)
    counts: dict[str, int] = {}
    assert redact_text_counted(f"Bearer {github}", known_secrets=[github], counts=counts) == (
        "Bearer [REDACTED:known_secret]"
    )
    assert counts == {"known_secret": 1}


def test_url_encoded_occurrence_of_a_known_secret_is_redacted() -> None:
    secret = chars(10) + "/+=&" + chars(10)
    text = f"https://cb.example.com/done?state={quote(secret, safe='')}"
    assert (
        redact_text(text, known_secrets=[secret])
        == "https://cb.example.com/done?state=[REDACTED:known_secret]"
    )


def test_overlapping_known_secrets_leave_nothing_of_either() -> None:
    a, b = chars(12), chars(12)
    shared = a[-4:]
    second = shared + b
    out = redact_text(f"x {a}{b} y", known_secrets=[a, second])
    assert out == "x [REDACTED:known_secret] y"
    assert a[:-4] not in out and b not in out


def test_short_known_secrets_are_ignored_and_values_are_stripped() -> None:
    secret = chars(16)
    text = f"the cat sat on {secret}"
    assert redact_text(text, known_secrets=["cat", "  on ", "", f"  {secret}\n"]) == (
        "the cat sat on [REDACTED:known_secret]"
    )


def test_known_secret_under_a_secret_key_is_counted_once_as_known_secret() -> None:
    secret = chars(20)
    out, counts = redact_event({"password": secret, "note": f"used {secret}"}, known_secrets=[secret])
    assert out == {"password": "[REDACTED:known_secret]", "note": "used [REDACTED:known_secret]"}
    assert counts == {"known_secret": 2}


def test_a_reused_redactor_gives_the_same_result_as_the_wrappers() -> None:
    secret = chars(20)
    redactor = Redactor([secret])
    event = {"detail": f"token={chars(10)} then {secret}", "apiKey": "k" + chars(9)}
    for _ in range(3):
        assert redactor.event(event) == redact_event(event, known_secrets=[secret])
        assert redactor.text(event["detail"]) == redact_text(event["detail"], known_secrets=(secret,))


# --- idempotency ----------------------------------------------------------------------------------

_WORDS = ["the", "token", "session", "key", "password", "Bearer", "Basic", "auth", "error", "ok", "null",
          "42", "https://example.com/x", "api_key", "X-Api-Key:", "Authorization:", "Cookie:", "REDACTED",
          "[REDACTED:jwt]", "eyJ", "sk-", "AKIA", "-----BEGIN", "code", "sig", "{", "}", "[",
          "]"]  # fmt: skip
_SEPARATORS = [" ", "\n", "=", ": ", "&", "?", "/", '"', "'", ", ", "(", ")", "@", ";", "\t"]
_BODY = st.text(ALNUM, min_size=40, max_size=48)


def _secret_piece(body: str, index: int) -> tuple[str, str]:
    """One secret built from a random body: the text piece, and a part of it that must not survive."""
    pieces = [
        ("ghp_" + body[:36], body[:36]),
        ("AKIA" + body[:16].upper(), body[:16].upper()),
        ("sk-ant-" + body, body),
        ("sk-" + body, body),
        ("AIza" + body[:35], body[:35]),
        ("xoxp-" + body, body),
        ("sk_live_" + body, body),
        (make_jwt().split(".")[0] + "." + body + "." + body[:8], body),
        (" Bearer " + body + " ", body),
        (" password=" + body, body),
        (f' "secret": "{body}"', body),
        (f" postgresql://u:{body}@h/db", body),
        (f" https://{body}@git.example.com", body),
        (f" https://x.example.com/cb?code={body}&state=1", body),
        (f" Cookie: sid={body}\n", body),
        (" " + make_pem().replace(make_pem()[40:56], body[:16]), body[:16]),
    ]
    return pieces[index % len(pieces)]


# A piece of generated text: (text, the part that must not survive or "", whether it is a known secret).
_PIECES = st.one_of(
    st.sampled_from(_WORDS).map(lambda word: (word, "", False)),
    st.tuples(_BODY, st.integers(0, 15)).map(lambda t: (*_secret_piece(*t), False)),
    _BODY.map(lambda body: (f" {body} ", body, True)),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(_PIECES, max_size=14), st.lists(st.sampled_from(_SEPARATORS), min_size=14, max_size=14))
def test_redaction_is_idempotent_and_no_generated_secret_survives(
    pieces: list[tuple[str, str, bool]], separators: list[str]
) -> None:
    known = [needle for _, needle, is_known in pieces if is_known]
    text = "".join(piece + sep for (piece, _, _), sep in zip(pieces, separators, strict=False))
    once = redact_text(text, known_secrets=known)
    assert redact_text(once, known_secrets=known) == once
    for _, needle, _ in pieces:
        assert not needle or needle not in once
    assert redact_event({"a": once, "b": [once]}, known_secrets=known) == ({"a": once, "b": [once]}, {})


@pytest.mark.parametrize("name", RULE_NAMES)
def test_placeholders_never_match_any_rule(name: str) -> None:
    placeholder = f"[REDACTED:{name}]"
    texts = [
        placeholder,
        f"password={placeholder}",
        "password=[REDACTED:password_assignment]",
        f'{{"token": "{placeholder}", "secret": {placeholder}}}',
        f"Authorization: Bearer {placeholder}",
        f"Cookie: {placeholder}",
        f"https://u:{placeholder}@h/x?token={placeholder}",
        f"Bearer {placeholder} Basic {placeholder}",
    ]
    for text in texts:
        assert redact_text(text) == text
        assert find_leaks(text) == []
    assert redact_event({"password": placeholder, "x": [placeholder]}) == (
        {"password": placeholder, "x": [placeholder]},
        {},
    )


# --- false positives ------------------------------------------------------------------------------


def _fixed_false_positives() -> list[str]:
    return [
        "The session ended",
        "token count is 5",
        "the token has expired, please sign in again",
        "123e4567-e89b-12d3-a456-426614174000",
        "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7",
        "2026-11-21T10:41:05.123Z",
        "/usr/local/bin/node --inspect server.js",
        "C:\\Users\\x\\AppData\\Local\\mcp\\server.exe",
        "https://example.com/mcp?page=2&limit=10",
        "https://auth.example.com/oauth/callback?state=abc&scope=read",
        "description: a monkey",
        "cache miss for key=user:42",
        "john.doe@example.com wrote to mailto:ops@example.com",
        "mcp 2.3.0, v1.2.3-rc.1, Python/3.11.7 httpx/0.27.0",
        '{"server": "github", "tool": "search", "httpStatus": 401, "attrs": {"max_tokens": 1024, '
        '"token_type": "Bearer", "session_id": "abc123", "author": "me"}}',
        'File "/usr/lib/python3.11/site-packages/httpx/_auth.py", line 42, in auth_flow',
        "    raise TokenExpiredError('token expired')",
        "KeyError: 'password'",
        "the Bearer scheme is required",
        "Bearer authentication failed; Basic authentication is disabled",
        'WWW-Authenticate: Bearer realm="mcp", error="invalid_token", '
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"',
        "OAuth: authorization server metadata discovery failed",
        "OAuth token exchange failed for server github (HTTP 400)",
        "max_tokens=4096 input_tokens=12 output_tokens=40",
        "connected in 120 ms (session_id=abc123)",
        "task-runner-enterprise-edition-v2 and ask-the-expert-framework-rollout",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "password reset link sent to the user",
        "passport: valid, authors: Alice, tokenizer: cl100k_base, author=alice",
        "Failed to fetch https://auth.example.com/token: 400 invalid_grant",
        "state: connecting; transport=streamable-http; retry=3",
    ]


@pytest.mark.parametrize("text", _fixed_false_positives())
def test_ordinary_text_survives_byte_for_byte(text: str) -> None:
    assert redact_text(text) == text
    assert find_leaks(text) == []


def test_generated_ids_survive() -> None:
    ulid = chars(26, CROCKFORD)
    trace, span = chars(32, "0123456789abcdef"), chars(16, "0123456789abcdef")
    text = f"event {ulid} trace={trace} span={span}"
    assert redact_text(text) == text


def test_key_equals_in_prose_is_not_a_query_parameter() -> None:
    """`key=` outside a URL query is ordinary prose (a cache key); only `?key=` / `&key=` is redacted."""
    assert redact_text("lookup failed for key=tenant-7") == "lookup failed for key=tenant-7"
    assert (
        redact_text("https://maps.example.com/?key=abc12345")
        == "https://maps.example.com/?key=[REDACTED:query_param]"
    )


# --- find_leaks -----------------------------------------------------------------------------------


def test_find_leaks_names_the_rules_and_never_returns_the_secret() -> None:
    github, password, known = "ghp_" + chars(36), chars(14), chars(18)
    text = f"{github} password={password} {known}"
    leaks = find_leaks(text, known_secrets=[known])
    assert leaks == ["known_secret", "github_token", "assignment"]
    assert all(name in RULE_NAMES for name in leaks)
    assert not any(secret in leak for leak in leaks for secret in (github, password, known))


def test_find_leaks_is_empty_on_redacted_text() -> None:
    text = f"Authorization: Bearer {make_jwt()}\npassword={chars(12)}\n{make_pem()}"
    assert find_leaks(text)
    assert find_leaks(redact_text(text)) == []


def test_rule_names_are_all_placeholders_that_can_appear() -> None:
    assert len(set(RULE_NAMES)) == len(RULE_NAMES)
    assert {"known_secret", "secret_key", "assignment", "bearer", "jwt"} <= set(RULE_NAMES)


# --- the fast path ----------------------------------------------------------------------------
# How fast it is lives in bench/redact_bench.py; here, that ordinary text takes the path that skips the rules.


@pytest.mark.parametrize(
    "message",
    [
        "Connection refused while connecting to the MCP server at example.com port 443",
        "HTTP 503 from https://mcp.example.invalid/mcp after 3 retries",
        "tool list_files returned isError: no such directory /srv/data",
    ],
)
def test_ordinary_message_skips_every_rule(message: str) -> None:
    """No candidate in a clean message: the gate says so and the very same string comes back."""
    redactor = Redactor([chars(24)])
    assert not redactor.might_contain_secret(message)
    assert redactor.text(message) is message


def test_might_contain_secret_is_a_sound_gate_for_text() -> None:
    """False only where `text` leaves the input as it is; candidates (a token's prefix, a secret word where it
    introduces a value) and known secrets make it True."""
    known = "kn0wn." + chars(8)  # not a run of base64, which is a candidate of its own
    redactor = Redactor([known])
    assert not redactor.might_contain_secret("Connection refused on port 8443")
    assert not redactor.might_contain_secret("")
    assert redactor.might_contain_secret("401: Bearer required")
    assert redactor.might_contain_secret("X-API-KEY: 0123456789")
    assert redactor.might_contain_secret(f"value {known} here")
    assert redactor.might_contain_secret(quote(f"{known}/", safe=""))
    assert not Redactor().might_contain_secret(known)
    assert Redactor().might_contain_secret(base64.b64encode(b"the token=abc123").decode())  # `encoded_secret`
    samples = [
        "plain words",
        "user@example.com",
        f"Bearer {chars(24)}",
        f"token={chars(16)}",
        "OAuth flow timed out",
        "ÄÖÜ straße İstanbul",
        f"ghp_{chars(36)}",
        f"prefix {known} suffix",
    ]
    for text in samples:
        counts: dict[str, int] = {}
        if redactor.text(text, counts) != text or counts:
            assert redactor.might_contain_secret(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abeijkostuyz-_=:@/ .\"'AKSEY0123456789")), max_size=60))
def test_might_contain_secret_false_means_untouched(text: str) -> None:
    redactor = Redactor(["sEcr3tValue"])
    counts: dict[str, int] = {}
    if not redactor.might_contain_secret(text):
        assert redactor.text(text, counts) == text and not counts
