"""Collector settings: comma-separated key lists from the environment, and what counts as a secret."""

from __future__ import annotations

import pytest

from mcpdiag.collector import CollectorSettings


def test_ingest_keys_and_known_secrets_are_comma_separated_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCPDIAG_INGEST_KEYS", " key-one ,key-two,, ")
    monkeypatch.setenv("MCPDIAG_KNOWN_SECRETS", "s3cret-value")
    monkeypatch.setenv("MCPDIAG_SPOOL_MAX_MB", "2")
    settings = CollectorSettings(_env_file=None)
    assert settings.ingest_keys == {"key-one", "key-two"}
    assert settings.redacted_secrets == {"key-one", "key-two", "s3cret-value"}
    assert settings.spool_max_bytes == 2 * 1024 * 1024
    assert "key-one" not in repr(settings)


def test_defaults_close_ingest_and_bound_the_pipeline() -> None:
    settings = CollectorSettings(_env_file=None)
    assert settings.ingest_keys == frozenset()
    assert (settings.batch_size, settings.batch_interval_ms, settings.queue_max_events) == (5000, 200, 50_000)
    assert settings.spool_max_mb == 256 and settings.purge_interval_s == 300


@pytest.mark.parametrize(
    "url", ["postgres://db.invalid/x", "sqlite://relative.db", "sqlite:///", "", "data.db"]
)
def test_a_store_url_no_backend_takes_is_refused_with_the_settings(url: str) -> None:
    """Before anything starts (the service started and failed in its lifespan, with a traceback)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"sqlite:///path/to/file\.db"):
        CollectorSettings(_env_file=None, store_url=url)
