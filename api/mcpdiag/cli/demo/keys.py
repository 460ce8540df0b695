"""The demo's ingest keys: the one given, the configured ones, or one generated for the run."""

from __future__ import annotations

import secrets

from mcpdiag.cli.errors import BadArgument
from mcpdiag.collector.settings import CollectorSettings

MIN_INGEST_KEY = 16
"""Ingest keys are redacted wherever they appear in events: a short one would redact ordinary words."""


def demo_ingest_keys(option: str | None) -> tuple[tuple[str, ...], str]:
    """The demo's ingest keys and where they come from: `--ingest-key`, else MCPDIAG_INGEST_KEYS, else
    one generated for this run. `BadArgument` for a key too short to be redacted safely."""
    keys: tuple[str, ...]
    if option is not None:
        keys, source = (option.strip(),), "from --ingest-key"
    else:
        configured = sorted(CollectorSettings().ingest_keys)
        keys, source = (tuple(configured), "from MCPDIAG_INGEST_KEYS") if configured else ((), "")
    if not keys:
        return (secrets.token_urlsafe(24),), "generated for this run"
    for key in keys:
        if len(key) < MIN_INGEST_KEY or any(c.isspace() or c == "," for c in key):
            where = source.removeprefix("from ")
            raise BadArgument(
                f"{where}: an ingest key needs at least {MIN_INGEST_KEY} characters without spaces or commas "
                "(it is redacted wherever it appears in events)"
            )
    return keys, source
