"""The contract file shared with the other-language emitters: `emitters/catalog.json`, and redaction vectors.

`catalog.json` is generated from `CATALOG` (and the wire limits, enums and redaction case templates) and
committed; a test fails when the two differ. The redaction vectors are made at test time: every template is
filled with secrets generated on the spot, and the expected output is what `redact_text` gives for it, so an
emitter in another language passes when its redactor agrees with this one. Re-syncing after a change of the
Python rules is a matter of porting the rules: the vectors follow by themselves.

    python -m mcpdiag.emitters.catalog_json             # rewrite emitters/catalog.json
    python -m mcpdiag.emitters.catalog_json --check     # exit 1 when the committed file is stale
    python -m mcpdiag.emitters.catalog_json --vectors OUT.json
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcpdiag.emitters.codes import (
    CATALOG,
    FALLBACK_CODE,
    LIFECYCLE_CODES,
    Action,
    Severity,
    Touchpoint,
    Transport,
)
from mcpdiag.emitters.event import MAX_ATTRS, MAX_DETAIL, MAX_EVENT_BYTES, MAX_MESSAGE_SAFE, DiagnosticEvent
from mcpdiag.emitters.redact import RULE_NAMES, redact_text

CATALOG_PATH = Path(__file__).resolve().parents[2] / "catalog.json"
"""`emitters/catalog.json` in a source checkout."""

_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits
_URLSAFE = _ALNUM + "-_"


def _chars(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt() -> str:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64url(json.dumps({"sub": _chars(10), "n": secrets.randbelow(10**9)}).encode())
    return f"{header}.{payload}.{_chars(43, _URLSAFE)}"


def _pem() -> str:
    body = "\n".join(_chars(64, _ALNUM + "+/") for _ in range(3))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


# Placeholder kind → a fresh secret of that shape. Templates say `{{kind}}`, or `{{kind#label}}` to reuse
# one value within a case (e.g. the same value as text and as a known secret).
SECRET_KINDS: dict[str, Callable[[], str]] = {
    "hex": lambda: secrets.token_hex(16),
    "word": lambda: _chars(12, string.ascii_lowercase),
    "alnum": lambda: _chars(24),
    "urlsafe": lambda: _chars(32, _URLSAFE),
    "akia": lambda: "AKIA" + _chars(16, _UPPER),
    "aws_secret": lambda: _chars(40, _ALNUM + "/+"),
    "ghp": lambda: "ghp_" + _chars(36),
    "github_pat": lambda: "github_pat_" + _chars(22) + "_" + _chars(59),
    "slack": lambda: "xoxb-" + _chars(12, string.digits) + "-" + _chars(24),
    "stripe": lambda: "sk_live_" + _chars(24),
    "google": lambda: "AIza" + _chars(35, _URLSAFE),
    "anthropic": lambda: "sk-ant-api03-" + _chars(50, _URLSAFE),
    "openai": lambda: "sk-proj-" + _chars(40, _URLSAFE),
    "jwt": _jwt,
    "pem": _pem,
    "basic": lambda: base64.b64encode(f"user:{_chars(14)}".encode()).decode(),
}

# Inputs both redactors must treat alike: every rule, the contexts a host produces, and text to leave alone.
REDACTION_CASES: tuple[dict[str, Any], ...] = (
    {"name": "aws_access_key_id", "text": "aws key {{akia}} in config"},
    {"name": "aws_secret_access_key", "text": "AWS_SECRET_ACCESS_KEY={{aws_secret}}"},
    {"name": "github_token", "text": "git push failed: token {{ghp}} revoked"},
    {"name": "github_fine_grained", "text": "GITHUB_TOKEN is {{github_pat}}"},
    {"name": "slack_token", "text": "slack said invalid_auth for {{slack}}"},
    {"name": "stripe_key", "text": "stripe: {{stripe}} rejected"},
    {"name": "google_api_key", "text": "https://maps.example.com/api?v=3&client={{google}}"},
    {"name": "anthropic_key", "text": "x-api-key {{anthropic}} rejected"},
    {"name": "openai_key", "text": "OpenAI rejected {{openai}} (401)"},
    {"name": "jwt", "text": "upstream said: invalid token {{jwt}}"},
    {"name": "private_key", "text": "key file:\n{{pem}}\nloaded"},
    {"name": "url_password", "text": "postgresql://app:{{alnum}}@db:5432/x unreachable"},
    {"name": "url_password_raw_at", "text": "mongodb://admin:{{word}}@x@mongo:27017"},
    {"name": "url_userinfo", "text": "git clone https://{{alnum}}@git.example.com/r.git"},
    {"name": "url_user_kept", "text": "https://alice@example.com/r.git"},
    {"name": "bearer", "text": "sent Bearer {{urlsafe}} to server"},
    {"name": "bearer_prose", "text": "use the Bearer scheme for this server"},
    {
        "name": "bearer_auth_param",
        "text": 'WWW-Authenticate: Bearer resource_metadata="https://x.example/.well-known"',
    },
    {"name": "basic", "text": "Basic {{basic}} rejected"},
    {"name": "basic_prose", "text": "Basic authentication is not enabled"},
    {"name": "query_param", "text": "GET https://api.example.com/x?page=2&token={{urlsafe}}&limit=10#top"},
    {"name": "query_code", "text": "callback /cb?code={{alnum}}&state=abc"},
    {"name": "query_signature", "text": "https://s3.example.com/o?X-Amz-Signature={{hex}}&X-Amz-Expires=60"},
    {
        "name": "header_authorization",
        "text": "request headers:\nAuthorization: Bearer {{urlsafe}}\nAccept: */*",
    },
    {"name": "header_api_key", "text": "X-API-Key: {{alnum}}"},
    {"name": "header_cookie", "text": "Cookie: sid={{hex}}; theme=dark"},
    {"name": "assignment_equals", "text": "password={{alnum}}"},
    {"name": "assignment_colon", "text": "client_secret: {{alnum}}"},
    {"name": "assignment_ampersand", "text": "client_secret={{alnum}}&grant_type=x"},
    {"name": "assignment_dotted", "text": "db.password={{alnum}}, user=app"},
    {"name": "assignment_json", "text": '{"password": "{{alnum}}", "user": "app"}'},
    {"name": "assignment_json_number", "text": '{"api_key": 123456789, "n": 1}'},
    {"name": "assignment_repr", "text": "{'clientSecret': '{{alnum}}'}"},
    {"name": "assignment_spaces", "text": 'password="{{word}} with spaces"'},
    {"name": "assignment_nullish", "text": "token=null, password=none"},
    {"name": "env_dump", "text": "env: API_KEY={{hex}} MCP_TOKEN={{hex}} HOME=/root"},
    {
        "name": "stderr_tail",
        "text": "Traceback (most recent call last):\nValueError: bad key {{ghp}}\nfatal: exit 3",
    },
    {"name": "json_detail", "text": '{"detail": "upstream rejected {{jwt}}", "status": 401}'},
    {"name": "known_secret", "text": "tool said: {{hex#k}} is wrong", "knownSecrets": ["{{hex#k}}"]},
    {
        "name": "known_secret_encoded",
        "text": "GET /x?q=a%2Fb{{word#k}}%2F",
        "knownSecrets": ["a/b{{word#k}}/"],
    },
    {"name": "known_secret_short_ignored", "text": "abc is fine", "knownSecrets": ["abc"]},
    {"name": "counters_kept", "text": "max_tokens=4096 input_tokens: 12 sessions=3"},
    {"name": "prose_kept", "text": "OAuth: flow timed out; session ended; the author was notified"},
    {"name": "placeholder_kept", "text": "token=[REDACTED:assignment] Bearer [REDACTED:bearer]"},
    {
        "name": "ids_kept",
        "text": "Debug ID 4bf92f3577b34da6a3ce929d0e0e4736, event 01JD5Q2ZK3M4N5P6Q7R8S9T0VW",
    },
    {"name": "plain_kept", "text": "github took too long to answer. Try again in a moment."},
    {"name": "unicode_kept", "text": "Überprüfung fehlgeschlagen: Zeitüberschreitung — 東京"},
)

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)(?:#([a-z0-9]+))?\}\}")


def catalog_document() -> dict[str, Any]:
    """The content of `emitters/catalog.json`, built from the Python catalog and wire contract."""
    return {
        "$comment": "Generated by `python -m mcpdiag.emitters.catalog_json`; do not edit.",
        "codes": {
            code: {
                "code": info.code,
                "title": info.title,
                "severity": info.severity.value,
                "retryable": info.retryable,
                "action": info.action.value,
                "message": info.message,
                "failure": info.failure,
            }
            for code, info in CATALOG.items()
        },
        "lifecycleCodes": sorted(LIFECYCLE_CODES),
        "fallbackCode": FALLBACK_CODE,
        "severities": [s.value for s in Severity],
        "touchpoints": [t.value for t in Touchpoint],
        "transports": [t.value for t in Transport],
        "actions": [a.value for a in Action],
        "wireFields": [field.alias or name for name, field in DiagnosticEvent.model_fields.items()],
        "limits": {
            "maxEventBytes": MAX_EVENT_BYTES,
            "maxAttrs": MAX_ATTRS,
            "maxMessageSafe": MAX_MESSAGE_SAFE,
            "maxDetail": MAX_DETAIL,
        },
        "redactionRules": list(RULE_NAMES),
        "redactionCases": list(REDACTION_CASES),
    }


def catalog_text() -> str:
    """`catalog_document()` as the committed file's exact text."""
    return json.dumps(catalog_document(), indent=2, ensure_ascii=False) + "\n"


