"""The one redaction walk (`Redactor.value`): keys are redacted like any text, names and counters are data,
the memory of clean strings is bounded and never holds a secret, and large inputs can leave the event loop."""

from __future__ import annotations

import json
import threading

import pytest

from mcpdiag.emitters import Redactor, redact_event
from mcpdiag.emitters.redact import CACHE_STRINGS, OFFLOAD_CHARS, redact_text_async
from tests.emitters.secret_forms import TOKEN_FORMATS, chars


@pytest.mark.parametrize("kind", sorted(TOKEN_FORMATS))
def test_a_token_used_as_a_key_is_redacted_and_its_value_kept(kind: str) -> None:
    secret = TOKEN_FORMATS[kind]()
    out, counts = redact_event({"attrs": {secret.token: 1, "plain": 2}})
    assert secret.body not in json.dumps(out)
    assert sorted(out["attrs"].values()) == [1, 2]
    assert counts and redact_event(out) == (out, {})


def test_keys_that_redact_to_the_same_placeholder_are_all_kept() -> None:
    a, b = "ghp_" + chars(36), "ghp_" + chars(36)
    out, counts = redact_event({"attrs": {a: "first", b: "second", "password=" + chars(10): "third"}})
    assert sorted(out["attrs"].values()) == ["first", "second", "third"]
    assert len(out["attrs"]) == 3 and counts == {"github_token": 2, "assignment": 1}
    assert redact_event(out) == (out, {})


def test_a_key_naming_a_secret_still_hides_its_value_whatever_the_spelling() -> None:
    for key in ("passWord", "pass", "db_pass", "api_keys", "AccountKey", "SharedAccessKey", "x-auth-token"):
        out, _ = redact_event({key: "v" + chars(10)})
        assert out == {key: "[REDACTED:secret_key]"}, key


@pytest.mark.parametrize("key", ["oauth", "auth", "session", "cookie", "token", "google-oauth", "vault-token",
                                 "doctor.oauth", "X-Auth-Token"])  # fmt: skip
def test_a_count_under_a_name_that_looks_like_a_secret_is_data(key: str) -> None:
    for event in ({"attrs": {key: 3}}, {"by": {key: 0.5}}, {key: True}, {key: None}):
        assert redact_event(event) == (event, {})


@pytest.mark.parametrize("key", ["password", "pin_password", "apiKey", "secret", "client_secret", "passcode"])
def test_a_number_under_a_credential_name_is_still_a_secret(key: str) -> None:
    out, counts = redact_event({key: 123456})
    assert out == {key: "[REDACTED:secret_key]"} and counts == {"secret_key": 1}


def test_a_server_name_that_looks_like_a_secret_is_a_value_and_survives() -> None:
    names = ["google-oauth", "1password", "auth", "session", "vault-token", "api-key", "secret-store"]
    doc = {"by_server": [{"server": name, "events": n} for n, name in enumerate(names)]}
    assert redact_event(doc) == (doc, {})


def test_the_memory_of_clean_strings_is_bounded_and_never_holds_a_secret() -> None:
    redactor = Redactor(["hunter2-corp-secret"])
    for i in range(CACHE_STRINGS + 100):
        redactor.value({"detail": f"message {i}", "other": "pw=hunter2-corp-secret"}, {})
    redactor.value({"detail": "Authorization: Bearer " + "x9" * 20}, {})
    remembered = redactor.remembered()
    assert 0 < len(remembered) <= CACHE_STRINGS
    assert not any("hunter2" in text or "x9x9" in text for text in remembered)


def test_the_walk_gives_what_redacting_each_string_gives_from_every_thread() -> None:
    redactor = Redactor()
    secret = "ghp_" + chars(36)
    event = {"detail": f"token {secret}", "attrs": {"a": ["plain", f"x={secret}"], "b": {"c": "plain"}}}
    want = redact_event(event)
    results: list[object] = []

    def work() -> None:
        for _ in range(200):
            counts: dict[str, int] = {}
            results.append((redactor.value(event, counts), counts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == want for result in results) and len(results) == 800


def test_is_clean_is_true_exactly_when_the_walk_changes_nothing() -> None:
    redactor = Redactor()
    clean = {"server": "github", "attrs": {"n": 1, "list": ["a", ("b", 2)], "oauth": None}}
    dirty = {"server": "github", "attrs": {"list": [{"name": "Authorization", "value": "Bearer x"}]}}
    assert redactor.is_clean(clean) and redactor.first_leak(clean) is None
    assert not redactor.is_clean(dirty) and redactor.first_leak(dirty) == "secret_key"


async def test_large_texts_are_redacted_off_the_event_loop() -> None:
    secret = "ghp_" + chars(36)
    big = ("plain words " * (OFFLOAD_CHARS // 12 + 1)) + secret
    loop_thread = threading.get_ident()
    seen: list[int] = []

    class Watching(Redactor):
        def text(self, text: str, counts: dict[str, int] | None = None) -> str:
            seen.append(threading.get_ident())
            return super().text(text, counts)

    redactor = Watching()
    assert await redactor.atext("short " + secret) == "short [REDACTED:github_token]"
    assert seen[-1] == loop_thread
    out = await redactor.atext(big)
    assert secret not in out and seen[-1] != loop_thread
    assert (await redact_text_async(big)).endswith("[REDACTED:github_token]")
    counts: dict[str, int] = {}
    event = {"tool": big, "attrs": {"k": "plain"}}
    out = await redactor.avalue(event, counts)
    assert secret not in out["tool"] and counts == {"github_token": 1} and seen[-1] != loop_thread
