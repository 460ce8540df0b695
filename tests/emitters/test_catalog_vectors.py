"""The redaction vectors cover the redactor class by class: every provider token format in every encoding,
every context family with the neighbours it must leave alone, keys, counts and pairs in the walk."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import unquote

import pytest

from mcpdiag.emitters.catalog_cases import ENCODINGS, REDACTION_CASES, SECRET_KINDS, TOKEN_KINDS
from mcpdiag.emitters.catalog_vectors import CASES, expansions, fill, redaction_vectors
from mcpdiag.emitters.redact import RULE_NAMES, redact_text

_KIND = re.compile(r"\{\{([a-z0-9_]+)(?:#[a-z0-9]+)?\}\}")


def _decode(encoding: str, text: str) -> str:
    """Undo an encoding (what a reader of the text would see)."""
    if encoding.startswith("base64"):
        if encoding == "base64_wrapped":
            return base64.b64decode(text).decode()[54:]  # after the 53 x and the line break
        if encoding == "base64_utf16":
            return base64.b64decode(text.removeprefix("-EncodedCommand ")).decode("utf-16-le")
        if encoding == "base64_glued":
            return base64.b64decode(text.removeprefix("id=v1")).decode()
        if encoding == "base64_latin1":
            return base64.b64decode(text.removeprefix("x="))[2:].decode()
        if encoding == "base64url_json":
            blob = str(json.loads(text)["blob"])
            return base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)).decode()
        if encoding == "base64_after_escape":
            text = str(json.loads(f'"{text}"')).removeprefix("loaded:\n")
        return base64.b64decode(unquote(text.partition("=")[2] if "=" in text[:7] else text)).decode()
    if encoding.startswith("percent") or encoding.startswith("url"):
        return unquote(unquote(text)) if "twice" in encoding else unquote(text)
    if encoding in {"html_entities", "html_numeric"}:
        return html.unescape(text)
    if encoding == "json_in_json":
        return str(json.loads(json.loads(text)["body"])["error"])
    if encoding == "json_then_percent":
        return str(json.loads(f'"{unquote(text)}"'))
    if encoding.startswith("json") or encoding == "unicode_escaped":
        once = json.loads(f'"{text}"')
        return str(json.loads(f'"{once}"')) if "twice" in encoding else str(once)
    return text


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_carries_the_text_it_was_given(encoding: str) -> None:
    text = 'password="a b"&x=%20<y> \\ é'
    assert _decode(encoding, ENCODINGS[encoding](text)) in (text, f"https://x.example.com/r?next={text}",
                                                            f"https://x.example.com/r/{text}/x",
                                                            f"https://x.example.com/r#{text}")  # fmt: skip


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_every_token_kind_is_a_format_a_rule_of_its_own_names(kind: str) -> None:
    token = SECRET_KINDS[kind]()
    out = redact_text(f"value: {token} end")
    rule = out.removeprefix("value: [REDACTED:").removesuffix("] end")
    assert rule in RULE_NAMES and rule not in {"known_secret", "secret_key", "assignment"}, out


def test_templates_name_only_known_kinds_encodings_and_classes() -> None:
    for case in CASES:
        template = json.dumps(case.get("text", case.get("value")))
        for kind in _KIND.findall(template):
            assert kind == "token" or kind in SECRET_KINDS, (case["name"], kind)
        encodings = case.get("encodings", ["raw"])
        assert encodings == "all" or set(encodings) <= set(ENCODINGS), case["name"]


def test_token_formats_come_in_every_encoding_and_every_kind() -> None:
    vectors = [v for v in redaction_vectors(1) if v["class"] == "token_formats"]
    templates = [c for c in REDACTION_CASES if c["class"] == "token_formats"]
    assert len(vectors) == len(templates) * len(TOKEN_KINDS) * len(ENCODINGS)
    assert {v["encoding"] for v in vectors} == set(ENCODINGS)
    for kind in TOKEN_KINDS:
        assert sum(f" | {kind}" in v["name"] for v in vectors) >= len(templates) * len(ENCODINGS)


def test_every_class_redacts_something_and_the_kept_class_nothing() -> None:
    vectors = redaction_vectors(1)
    classes = {v["class"] for v in vectors}
    assert {"token_formats", "context_secrets", "kept", "keys", "counts", "pairs", "unicode"} <= classes
    for name in classes - {"kept"}:
        of_class = [v for v in vectors if v["class"] == name]
        assert any(v["counts"] for v in of_class), f"{name}: nothing redacted"
    kept = [v for v in vectors if v["class"] == "kept"]
    assert kept and all(v["expected"] == v["input"] and not v["secrets"] for v in kept)


def test_a_value_case_is_filled_in_keys_and_values_and_walked() -> None:
    case = {"name": "x", "class": "keys", "value": {"{{ghp}}": ["{{alnum#a}}", {"password": "{{alnum#a}}"}]}}
    ((name, concrete, encoding),) = expansions(case)
    vector = fill(name, concrete, encoding)
    key = next(iter(vector["input"]))
    assert key.startswith("ghp_") and vector["input"][key][0] == vector["input"][key][1]["password"]
    assert vector["expected"] == {
        "[REDACTED:github_token]": [vector["input"][key][0], {"password": "[REDACTED:secret_key]"}]
    }
    assert vector["counts"] == {"secret_key": 1, "github_token": 1} and vector["value"] is True
