"""Decoded layers: the gate that skips reading a layer never skips one a rule would change (what decoding
produced is checked against what the text holds as it is: a decoded space forms `Bearer ` only next to a
`bearer` already written), and a secret found in a layer is replaced where the text wrote it.

The oracle is the redactor with the gate open (every layer read): the redacted text must be the same.
Secrets are generated at run time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpdiag.emitters import Redactor, redact_engine, redact_scan
from tests.emitters.test_redact_engines import ATOMS, ORDINARY, _secret_texts

ENGINES = ["stdlib", *(["hyperscan"] if "hyperscan" in redact_scan.available() else [])]
REDACTORS = {engine: Redactor(engine=engine) for engine in ENGINES}  # built once: Hyperscan compiles
TOKEN = secrets.token_hex(12)
# Escaped forms of what introduces a secret, next to plain words, so layers form (and nearly form) them.
LAYER_ATOMS = sorted(
    {
        *ATOMS,
        TOKEN, "%20", "%3A", "%22", "%253D", "%42", "%62", "\\n", "\\t", "\\/", "\\\\", "\\u0020", "\\x3d",
        "&#32;", "&amp;", "&quot;", "bearer", "Bearer", "earer", "basic", "auth", "Authorization", "token",
        "key", "value", "name", "field", "val", "://", "@", "?", "&", "=", ":", '"', "'",
    }
)  # fmt: skip
texts = st.lists(st.sampled_from(LAYER_ATOMS), max_size=20).map("".join)
# A name or scheme that introduces a secret, a separator written plainly or escaped, a value: most of these
# hold a secret only once a layer is decoded, some not even then.
INTRODUCERS = [
    "Bearer",
    "bearer",
    "Basic",
    "token",
    "api_key",
    "Authorization",
    "password",
    "x-api-key",
    '"client_secret"',
    "'key'",
    "https://user",
    "mysql -p",
    "sig",
    "code",
    "name",
    "value",
]
SEPARATORS = [
    " ",
    "%20",
    "%2520",
    "\\t",
    "\\u0020",
    "&#32;",
    "=",
    "%3D",
    "%253D",
    "\\x3d",
    ":",
    "%3A",
    '"',
    "%22",
    '\\"',
    "&quot;",
    "@",
    "%40",
    "?",
    "%3F",
    "&",
    "%26",
    "\\n",
    "%0A",
    "",
]
VALUES = [TOKEN, secrets.token_urlsafe(18), "dXNlcjpwYXNzd29yZA==", "x", "[REDACTED:bearer]"]
shaped = st.lists(
    st.tuples(
        st.sampled_from(["", *LAYER_ATOMS]),
        st.sampled_from(INTRODUCERS),
        st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3).map("".join),
        st.sampled_from(VALUES),
    ).map("".join),
    min_size=1,
    max_size=4,
).map(" ".join)  # fmt: skip


@contextmanager
def every_layer_read() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redact_engine, "layer_worth", lambda *_: True)
        yield


def _both(text: str, redactor: Redactor) -> tuple[str, str]:
    gated = redactor.text(text)
    with every_layer_read():
        read = redactor.text(text)
    return gated, read


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts)
def test_the_layer_gate_never_skips_a_layer_a_rule_changes(engine: str, text: str) -> None:
    gated, read = _both(text, REDACTORS[engine])
    assert gated == read


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=shaped)
def test_the_layer_gate_never_skips_an_escaped_secret(engine: str, text: str) -> None:
    gated, read = _both(text, REDACTORS[engine])
    assert gated == read


@pytest.mark.parametrize("engine", ENGINES)
def test_the_layer_gate_on_every_encoded_secret_form(engine: str) -> None:
    redactor = REDACTORS[engine]
    for text in [*_secret_texts(), *ORDINARY]:
        for form in (text, text.replace(" ", "%20"), text.replace(" ", "\\t"), text.replace('"', '\\"')):
            gated, read = _both(form, redactor)
            assert gated == read, form


def test_the_oracle_would_see_a_skipped_layer() -> None:
    """Shut the gate and an escaped secret survives: the comparison above can fail."""
    text = f"x=%22Bearer%20{TOKEN}%22"
    redactor = Redactor()
    assert TOKEN not in redactor.text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redact_engine, "layer_worth", lambda *_: False)
        assert TOKEN in redactor.text(text)


def test_a_secret_in_a_json_escaped_layer_is_replaced_where_it_was_written() -> None:
    text = f'{{"data": "{{\\"headers\\": {{\\"Authorization\\": \\"Bearer {TOKEN}\\"}}}}\\n"}}'
    redacted = Redactor().text(text)
    assert TOKEN not in redacted
    assert redacted.startswith('{"data": "{\\"headers\\": {\\"Authorization\\": \\"') and redacted.endswith(
        '\\"}}\\n"}'
    )
