"""Decoding one layer of backslash escapes by replacement reads exactly as the split does.

A text whose escapes are all a backslash and one character (`\\"`, `\\n`, `\\\\`: JSON inside a JSON string)
is decoded by `str.replace` (`redact_views._replaced`); any other by splitting on its escapes. The oracle is
the split, asked for by naming one marker more than the text uses (`markers`, which only widens the split's
pattern): the same decoded text, the same characters produced, the same answer on nesting, and every position
mapped back to the same place in the text it came from.
"""

from __future__ import annotations

import secrets

from hypothesis import given, settings
from hypothesis import strategies as st

from mcpdiag.emitters import Redactor
from mcpdiag.emitters.redact_views import View, decode

SPLIT = frozenset("\\%")
# Runs of backslashes next to the characters that complete an escape, and ones that do not.
ATOMS = [
    "\\", "\\\\", "\\u0022", "\\x3d", "u00", "x3", '"', "n", "t", "/", "'", "b", "f", "r",
    "u", "x", "0", "a", "Z", " ", "q", "\x00",
]  # fmt: skip
texts = st.lists(st.sampled_from(ATOMS), max_size=40).map("".join)


def _positions(view: View) -> list[int]:
    return [view.up(pos) for pos in range(len(view.text) + 1)]


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_replacement_decodes_as_the_split_does(text: str) -> None:
    replaced = decode(text, markers=frozenset("\\"))
    split = decode(text, markers=SPLIT)
    if split is None:
        assert replaced is None
        return
    assert replaced is not None
    assert replaced.text == split.text
    assert replaced.chars == split.chars
    assert replaced.nested == split.nested
    assert _positions(replaced) == _positions(split)


@settings(max_examples=500, deadline=None)
@given(texts, texts)
def test_a_second_layer_maps_back_to_the_original_alike(head: str, tail: str) -> None:
    # JSON in a JSON string in a JSON string: `\\\\\\"` is `\\"` once decoded, `"` twice.
    text = head + "\\\\\\" + '"' + tail
    outer = decode(text, markers=frozenset("\\"))
    outer_split = decode(text, markers=SPLIT)
    assert outer is not None and outer_split is not None
    inner = decode(outer.text, outer, markers=frozenset("\\"))
    inner_split = decode(outer_split.text, outer_split, markers=SPLIT)
    if inner_split is None:
        assert inner is None
        return
    assert inner is not None and inner.text == inner_split.text
    assert [inner.origin(p) for p in range(len(inner.text) + 1)] == [
        inner_split.origin(p) for p in range(len(inner_split.text) + 1)
    ]


def test_a_secret_in_long_json_escaped_json_is_replaced_where_it_is_written() -> None:
    token = "ghp_" + secrets.token_hex(18)
    rows = ",".join(f'{{\\"id\\": {i}, \\"title\\": \\"row {i}\\\\n\\"}}' for i in range(800))
    text = f'{{"text": "[{rows}, {{\\"note\\": \\"token {token}\\"}}]"}}'
    redacted = Redactor().text(text)
    assert token not in redacted
    assert redacted == text.replace(token, "[REDACTED:github_token]")
