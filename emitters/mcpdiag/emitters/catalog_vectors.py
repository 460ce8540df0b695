"""Redaction vectors: the case templates of `emitters/catalog.json` filled with secrets generated now, with
what the Python redactor makes of them as the expected output.

A text vector holds `input`, `knownSecrets`, `expected` (`redact_text`), `counts` (how often each rule fired,
in the order `find_leaks` names them) and `twice` (the expected output redacted again); a value vector
(`"value": true`) holds a JSON value and what `Redactor.value` makes of it. `secrets` lists the values
generated for the vector: none may survive in `expected`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from mcpdiag.emitters.catalog_cases import ALL, ENCODINGS, REDACTION_CASES, SECRET_KINDS, TOKEN_KINDS
from mcpdiag.emitters.catalog_walk_cases import VALUE_CASES
from mcpdiag.emitters.redact import Redactor

CASES: tuple[dict[str, Any], ...] = (*REDACTION_CASES, *VALUE_CASES)
"""Every template: the text cases, then the walk's."""
_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)(?:#([a-z0-9]+))?\}\}")
_TOKEN = re.compile(r"\{\{token(?=[#}])")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(key): _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value


def _token_as(kind: str) -> Callable[[str], str]:
    return lambda text: _TOKEN.sub("{{" + kind, text)


def encodings_of(case: dict[str, Any]) -> list[str]:
    """The encodings a case is sent through (`raw` alone when it names none)."""
    names = case.get("encodings", ["raw"])
    return list(ENCODINGS) if names == ALL else list(names)


def expansions(case: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(vector name, the case with `{{token}}` made one token kind, encoding) for every vector of a case."""
    template = case.get("text", case.get("value"))
    kinds: list[str | None] = [None]
    if any(_TOKEN.search(s) for s in _strings(template)):
        kinds = list(TOKEN_KINDS)
    out = []
    for kind in kinds:
        concrete = case if kind is None else _map_strings(case, _token_as(kind))
        for encoding in encodings_of(case) if "text" in case else ["raw"]:
            name = " | ".join(part for part in (case["name"], kind, encoding) if part and part != "raw")
            out.append((name, concrete, encoding))
    return out


def fill(name: str, case: dict[str, Any], encoding: str = "raw") -> dict[str, Any]:
    """One vector of `case`: its template filled with fresh secrets, sent through `encoding`, redacted."""
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

    def filled(text: str) -> str:
        return _PLACEHOLDER.sub(secret, text)

    known = [filled(s) for s in case.get("knownSecrets", ())]
    redactor = Redactor(known)
    vector: dict[str, Any] = {"name": name, "class": case["class"]}
    counts: dict[str, int] = {}
    if "value" in case:
        value = _map_strings(case["value"], filled)
        vector |= {"value": True, "input": value, "knownSecrets": known}
        vector["expected"] = redactor.value(value, counts)
    else:
        text = ENCODINGS[encoding](filled(case["text"]))
        vector |= {"encoding": encoding, "input": text, "knownSecrets": known}
        vector["expected"] = redactor.text(text, counts)
        vector["twice"] = redactor.text(vector["expected"])
    survives = case.get("survivesIn", [])
    if survives == ALL or encoding in survives:
        # The Python redactor lets this secret through (see `catalog_cases`): the vector still holds.
        vector["survives"] = True
    return vector | {"counts": counts, "secrets": made}


def redaction_vectors(rounds: int = 3) -> list[dict[str, Any]]:
    """Every case filled with fresh secrets, with what the Python redactor makes of it: a case that expands
    (over token kinds or encodings) once per expansion, any other `rounds` times."""
    out = []
    for case in CASES:
        found = expansions(case)
        for _ in range(rounds if len(found) == 1 else 1):
            out += [fill(name, concrete, encoding) for name, concrete, encoding in found]
    return out


def survivors(vector: dict[str, Any]) -> list[str]:
    """The generated secrets of `vector` still present in its expected output (empty: none survived)."""
    expected = vector["expected"]
    out = expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)
    return [secret for secret in vector["secrets"] if secret in out]
