"""The redaction case templates of `emitters/catalog.json`, the kinds of secret that fill them and the
encodings they are also sent through: what every redactor (the Python one and the other-language emitters')
must treat alike.

A template names secret kinds (`{{kind}}`, or `{{kind#label}}` for one value used twice); `{{token}}` stands
for every provider token kind in turn (`TOKEN_KINDS`). A case may list `encodings` (`ENCODINGS`, or "all"):
its filled text is also sent through each. `value` cases hold a JSON value for the walk (`Redactor.value`)
instead of a text. Templates hold no secret: every value is generated when the vectors are made.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits
_URLSAFE = _ALNUM + "-_"


def chars(n: int, alphabet: str = _ALNUM) -> str:
    """`n` random characters of `alphabet` (secrets-grade, different on every run)."""
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _jwt() -> str:
    header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = _b64url(json.dumps({"sub": chars(10), "n": secrets.randbelow(10**9)}).encode())
    return f"{header}.{payload}.{chars(43, _URLSAFE)}"


def _pem() -> str:
    body = "\n".join(chars(64, _ALNUM + "+/") for _ in range(3))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def _xapp() -> str:
    app = f"A{chars(10, string.ascii_uppercase)}-{chars(13, string.digits)}"
    return f"xapp-1-{app}-{chars(64, '0123456789abcdef')}"


# Kind → a fresh secret of that shape.
SECRET_KINDS: dict[str, Callable[[], str]] = {
    "hex": lambda: secrets.token_hex(16),
    "word": lambda: chars(12, string.ascii_lowercase),
    "alnum": lambda: chars(24),
    "urlsafe": lambda: chars(32, _URLSAFE),
    "value": lambda: chars(18) + secrets.choice(string.digits),
    "digits": lambda: chars(12, string.digits),
    "upper": lambda: chars(8, string.ascii_uppercase),
    "akia": lambda: "AKIA" + chars(16, _UPPER),
    "asia": lambda: "ASIA" + chars(16, _UPPER),
    "aws_secret": lambda: chars(40, _ALNUM + "/+"),
    "ghp": lambda: "ghp_" + chars(36),
    "gho": lambda: "gho_" + chars(36),
    "github_pat": lambda: "github_pat_" + chars(22) + "_" + chars(59),
    "glpat": lambda: "glpat-" + chars(20, _URLSAFE),
    "slack": lambda: "xoxb-" + chars(12, string.digits) + "-" + chars(24),
    "slack_user": lambda: (
        "xoxp-" + chars(12, string.digits) + "-" + chars(12, string.digits) + "-" + chars(32)
    ),
    "xapp": _xapp,
    "xoxe": lambda: "xoxe.xoxp-1-" + chars(140),
    "stripe": lambda: "sk_live_" + chars(24),
    "stripe_restricted": lambda: "rk_live_" + chars(24),
    "stripe_test": lambda: "sk_test_" + chars(24),
    "whsec": lambda: "whsec_" + chars(32),
    "google": lambda: "AIza" + chars(35, _URLSAFE),
    "ya29": lambda: "ya29." + chars(60, _URLSAFE),
    "anthropic": lambda: "sk-ant-api03-" + chars(50, _URLSAFE),
    "openai": lambda: "sk-proj-" + chars(40, _URLSAFE),
    "openai_legacy": lambda: "sk-" + chars(48),
    "jwt": _jwt,
    "pem": _pem,
    "basic": lambda: base64.b64encode(f"user:{chars(14)}".encode()).decode(),
    "known": lambda: chars(10) + '/+=&"' + chars(10),
}

TOKEN_KINDS: tuple[str, ...] = (
    "akia", "asia", "ghp", "gho", "github_pat", "glpat", "slack", "slack_user", "xapp", "xoxe",
    "stripe", "stripe_restricted", "stripe_test", "whsec", "google", "ya29", "anthropic", "openai",
    "openai_legacy", "jwt",
)  # fmt: skip
"""The provider token formats, each caught by a rule of its own: what `{{token}}` stands for."""


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _percent_lower(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(text, safe=""))


# Encoding name → how a text is sent through it (every layer the redactor must see through).
ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda t: t,
    "percent": lambda t: quote(t, safe=""),
    "percent_lower": _percent_lower,
    "percent_twice": lambda t: quote(quote(t, safe=""), safe=""),
    "json_escaped": _json_escaped,
    "json_escaped_twice": lambda t: _json_escaped(_json_escaped(t)),
    "json_in_json": lambda t: json.dumps({"body": json.dumps({"error": t})}),
    "unicode_escaped": lambda t: "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in t),
    "url_query": lambda t: "https://x.example.com/r?next=" + quote(t, safe=""),
    "url_path": lambda t: "https://x.example.com/r/" + quote(t, safe="") + "/x",
    "url_fragment": lambda t: "https://x.example.com/r#" + quote(t, safe=""),
    "html_entities": lambda t: html.escape(t, quote=True),
    "html_numeric": lambda t: "".join(c if c.isalnum() or c == " " else f"&#{ord(c)};" for c in t),
    "json_then_percent": lambda t: quote(_json_escaped(t), safe=""),
    # Base64 of the whole text: as a config value, URL-safe in a JSON field, right after an escape in a JSON
    # string (`\n` then the run), percent-encoded (`%2B`, `%2F`, `%3D`).
    "base64": lambda t: "config=" + _b64(t),
    "base64url_json": lambda t: json.dumps({"blob": _b64url(t.encode())}),
    "base64_after_escape": lambda t: _json_escaped("loaded:\n" + _b64(t)),
    "base64_percent": lambda t: "state=" + quote(_b64(t), safe=""),
    # Wrapped at 76 (the `base64` tool), in UTF-16 (PowerShell's -EncodedCommand), with two characters glued
    # in front, and of bytes that are not UTF-8 (a Latin-1 é first).
    "base64_wrapped": lambda t: base64.encodebytes(("x" * 53 + "\n" + t).encode()).decode(),
    "base64_utf16": lambda t: "-EncodedCommand " + base64.b64encode(t.encode("utf-16-le")).decode(),
    "base64_glued": lambda t: "id=v1" + _b64(t),
    "base64_latin1": lambda t: "x=" + base64.b64encode(b"\xe9 " + t.encode()).decode(),
}
ALL = "all"
_SOME = ["raw", "percent", "json_escaped", "html_entities"]


# Where the Python redactor lets the secret of a case through (the vector still says what it outputs, and
# `survivesIn` lets the check that no secret survives pass there): in a URL path, `name:` after a slash ends
# the path (`…/token: 400`), so an encoded `PassWord: x` that lands in one is left alone.
# A token right after a letter that is not ASCII (`é`, `令牌`) is a word's tail to the token rules, and a
# value after a non-breaking or other Unicode space is no value to the assignment rule.
_SURVIVES: dict[str, str | list[str]] = {
    "PassWord: {{value}}": ["url_path"],
    "passphrase: {{value}}": ["url_path"],
    "é{{openai_legacy}}": ALL,
    "令牌{{openai}}无效": ALL,
    "password=\u00a0{{value}}": ALL,
    "Token:\x1c{{value}}": ALL,
}


def _cases(cls: str, encodings: str | list[str], *texts: str) -> list[dict[str, Any]]:
    """Cases of one class, named by their text, each sent through `encodings`."""
    out: list[dict[str, Any]] = []
    for text in texts:
        case: dict[str, Any] = {"name": text[:48], "class": cls, "text": text}
        if encodings != ["raw"]:
            case["encodings"] = encodings
        if text in _SURVIVES:
            case["survivesIn"] = _SURVIVES[text]
        out.append(case)
    return out


# The first cases: every rule once, the contexts a host produces, and text to leave alone.
_RULE_CASES: tuple[dict[str, Any], ...] = (
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

# Inputs both redactors must treat alike, by class. `{{value}}` is a random value that only its context
# makes secret; `{{token}}` is every provider token format.
REDACTION_CASES: tuple[dict[str, Any], ...] = (
    *_cases(
        "token_formats",
        ALL,
        "2026-11-21T10:41:05.123Z ERROR auth failed with {{token}} (retrying)",
        '{"detail": "upstream rejected {{token}}", "status": 401}',
        "GET https://hooks.example.com/v1/{{token}}/events failed",
        "redirected to https://app.example.com/done#state=1&access_token={{token}}",
        "https://x.example.com/cb?next=a%3D{{token}}",
        "upstream said:%20{{token}}%20(retrying)",
        "payload=%22{{token}}%22 ids=1%2C{{token}}%2C3",
        "Authorization: Bearer {{token}}",
        "value: {{token}} end",
        # Joined to a name (found by an adversarial pass: `tool-sk-ant-…` and `x_ghp_…` were kept whole).
        "refused the key tool-{{token}} twice",
        "env: APP_TOKEN=x_{{token}}",
    ),
    *_cases(
        "context_secrets",
        ALL,
        "password={{value}}",
        "passWord={{value}}",
        "PassWord: {{value}}",
        "pass={{value}}",
        "db_pass={{value}} user=app",
        "Pass_Phrase={{value}}",
        "passphrase: {{value}}",
        '{"client_secret": "{{value}}"}',
        "Authorization: Bearer {{value}}",
        "https://api.example.com/x?api_key={{value}}&page=2",
        "https://app.example.com/cb#access_token={{value}}&token_type=bearer",
        "postgresql://app:{{value}}@db.example.com/x",
        "Cookie: sid={{value}}; Path=/",
        "--password={{value}}",
        "--password {{value}} --user app",
        "--token {{value}}",
        "-token={{value}}",
        "--api-key {{value}}",
        "--client-secret='{{value}}'",
        '--auth-token "{{value}}"',
        "mysql -uroot -p{{value}} app",
        "sshpass -p {{value}} ssh host",
        "openssl pkcs12 -passin pass:{{value}} -in x.p12",
        "curl -u alice:{{value}} https://x.example.com",
        "curl --user 'alice:{{value}}' https://x",
        "curl -U proxy:{{value}} -x http://p:3128 https://x",
        "curl -u :{{value}} https://x",
        '{"token": ["{{value}}"]}',
        '{"api_keys": ["{{value}}", "{{value}}"], "n": 2}',
        "<password>{{value}}</password>",
        "<token>{{value}}</token>",
        '<ns:clientSecret type="x">{{value}}</ns:clientSecret>',
        "<apiKey><![CDATA[{{value}}]]></apiKey>",
        '<add key="Password" value="{{value}}"/>',
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={{value}}==;EndpointSuffix=core.windows.net",
        "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey={{value}}=",
        "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig={{value}}",
        '{"name": "Authorization", "value": "Bearer {{value}}"}',
        '{"value": "{{value}}", "name": "X-Api-Key"}',
        '{"key": "DB_PASSWORD", "value": "{{value}}"}',
        '[["Authorization", "Basic {{value}}"]]',
        "[('X-Api-Key', '{{value}}'), ('Accept', '*/*')]",
    ),
    *_cases(
        "webhooks",
        ALL,
        "posting to https://hooks.slack.com/services/T{{upper}}/B{{upper}}/{{alnum}} failed",
        "posting to https://hooks.slack.com/workflows/T{{upper}}/A{{upper}}/{{alnum}}/1 failed",
        "posting to https://discord.com/api/webhooks/{{digits}}/{{urlsafe}} failed",
        "posting to https://contoso.webhook.office.com/webhookb2/{{alnum}}@{{upper}}/IncomingWebhook/{{hex}}/x",
        "posting to https://hooks.zapier.com/hooks/catch/{{digits}}/{{alnum}}/ failed",
    ),
    *_cases(
        "escape_adjacent",
        ["raw"],
        "q=a%3D{{ghp}}",
        "a%20{{ghp}}",
        "%22{{ghp}}%22",
        "x%2C{{ghp}}",
        "a%3d{{ghp}}",
        "%2522{{ghp}}%2522",
        "\\u0022{{ghp}}\\u0022",
        "&quot;{{ghp}}&quot;",
        "&#34;{{ghp}}&#x22;",
        "\\x22{{ghp}}\\x22",
        '{"body": "{\\"client_secret\\": \\"{{alnum}}\\", \\"pin_password\\": 1234, \\"user\\": \\"app\\"}"}',
        '{\\"token\\": 123456, \\"n\\": 1}',
        "%7B%22password%22%3A%20%22{{alnum}}%22%7D",
    ),
    *_cases(
        "unicode",
        ["raw", "json_escaped", "unicode_escaped", "html_numeric"],
        "東{{ghp}}",
        "😀{{ghp}}😀 {{jwt}}",
        "é{{openai_legacy}}",
        "令牌\uff1a{{openai}}",
        "令牌{{openai}}无效",
        "secret: x aws_\u017fecret_access_key={{aws_secret}}",
        "password=\u00a0{{value}}",
        "Authorization: Bearer\u00a0{{value}}",
        "\u0130password={{value}}",
        "x\x85password={{value}} \ufeffpassword={{value}} password=\ufeff{{value}}",
        "Token:\x1c{{value}}",
        "<password>\u2028{{value}}</password> <token>😀{{value}}</token>",
        "curl -u \u2460:\u2461 x; curl -u \U0001d7cf\U0001d7d0:\U0001d7d1\U0001d7d2 x",
        "curl -u \U0001d7cf:{{value}} x",
        "--token \uff21\uff22\uff23{{digits}} --password Ünïcödé",
        "Bearer 東京{{value}} mysql\u00e9 -pabcdefgh1",
    ),
    *_cases("basic", ALL, "Authorization: Basic {{basic}}", "sent Basic {{basic}} to the proxy"),
    *_cases(
        "kept",
        _SOME,
        "bypass=true compass=north",
        "tests pass: 12 of 12",
        "the --password flag is required",
        "use --token to pass it",
        "docker run -u 1000:1000 -p 8080:80 image",
        "gcc -pthread -pipe -O2 x.c",
        "mysql -h db -P 3306 app",
        "curl -u alice https://x.example.com",
        "<password-policy>strict</password-policy>",
        "<auth><user>app</user></auth>",
        '{"name": "Accept", "value": "text/event-stream"}',
        '{"name": "github", "value": 42}',
        '{"required": ["password", "email"]}',
        "https://hooks.example.com/services/x",
        "AccountName=acct;EndpointSuffix=core.windows.net",
        "https://example.com/page#section-2",
        "OAuth: flow timed out; session ended; the author was notified",
        "signature: invalid",
        "max_tokens=4096 input_tokens: 12 sessions=3",
        "passport: valid, authors: Alice, tokenizer: cl100k_base",
        "Failed to fetch https://auth.example.com/token: 400 invalid_grant",
        'WWW-Authenticate: Bearer realm="mcp", error="invalid_token"',
        "the Bearer scheme is required",
        "Bearer authentication failed; Basic authentication is disabled",
        "KeyError: 'password'",
        "token=[REDACTED:assignment] Bearer [REDACTED:bearer] <password>[REDACTED:jwt]</password>",
        "spawn failed: C:\\Users\\alice\\AppData\\Local\\mcp\\server.exe (errno 2)",
        "GET https://api.example.com/search?q=mcp%20server%2C%20fast&page=2 -> 200",
        "&lt;html&gt;&lt;title&gt;502 Bad Gateway&lt;/title&gt;",
        "100% done, 50%off, %zz, %",
        '"{\\"tool\\": \\"search\\", \\"max_tokens\\": 1024}"',
        "\\u00e9t\\u00e9 &#233;t&#xe9; caf%C3%A9",
        "Überprüfung fehlgeschlagen: Zeitüberschreitung — 東京 😀 \u0130stanbul \u017f",
        # Base64 that says nothing secret: settings, a sentence naming a session, a digest.
        "config=" + _b64("log_level=debug\nport=8080\nhost=mcp.example.com"),
        '{"blob": "' + _b64("the session expired and the client reconnected") + '"}',
        "sha256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    ),
    {
        "name": "known secret, encoded",
        "class": "known_secrets",
        "text": "x={{known#k}} then {{known#k}}",
        "knownSecrets": ["{{known#k}}"],
        "encodings": [
            "raw",
            "percent",
            "percent_twice",
            "percent_lower",
            "json_escaped",
            "json_escaped_twice",
            "base64",
            "base64url_json",
        ],
    },
    *(dict(case, **{"class": "rules"}) for case in _RULE_CASES),
)
"""Text cases. `{{known}}` holds characters that encodings change; a case's `knownSecrets` name it."""
