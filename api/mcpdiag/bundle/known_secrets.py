"""The secrets an export knows by value: from settings, the environment and the caller, in every form."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from mcpdiag.bundle.settings_file import DROPPED_SETTINGS
from mcpdiag.emitters.redact import MIN_KNOWN_SECRET, is_secret_key, known_forms

MIN_ENV_SECRET = 8
# Environment variables whose names match a secret word but never hold one.
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})


def _leaves(value: Any) -> Iterable[str]:
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item)


def _settings_secrets(settings: Mapping[str, Any]) -> Iterable[str]:
    for key, value in settings.items():
        if key in DROPPED_SETTINGS or is_secret_key(key) or hasattr(value, "get_secret_value"):
            yield from _leaves(value)
        elif isinstance(value, Mapping):
            yield from _settings_secrets(value)
        else:
            for leaf in _leaves(value):
                if "://" in leaf and (password := urlsplit(leaf).password):
                    yield password


DOTENV = ".env"
"""The file every settings class reads (`env_file`), from the working directory."""


def deployment_environ() -> dict[str, str]:
    """The process environment, and the `.env` file its settings read: a secret set only there (the runbook
    loads it without exporting it, and `MCPDIAG_CONFIG_SECRET` is in no settings the service holds) is the
    deployment's as much as an exported one. The process environment wins where both name a variable."""
    path = Path(DOTENV)
    found = dotenv_values(path) if path.is_file() else {}
    return {**{k: v for k, v in found.items() if v is not None}, **os.environ}


def collect_known_secrets(
    settings: Mapping[str, Any], environ: Mapping[str, str], extra: Iterable[str] = ()
) -> frozenset[str]:
    """Secret values from settings (by field name, URL passwords), the environment (by name) and `extra`."""
    found = {s.strip() for s in _settings_secrets(settings)}
    found |= {
        value.strip()
        for name, value in environ.items()
        if name not in _NOT_SECRET_ENV and len(value.strip()) >= MIN_ENV_SECRET and is_secret_key(name)
    }
    found |= {s.strip() for s in extra if isinstance(s, str)}
    return frozenset(s for s in found if len(s) >= MIN_KNOWN_SECRET)


def secret_needles(known: Iterable[str]) -> tuple[str, ...]:
    """Every form a known secret may take in bundle bytes: the redactor's own (`known_forms`: raw,
    URL-encoded, in base64) and its JSON escapes."""
    needles: set[str] = set()
    for secret in known:
        escaped = (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1])
        needles |= {*known_forms(secret), *escaped}
    return tuple(sorted(needles, key=lambda s: (-len(s), s)))
