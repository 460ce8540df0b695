"""The walk's redaction case templates of `emitters/catalog.json`: JSON values (an event, its `attrs`) that
every redactor's walk (`Redactor.value`) must redact alike — keys redacted like any text, the values of keys
that name a secret hidden, counts under kind-of-thing names kept, name/value pair lists, lists under secret
keys. Templates are filled as the text cases are (`catalog_cases`), in keys and string values alike.
"""

from __future__ import annotations

from typing import Any


def _case(cls: str, name: str, value: Any, known: list[str] | None = None) -> dict[str, Any]:
    case: dict[str, Any] = {"name": name, "class": cls, "value": value}
    if known:
        case["knownSecrets"] = known
    return case


_SECRET_KEYS = (
    "password", "passWord", "pass", "db_pass", "api_keys", "AccountKey", "SharedAccessKey", "x-auth-token",
    "clientSecret", "X-Api-Key", "csrftoken", "authorizationHeader", "sessionid", "private_key", "signature",
    "x-amz-security-token", "token_value", "secret_key", "oauth", "Cookie",
)  # fmt: skip
_COUNT_KEYS = (
    "oauth", "auth", "session", "cookie", "token", "google-oauth", "vault-token", "doctor.oauth",
    "X-Auth-Token", "passwords", "api_keys", "secrets",
)  # fmt: skip
_CREDENTIAL_KEYS = ("password", "pin_password", "apiKey", "secret", "client_secret", "passcode", "db_pass")
_ORDINARY_KEYS = (
    "author", "authority", "token_count", "max_tokens", "input_tokens", "token_type", "tokenizer",
    "session_id", "secret_name", "password_hash", "passport", "auth_url", "code", "signature_algorithm",
    "bypass",
)  # fmt: skip
_SERVERS = ["google-oauth", "1password", "auth", "session", "vault-token", "api-key", "secret-store"]

VALUE_CASES: tuple[dict[str, Any], ...] = (
    _case("keys", "a token as a key", {"attrs": {"{{token}}": 1, "plain": 2}}),
    _case("keys", "a token inside a key", {"attrs": {"bad key {{token}} here": "x", "n": 1}}),
    _case(
        "keys",
        "keys that redact alike are all kept",
        {"attrs": {"{{ghp#a}}": "first", "{{ghp#b}}": "second", "password={{alnum}}": "third"}},
    ),
    _case("keys", "a placeholder key stays", {"[REDACTED:jwt]": "x", "[REDACTED:jwt] #2": "y"}),
    *(_case("keys", f"secret key {key}", {key: "v{{alnum}}", "other": "kept"}) for key in _SECRET_KEYS),
    *(_case("keys", f"ordinary key {key}", {key: "plain value 42"}) for key in _ORDINARY_KEYS),
    _case(
        "keys",
        "a secret key whose value is a list",
        {"token": ["{{alnum}}"], "api_keys": ["{{alnum}}"], "n": [1]},
    ),
    _case(
        "keys",
        "secret keys keep nothing, flags and empties",
        {"token": {"a": 1}, "secrets": [1, 2], "auth": None, "cookie": True, "password": "", "apiKey": 1.5},
    ),
    _case(
        "keys", "placeholders under secret keys stay", {"password": "[REDACTED:jwt]", "x": ["[REDACTED:jwt]"]}
    ),
    _case(
        "keys",
        "a known secret under a secret key",
        {"password": "{{hex#k}}", "note": "used {{hex#k}}"},
        known=["{{hex#k}}"],
    ),
    *(
        _case("counts", f"a count under {key}", {"attrs": {key: 3}, "by": {key: 0.5}, "f": {key: True}})
        for key in _COUNT_KEYS
    ),
    *(_case("counts", f"a number under {key} is a secret", {key: 123456}) for key in _CREDENTIAL_KEYS),
    _case(
        "counts",
        "servers named like secrets",
        {"by_server": [{"server": s, "events": n} for n, s in enumerate(_SERVERS)]},
    ),
    _case(
        "pairs",
        "header lists, env and postman lists",
        {
            "attrs": {
                "har": [
                    {"name": "Authorization", "value": "Bearer {{urlsafe}}"},
                    {"name": "Cookie", "value": "sid={{alnum}}"},
                    {"name": "Accept", "value": "text/event-stream"},
                ],
                "env": [{"name": "DB_PASSWORD", "value": "{{alnum}}"}, {"name": "DB_HOST", "value": "db"}],
                "postman": [{"key": "x-api-key", "value": "{{alnum}}", "type": "text"}],
                "pairs": [["Authorization", "Basic {{alnum}}"], ["Accept", "*/*"]],
                "names": ["password", "email"],
            }
        },
    ),
    _case(
        "pairs",
        "a pair whose value is already a placeholder or not a string",
        {
            "a": {"name": "Authorization", "value": "Bearer [REDACTED:jwt]"},
            "b": {"name": "X-Api-Key", "value": 42},
            "c": {"name": "token", "val": None},
            "d": [["Cookie", ""], ["Cookie", {"x": 1}]],
        },
    ),
    _case(
        "pairs",
        "a nested event",
        {
            "server": "github",
            "httpStatus": 401,
            "retryable": False,
            "detail": "GET https://x.example.com/?access_token={{alnum}} -> 401",
            "attrs": {
                "headers": [{"name": "Authorization", "value": "Bearer {{jwt}}"}, ["ok", "{{ghp}}"]],
                "conn": {"dsn": "postgresql://app:{{alnum}}@db/x", "db_password": "{{alnum}}"},
            },
        },
    ),
)
"""Value cases for the walk: `{{token}}` is every provider token format, as in the text cases."""
