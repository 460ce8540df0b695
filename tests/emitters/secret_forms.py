"""Secrets generated at run time, the encodings they travel in and the texts they sit in, for the redaction
tests of every component (emitter, collector, bundle sanitizer, leak scan).

A case is a text (or an event) holding one secret, and the random part of that secret (`body`): redaction
must leave no trace of the body in any form (raw, percent-encoded, JSON-escaped, base64), which `survivors`
checks.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


def chars(n: int, alphabet: str = ALNUM) -> str:
    """`n` random characters of `alphabet` (secrets-grade, different on every run)."""
    return "".join(secrets.choice(alphabet) for _ in range(n))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Secret:
    """A secret as it appears in text (`token`) and the random part of it that must not survive (`body`)."""

    kind: str
    token: str
    body: str


def _prefixed(kind: str, prefix: str, n: int, alphabet: str = ALNUM, suffix: str = "") -> Secret:
    body = chars(n, alphabet)
    return Secret(kind, prefix + body + suffix, body)


def _jwt() -> Secret:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = chars(43, URLSAFE.replace("-", "").replace("_", ""))
    payload = b64url(json.dumps({"sub": chars(12)}).encode())
    return Secret("jwt", f"{header}.{payload}.{body}", body)


def _slack_bot() -> Secret:
    body = chars(24)
    return Secret("slack_bot", f"xoxb-{chars(12, string.digits)}-{chars(12, string.digits)}-{body}", body)


def _slack_app() -> Secret:
    body = chars(64, "0123456789abcdef")
    app = f"A{chars(10, string.ascii_uppercase)}-{chars(13, string.digits)}"
    return Secret("slack_app", f"xapp-1-{app}-{body}", body)


def _aws() -> Secret:
    body = chars(16, string.ascii_uppercase + string.digits)
    return Secret("aws", "AKIA" + body, body)


# Every token format a provider rule knows, each built fresh.
TOKEN_FORMATS: dict[str, Callable[[], Secret]] = {
    "github_classic": lambda: _prefixed("github_classic", "ghp_", 36),
    "github_oauth": lambda: _prefixed("github_oauth", "gho_", 36),
    "github_fine_grained": lambda: _prefixed("github_fine_grained", "github_pat_" + chars(22) + "_", 59),
    "gitlab": lambda: _prefixed("gitlab", "glpat-", 20),
    "google_api_key": lambda: _prefixed("google_api_key", "AIza", 35, ALNUM),
    "google_oauth": lambda: _prefixed("google_oauth", "ya29.", 60, ALNUM),
    "openai": lambda: _prefixed("openai", "sk-", 48),
    "openai_project": lambda: _prefixed("openai_project", "sk-proj-", 48),
    "anthropic": lambda: _prefixed("anthropic", "sk-ant-api03-", 60),
    "slack_bot": _slack_bot,
    "slack_app": _slack_app,
    "stripe_live": lambda: _prefixed("stripe_live", "sk_live_", 24),
    "stripe_restricted": lambda: _prefixed("stripe_restricted", "rk_live_", 24),
    "stripe_webhook": lambda: _prefixed("stripe_webhook", "whsec_", 32),
    "aws": _aws,
    "jwt": _jwt,
}

# Texts a token sits in; `{}` is the token.
TOKEN_CONTEXTS: dict[str, str] = {
    "after %3D": "https://x.example.com/cb?next=a%3D{}",
    "after %20": "upstream said:%20{}%20(retrying)",
    "between %22": "payload=%22{}%22",
    "after %2C": "ids=1%2C{}%2C3",
    "log line": "2026-11-21T10:41:05.123Z ERROR auth failed with {} (retrying)",
    "json value": '{{"detail": "upstream rejected {}", "status": 401}}',
    "url path": "GET https://hooks.example.com/v1/{}/events failed",
    "url fragment": "redirected to https://app.example.com/done#state=1&access_token={}",
    "header": "Authorization: Bearer {}",
}

# Secrets that only their context makes secret (random values, no provider prefix).
CONTEXT_SECRETS: dict[str, str] = {
    "assignment": "password={}",
    "camel key": "passWord={}",
    "json key": '{{"client_secret": "{}"}}',
    "bearer": "Authorization: Bearer {}",
    "query": "https://api.example.com/x?api_key={}&page=2",
    "fragment": "https://app.example.com/cb#access_token={}&token_type=bearer",
    "url password": "postgresql://app:{}@db.example.com/x",
    "cookie": "Cookie: sid={}; Path=/",
    "xml": "<password>{}</password>",
}

Encoding = Callable[[str], str]


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _unicode_escaped(text: str) -> str:
    # Every non-alphanumeric character as \u00XX, the way some JSON writers (ensure_ascii, JS) escape.
    return "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in text)


ENCODINGS: dict[str, Encoding] = {
    "raw": lambda t: t,
    "percent": lambda t: quote(t, safe=""),
    "percent lowercase": lambda t: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(t, safe="")),
    "percent twice": lambda t: quote(quote(t, safe=""), safe=""),
    "json escaped": _json_escaped,
    "json escaped twice": lambda t: _json_escaped(_json_escaped(t)),
    "json in json": lambda t: json.dumps({"body": json.dumps({"error": t})}),
    "unicode escaped": _unicode_escaped,
    "in a url query": lambda t: "https://x.example.com/r?next=" + quote(t, safe=""),
    "in a url path": lambda t: "https://x.example.com/r/" + quote(t, safe="") + "/x",
    "in a url fragment": lambda t: "https://x.example.com/r#" + quote(t, safe=""),
    "html entities": lambda t: html.escape(t, quote=True),
    "json then percent": lambda t: quote(_json_escaped(t), safe=""),
    # Base64 of the whole text, in the places it travels: a config value, a JSON field (URL-safe, unpadded),
    # alone, percent-encoded (its `+/=` escaped), JSON-escaped (`\/`).
    "base64": lambda t: "config=" + _b64(t),
    "base64url in json": lambda t: json.dumps({"blob": b64url(t.encode())}),
    "base64 alone": lambda t: _b64(t),
    "base64 percent-encoded": lambda t: "state=" + quote(_b64(t), safe=""),
    "base64 json-escaped": lambda t: '{"blob": "' + _b64(t).replace("/", "\\/") + '"}',
    "base64 wrapped at 76": lambda t: base64.encodebytes(("HOME=/root\n" * 5 + t).encode()).decode(),
    "base64 wrapped in json": lambda t: json.dumps(
        {"pem": base64.encodebytes(("x" * 50 + "\n" + t).encode()).decode()}
    ),
    "base64 of utf-16": lambda t: "-EncodedCommand " + base64.b64encode(t.encode("utf-16-le")).decode(),
    "base64 glued": lambda t: "key=v1" + _b64(t),
    "base64 of latin-1": lambda t: "x=" + base64.b64encode("été ".encode("latin-1") + t.encode()).decode(),
}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


_RUNS = re.compile(r"[A-Za-z0-9+/=_-]{8,}")


def _decoded_runs(out: str) -> Iterator[str]:
    """What each run of base64-looking characters in `out` says, read as standard and as URL-safe base64,
    from every start within its first four characters (a run need not begin where an encoding does), with
    its lines joined (wrapped base64), as UTF-8, UTF-16 and Latin-1."""
    unescaped = out.replace("\\/", "/")
    joined = re.sub(r"\r?\n|\\r\\n|\\n", "", unescaped)
    for run in {*_RUNS.findall(unescaped), *_RUNS.findall(joined)}:
        for skip in range(4):
            body = run[skip:].rstrip("=")
            body = body[: len(body) - len(body) % 4 if len(body) % 4 == 1 else len(body)]
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    data = decode(body + "=" * (-len(body) % 4))
                except ValueError:
                    continue
                for encoding in ("utf-8", "utf-16-le", "latin-1"):
                    yield data.decode(encoding, "ignore")


def survivors(secret: Secret, out: str) -> list[str]:
    """The forms of `secret` still present in `out` (empty: nothing survived), base64 included."""
    forms = {"body": secret.body, "token": secret.token}
    found = [name for name, form in forms.items() if form and form in out]
    if secret.body and not found and any(secret.body in said for said in _decoded_runs(out)):
        found.append("body (in base64)")
    return found


@dataclass(frozen=True)
class Case:
    """One text holding one secret: `name` says which format, context and encoding."""

    name: str
    text: str
    secret: Secret


def token_cases() -> Iterator[Case]:
    """Every token format in every context, in every encoding."""
    for kind, make in TOKEN_FORMATS.items():
        for context, template in TOKEN_CONTEXTS.items():
            for encoding, encode in ENCODINGS.items():
                secret = make()
                yield Case(f"{kind} | {context} | {encoding}", encode(template.format(secret.token)), secret)


def context_cases() -> Iterator[Case]:
    """Every context-only secret, in every encoding."""
    for context, template in CONTEXT_SECRETS.items():
        for encoding, encode in ENCODINGS.items():
            body = chars(24)
            yield Case(f"{context} | {encoding}", encode(template.format(body)), Secret(context, body, body))


def basic_cases() -> Iterator[Case]:
    """Credentials inside base64, where the Basic rule decodes it: `Basic base64(user:secret)`."""
    for kind, make in {**TOKEN_FORMATS, "random": lambda: Secret("random", *(2 * [chars(20)]))}.items():
        secret = make()
        encoded = base64.b64encode(f"user:{secret.token}".encode()).decode()
        hidden = Secret(kind, encoded, encoded)
        for encoding, encode in ENCODINGS.items():
            for template in ("Authorization: Basic {}", "sent Basic {} to the proxy"):
                yield Case(f"basic {kind} | {encoding}", encode(template.format(encoded)), hidden)
