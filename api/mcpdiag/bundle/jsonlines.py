"""A bundle's JSON Lines: parsing, encoding, and the head of a stored event read without parsing its line."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from operator import methodcaller
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic_core import from_json

from mcpdiag.emitters import DiagnosticEvent

_STR = r'"[^"\\]*"'
# Any other JSON scalar a field before the counted ones may hold (a value with a quote or a backslash, or an
# object, does not match: that line is parsed instead).
_SCALAR = rf"(?:null|true|false|-?[0-9][0-9.eE+-]*|{_STR})"
COUNTED = {
    "ts": r'"(?P<ts>(?P<hour>[^"\\]{13})[^"\\]*)"',
    "server": r'"(?P<server>[^"\\]*)"',
    "touchpoint": r'"(?P<touchpoint>[^"\\]*)"',
    "code": r'"(?P<code>[^"\\]*)"',
    "severity": r'"(?P<severity>[^"\\]*)"',
}
"""The wire fields the aggregates count (`aggregate.EventFields`), each as its group(s) of the head."""


def head_pattern(model: type[BaseModel]) -> re.Pattern[str]:
    """The head of an event of `model` as the collector stores it (compact JSON, the model's field order),
    from its first field to the last of the `COUNTED` ones."""
    parts: list[str] = []
    left = set(COUNTED)
    for name, info in model.model_fields.items():
        wire = info.alias or name
        parts.append(f'"{wire}":{COUNTED.get(wire, _SCALAR)}')
        left.discard(wire)
        if not left:
            return re.compile(r"\{" + ",".join(parts) + "[,}]")
    raise ValueError(f"{model.__name__} lacks the counted fields {sorted(left)}")


HEAD = head_pattern(DiagnosticEvent)
"""The head of a stored event: what the aggregates count, read without parsing the line."""
# A head match → its HourKey, its ts (callables, so that a batch maps them in C).
HEAD_KEY = methodcaller("group", "server", "code", "severity", "touchpoint", "hour")
HEAD_TS = methodcaller("group", "ts")


def loads(text: str) -> Any:
    """`json.loads`, through pydantic-core's parser (faster, same values); errors are json's own."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def dumps(doc: Mapping[str, Any]) -> str:
    """One compact JSON line, non-ASCII characters as they are."""
    try:
        return orjson.dumps(doc).decode()  # the same compact UTF-8 line, ten times as fast
    except (TypeError, orjson.JSONEncodeError):  # a big integer, a lone surrogate
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