def _fill(case: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, str] = {}
    made: list[str] = []

    def secret(match: re.Match[str]) -> str:
        kind, label = match[1], match[2]
        if label is not None and label in values:
            return values[label]
        value = SECRET_KINDS[kind]()
        made.append(value)
        if label is not None:
            values[label] = value
        return value

    text = _PLACEHOLDER.sub(secret, case["text"])
    known = [_PLACEHOLDER.sub(secret, s) for s in case.get("knownSecrets", ())]
    return {
        "name": case["name"],
        "input": text,
        "knownSecrets": known,
        "expected": redact_text(text, known_secrets=known),
        "secrets": made,
    }


def redaction_vectors(rounds: int = 3) -> list[dict[str, Any]]:
    """Every case filled `rounds` times with fresh secrets, with what the Python redactor makes of it."""
    return [_fill(case) for _ in range(rounds) for case in REDACTION_CASES]


def main(argv: list[str] | None = None) -> int:
    """Write or check `catalog.json`, or write redaction vectors; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m mcpdiag.emitters.catalog_json")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the committed catalog.json is stale"
    )
    parser.add_argument("--vectors", metavar="OUT", help="write redaction vectors (JSON) to OUT")
    parser.add_argument("--output", metavar="PATH", default=str(CATALOG_PATH), help="the catalog file")
    args = parser.parse_args(argv)
    if args.vectors:
        Path(args.vectors).write_text(json.dumps({"vectors": redaction_vectors()}, ensure_ascii=False))
        return 0
    path = Path(args.output)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != catalog_text():
            print(f"{path} differs from mcpdiag.emitters.CATALOG: regenerate it", file=sys.stderr)
            return 1
        return 0
    path.write_text(catalog_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
