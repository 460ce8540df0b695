"""A generated, realistic corpus of event text for the redaction benches (and the ingest bench's details).

    corpus(count, seed) -> list[str]

What emitters and the collector see: catalog messages, classifier details with exception chains, HTTP
details (`www-authenticate` challenges, status lines, URLs with query strings and percent-escapes),
tracebacks, JSON bodies with escapes, Windows paths, e-mail addresses, command lines, stderr tails, files
a tool returns as base64, and a few long inputs (16-64 KB responses and logs). About 8 % of the texts hold
a secret of one of the formats the redactor knows, placed in one of those contexts (some inside base64: an
environment passed as a base64 config, credentials as URL-safe base64 in JSON). Everything (secrets
included) is generated at run time from `seed`: no committed value looks like a real credential.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

SECRET_SHARE = 0.08
LONG_SHARE = 0.004
"""Texts of 16-64 KB (response bodies, stderr): rare, but they carry a large share of the bytes."""

_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits
_URLSAFE = _ALNUM + "-_"
_HOSTS = ["mcp.example.com", "api.example.org", "tools.internal.example", "127.0.0.1:8931", "localhost:3000"]
_SERVERS = ["github", "jira", "postgres", "filesystem", "slack-bot", "search", "browser", "notion"]
_TOOLS = ["search_issues", "create_page", "run_query", "read_file", "list_channels", "fetch_url", "navigate"]
_CODES = [
    "MCP_CONNECTION_REFUSED", "MCP_TIMEOUT", "MCP_AUTH_REQUIRED", "MCP_SERVER_ERROR", "MCP_RATE_LIMITED",
    "MCP_TOOL_ERROR", "MCP_SESSION_EXPIRED", "MCP_PROTOCOL_ERROR", "MCP_SPAWN_FAILED",
]  # fmt: skip
_WORDS = [
    "the",
    "server",
    "closed",
    "the",
    "connection",
    "before",
    "sending",
    "a",
    "response",
    "while",
    "the",
    "client",
    "was",
    "waiting",
    "for",
    "the",
    "initialize",
    "result",
    "of",
    "session",
    "worker",
    "batch",
    "request",
    "tool",
    "call",
    "retry",
    "backoff",
    "upstream",
    "gateway",
    "returned",
    "status",
    "error",
    "timeout",
    "after",
    "seconds",
    "reading",
    "from",
    "stream",
    "transport",
    "pool",
    "handler",
    "queue",
    "failed",
    "to",
    "parse",
    "message",
    "because",
    "field",
    "was",
    "missing",
    "expected",
    "string",
    "got",
    "null",
    "at",
    "index",
    "invalid",
    "params",
    "schema",
    "validation",
]


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(_WORDS, k=n))


# -- ordinary text ---------------------------------------------------------------------------------------


def _catalog(rng: random.Random) -> str:
    return f"{rng.choice(_SERVERS)} is not accepting connections right now; try again in a moment."


def _classifier(rng: random.Random) -> str:
    host = rng.choice(_HOSTS)
    return (
        f"{rng.choice(_CODES)} by errno (touchpoint=connect, transport=streamable-http)\n"
        "  httpx2.ConnectError: [Errno 111] Connection refused\n"
        "  ConnectionRefusedError: [Errno 111] Connection refused\n"
        f"http: POST https://{host}/mcp -> no response"
    )


def _http_401(rng: random.Random) -> str:
    host = rng.choice(_HOSTS)
    return (
        "MCP_AUTH_REQUIRED by http_status (touchpoint=connect)\n  httpx2.HTTPStatusError: 401 Unauthorized\n"
        f'http: POST https://{host}/mcp -> 401; www-authenticate: Bearer realm="mcp", error="invalid_token", '
        f'resource_metadata="https://{host}/.well-known/oauth-protected-resource"'
    )


def _url(rng: random.Random) -> str:
    q = "%20".join(rng.choices(_WORDS, k=3))
    return f"GET https://{rng.choice(_HOSTS)}/v1/search?q={q}&page={rng.randint(1, 9)}&limit=10 -> 200"


def _traceback(rng: random.Random) -> str:
    frames = "\n".join(
        f'  File "/usr/lib/python3.12/site-packages/httpx2/_transports/default.py", '
        f"line {rng.randint(50, 900)},"
        f" in handle_async_request\n    resp = await self._pool.handle_async_request(req)"
        for _ in range(rng.randint(3, 12))
    )
    return f"Traceback (most recent call last):\n{frames}\nhttpx2.ReadTimeout: timed out"


def _json_body(rng: random.Random) -> str:
    data = {"trace": _traceback(rng)[:300], "tool": rng.choice(_TOOLS), "attempt": rng.randint(1, 9)}
    return json.dumps({"jsonrpc": "2.0", "id": rng.randint(1, 999), "error": {"code": -32603, "data": data}})


def _tool_args(rng: random.Random) -> str:
    args = {"query": _sentence(rng, 4), "owner": "acme", "repo": rng.choice(_SERVERS), "per_page": 30}
    return f"tools/call {rng.choice(_TOOLS)} {json.dumps(args)} -> isError: {_sentence(rng, 6)}"


def _windows(rng: random.Random) -> str:
    return rf"spawn failed: C:\Users\alice\AppData\Local\Programs\mcp\{rng.choice(_SERVERS)}.exe (errno 2)"


def _email(rng: random.Random) -> str:
    return f"notify {rng.choice(['ops', 'alice', 'bob'])}@example.com: {_sentence(rng, 8)}"


def _command(rng: random.Random) -> str:
    port = rng.randint(3000, 9000)
    return f"npx -y @modelcontextprotocol/server-{rng.choice(_SERVERS)} --port {port} --verbose"


def _file_content(rng: random.Random) -> str:
    """A tool result carrying a file as base64 (what a repository tool returns): benign, but base64."""
    source = "\n".join(
        f"def {rng.choice(_TOOLS)}(session, request):\n"
        f"    return {'_'.join(rng.choices(_WORDS, k=5))}(request)"
        for _ in range(rng.randint(2, 8))
    )
    content = base64.b64encode(source.encode()).decode()
    return json.dumps({"name": f"{rng.choice(_SERVERS)}.py", "encoding": "base64", "content": content})


def _stderr(rng: random.Random, size: int = 4096) -> str:
    lines = []
    total = 0
    while total < size:
        line = (
            f"2026-11-21T10:41:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z INFO worker "
            f"{rng.randint(1, 64)}: {_sentence(rng, rng.randint(4, 12))} in {rng.randint(1, 900)} ms"
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]


def _long(rng: random.Random) -> str:
    size = rng.choice([16, 32, 64]) * 1024
    if rng.random() < 0.5:
        return _stderr(rng, size)
    items = []
    while sum(map(len, items)) < size:
        items.append(json.dumps({"id": rng.randint(1, 10**6), "title": _sentence(rng, 8), "state": "open"}))
    return (
        '{"result": {"content": [{"type": "text", "text": ' + json.dumps("[" + ",".join(items) + "]") + "}]}}"
    )


_ORDINARY: list[tuple[Callable[[random.Random], str], int]] = [
    (_catalog, 20), (_classifier, 14), (_http_401, 8), (_url, 8), (_traceback, 6), (_json_body, 8),
    (_tool_args, 10), (_windows, 4), (_email, 4), (_command, 6), (lambda rng: _sentence(rng, 12), 8),
    (lambda rng: _stderr(rng, rng.choice([512, 1024, 2048])), 4), (_file_content, 3),
]  # fmt: skip


# -- secrets, each in a context ---------------------------------------------------------------------------


def _token(rng: random.Random) -> str:
    """One secret of a format the redactor knows."""
    kind = rng.randrange(16)
    if kind == 0:
        return "ghp_" + _chars(rng, _ALNUM, 36)
    if kind == 1:
        return "github_pat_" + _chars(rng, _ALNUM + "_", 60)
    if kind == 2:
        return "glpat-" + _chars(rng, _URLSAFE, 20)
    if kind == 3:
        return (
            "xoxb-"
            + "-".join(_chars(rng, string.digits, 12) for _ in range(2))
            + "-"
            + _chars(rng, _ALNUM, 24)
        )
    if kind == 4:
        return "AKIA" + _chars(rng, _UPPER, 16)
    if kind == 5:
        return "sk_live_" + _chars(rng, _ALNUM, 24)
    if kind == 6:
        return "AIza" + _chars(rng, _URLSAFE, 35)
    if kind == 7:
        return "ya29." + _chars(rng, _URLSAFE, 40)
    if kind == 8:
        return "sk-ant-api03-" + _chars(rng, _URLSAFE, 40)
    if kind == 9:
        return "sk-proj-" + _chars(rng, _URLSAFE, 40)
    if kind == 10:
        head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
        return f"{head}.{_chars(rng, _URLSAFE, 40)}.{_chars(rng, _URLSAFE, 43)}"
    if kind == 11:
        return "whsec_" + _chars(rng, _ALNUM, 32)
    return _chars(rng, _URLSAFE, rng.choice([24, 32, 40]))


def _with_secret(rng: random.Random) -> str:
    token = _token(rng)
    host = rng.choice(_HOSTS)
    kind = rng.randrange(16)
    if kind == 0:
        return f"GET /mcp -> 401\nAuthorization: Bearer {token}\nAccept: text/event-stream"
    if kind == 1:
        return f"GET https://{host}/cb?code={token}&state={_chars(rng, _ALNUM, 8)} -> 302"
    if kind == 2:
        return json.dumps({"client_id": "app", "client_secret": token, "scope": "read write"})
    if kind == 3:
        return f"redirect to https://{host}/cb?next=%2Fhome%3Ftoken%3D{token}"
    if kind == 4:
        return f"connect failed: postgres://svc:{_chars(rng, _ALNUM, 16)}@db.internal:5432/app (timeout)"
    if kind == 5:
        return f"spawn: curl -u admin:{_chars(rng, _ALNUM, 14)} https://{host}/health -> exit 7"
    if kind == 6:
        return f"env dump: MCP_PORT=8080 API_TOKEN={token} LOG_LEVEL=debug"
    if kind == 7:
        body = json.dumps({"headers": {"Authorization": f"Bearer {token}"}, "status": 401})
        return f"upstream said: {json.dumps(body)}"
    if kind == 8:
        return f"<config><user>svc</user><password>{_chars(rng, _ALNUM, 12)}</password></config>"
    if kind == 9:
        key = base64.b64encode(rng.randbytes(300)).decode()
        return f"loaded key:\n-----BEGIN PRIVATE KEY-----\n{key}\n-----END PRIVATE KEY-----\n"
    if kind == 10:
        basic = base64.b64encode(f"svc:{_chars(rng, _ALNUM, 12)}".encode()).decode()
        return f"request headers: Authorization: Basic {basic}; accept: */*"
    if kind == 11:
        return f"{_traceback(rng)}\nValueError: bad credentials for token {token}"
    if kind == 12:
        path = f"T{_chars(rng, _UPPER, 8)}/B{_chars(rng, _UPPER, 8)}/{_chars(rng, _ALNUM, 24)}"
        return f"hook failed: https://hooks.slack.com/services/{path}"
    if kind == 14:
        said = base64.b64encode(f"MCP_PORT=8080\nAPI_TOKEN={token}\n".encode()).decode()
        return f"spawn {rng.choice(_SERVERS)}: env from config={said} (exit 1)"
    if kind == 15:
        said = base64.urlsafe_b64encode(json.dumps({"user": "svc", "password": token}).encode()).decode()
        return json.dumps({"tool": rng.choice(_TOOLS), "arguments": {"options": said}})
    return f"{_sentence(rng, 6)} {token} {_sentence(rng, 4)}"


def corpus(count: int = 20_000, seed: int = 22) -> list[str]:
    """`count` texts: ordinary ones, about `SECRET_SHARE` holding a secret, about `LONG_SHARE` long."""
    rng = random.Random(seed)
    makers = [maker for maker, _ in _ORDINARY]
    weights = [weight for _, weight in _ORDINARY]
    texts = []
    for _ in range(count):
        roll = rng.random()
        if roll < SECRET_SHARE:
            texts.append(_with_secret(rng))
        elif roll < SECRET_SHARE + LONG_SHARE:
            texts.append(_long(rng))
        else:
            texts.append(rng.choices(makers, weights)[0](rng))
    return texts
