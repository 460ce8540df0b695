"""A secret that a length cut goes through is not left half in an event.

Found by an adversarial pass: the pieces of `detail` (an exception's message, a tool's error text, a
response body) were cut to their lengths before the detail was redacted, so a registered header secret or a
GitHub token across a cut lost its tail and with it every rule's recognition: 39 of a token's 40 characters
were stored. Every cut of text that is redacted later now falls at a word end (`text.word_cut`); a URL or
name, at the start of the run of token characters it would split (`text.token_cut`).

The property is checked over every position of three kinds of secret around each cut, then through real MCP
sessions: a failing tool whose error text puts a registered secret and a token across the tool-error cut
(500 characters) and the exception cut (300), at every offset of a window.
"""

from __future__ import annotations

import secrets
import string

import pytest

from mcpdiag.emitters.chain import MAX_EXC_TEXT
from mcpdiag.emitters.classifier import classify
from mcpdiag.emitters.emitter import Emitter
from mcpdiag.emitters.endpoint import MAX_ENDPOINT_CHARS, url_endpoint
from mcpdiag.emitters.mcp import open_session
from mcpdiag.emitters.mcp.sdk import is_error
from mcpdiag.emitters.redact import Redactor
from mcpdiag.emitters.sinks import MemorySink
from mcpdiag.emitters.text import clip, token_cut, word_cut
from tests.e2e.zoo import FAST

FRAGMENT = 6
"""The longest piece of a secret an output may hold without holding the whole of it."""


def _secrets() -> dict[str, str]:
    """A registered secret of any printable characters but word ends, a token of token characters, a
    GitHub token (generated now)."""
    wordy = "".join(
        secrets.choice(string.ascii_letters + string.digits + "!@#$%^&*()_+-=/") for _ in range(24)
    )
    spaced = secrets.token_urlsafe(18)
    return {
        "registered": wordy,
        "spaced": " ".join(spaced[i : i + 6] for i in range(0, 24, 6)),
        "opaque": secrets.token_urlsafe(24),
        "github": "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36)),
    }


def _holds_part(text: str, secret: str) -> bool:
    """Whether `text` holds a piece of `secret` longer than `FRAGMENT` without holding all of it."""
    if secret in text:
        return False
    return any(secret[i : i + FRAGMENT + 1] in text for i in range(len(secret) - FRAGMENT))


@pytest.mark.parametrize("kind", ["registered", "opaque", "github"])
@pytest.mark.parametrize("cut", [word_cut, clip])
def test_a_word_cut_keeps_a_secret_whole_or_not_at_all(kind: str, cut: object) -> None:
    secret = _secrets()[kind]
    limit = 120
    for start in range(limit - len(secret) - 2, limit + 2):
        text = "x" * max(0, start - 1) + " " + secret + " and the rest of the message"
        kept = cut(text, limit)  # type: ignore[operator]
        assert len(kept) <= limit
        assert not _holds_part(kept, secret), (start, kept[-40:])


def _contextual(secret: str) -> dict[str, str]:
    """Texts whose secret a rule recognises only with what surrounds it, across word ends: a value named
    after it (`{"value": …, "name": "Authorization"}`), a quoted value holding spaces."""
    words = " ".join(secret[i : i + 5] for i in range(0, 20, 5))
    return {
        "value first": f'sent {{"value":"{secret}","name":"Authorization"}} upstream',
        "quoted with spaces": f'config {{"password": "{words}"}} was refused',
        "registered with spaces": f"the passphrase {words} did not open it",
    }


@pytest.mark.parametrize("shape", ["value first", "quoted with spaces", "registered with spaces"])
@pytest.mark.parametrize("cut", [word_cut, clip])
def test_a_cut_never_leaves_a_secret_its_context_made_redactable(shape: str, cut: object) -> None:
    """Found by an adversarial review: a cut at a word end still dropped what made the secret one (the name
    after a value, the closing quote, the rest of a registered secret), and the part kept was stored as it
    was. Text is redacted before it is cut: at every cut position, no piece of the secret is left."""
    secret = secrets.token_urlsafe(18)
    text = "x " * 10 + _contextual(secret)[shape]
    words = " ".join(secret[i : i + 5] for i in range(0, 20, 5))
    redactor = Redactor([words])
    pieces = [secret[i : i + 5] for i in range(0, 20, 5)] if shape != "value first" else [secret]
    for limit in range(2, len(text) + 2):
        shortened = cut(text, limit, redactor)  # type: ignore[operator]
        assert len(shortened) <= limit
        kept = redactor.text(shortened)
        for piece in pieces:
            assert piece not in kept, (limit, kept)


def test_a_token_cut_keeps_a_url_segment_whole_or_not_at_all() -> None:
    token = secrets.token_urlsafe(30)
    for start in range(MAX_ENDPOINT_CHARS - len(token) - 2, MAX_ENDPOINT_CHARS + 2):
        url = "https://mcp.invalid/" + "a" * max(0, start - 20) + "/" + token + "/tools"
        shown = url_endpoint(url)
        assert shown is not None and len(shown) <= MAX_ENDPOINT_CHARS
        assert not _holds_part(shown, token), (start, shown[-50:])
        assert not _holds_part(token_cut(url, start + 5), token)


async def test_a_failing_tool_leaves_no_part_of_a_secret_in_its_event(mcp_port: int) -> None:
    """The zoo's `refuse` tool fails with the reason as its error text (cut at 500 characters), which holds
    the secrets moved across the cut; a registered one is sent as a header too."""
    planted = _secrets()
    sink = MemorySink()
    emitter = Emitter(sink, service="cuts", flush_interval=0.01, coalesce_window=0)
    emitter.register_secret(planted["registered"])
    emitter.register_secret(planted["spaced"])  # a passphrase: a cut at one of its spaces kept its start
    offsets = range(455, 503, 2)
    try:
        async with open_session(
            "cuts", emitter=emitter, url=f"http://127.0.0.1:{mcp_port}/mcp", **FAST
        ) as session:
            for offset in offsets:
                for secret in planted.values():
                    reason = "y" * offset + " " + secret + " trailing words"
                    assert is_error(await session.call_tool("refuse", {"reason": reason}))
        assert emitter.flush(5)
    finally:
        emitter.close(2)
    details = [str(e.get("detail") or "") for e in sink.events if e["code"] == "MCP_TOOL_ERROR"]
    assert len(details) == len(offsets) * len(planted)
    for detail in details:
        for kind, secret in planted.items():
            assert not _holds_part(detail, secret), (kind, detail[-120:])


@pytest.mark.parametrize("kind", ["registered", "opaque", "github"])
def test_an_exception_message_leaves_no_part_of_a_secret_in_detail(kind: str) -> None:
    """An exception's message is cut at `MAX_EXC_TEXT` in `detail`, which is redacted after."""
    secret = _secrets()[kind]
    redactor = Redactor([secret])
    for offset in range(MAX_EXC_TEXT - len(secret) - 25, MAX_EXC_TEXT + 2):
        exc = ValueError("z" * offset + " " + secret + " and more")
        detail = classify(exc, touchpoint="tool_call", server="cuts", redactor=redactor).detail or ""
        assert not _holds_part(detail, secret), (offset, detail[-120:])
