"""settings.json: the effective settings, with secret fields dropped and URL credentials stripped."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcpdiag.emitters.redact import is_secret_key

# Settings that hold secrets whatever their name says; dropped from settings.json outright.
DROPPED_SETTINGS = frozenset({"ingest_keys", "known_secrets", "jwt_secret"})
_URL_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")


def strip_url_credentials(value: str) -> str:
    """`mongodb://user:pass@host/db` → `mongodb://host/db`; other strings unchanged."""
    if not _URL_CREDENTIALS.match(value):
        return value
    parts = urlsplit(value)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return sanitize_settings(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, str):
        return strip_url_credentials(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def sanitize_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The effective settings for settings.json: secret fields dropped, URL credentials stripped."""
    return {
        str(key): _json_safe(value)
        for key, value in sorted(settings.items(), key=lambda kv: str(kv[0]))
        if not (str(key) in DROPPED_SETTINGS or is_secret_key(str(key)) or hasattr(value, "get_secret_value"))
    }
