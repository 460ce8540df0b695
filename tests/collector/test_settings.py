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


@pytest.mark.parametrize("odd", ["\udcff", "é", "\x7f", "\t", "\u2028"])
def test_an_ingest_key_no_http_header_can_carry_is_refused_with_the_settings(
    monkeypatch: pytest.MonkeyPatch, odd: str
) -> None:
    """Bytes that are not UTF-8 in the environment reach Python as lone surrogates: such a key failed every
    ingest request with a 500 (compared as UTF-8). Refused before anything starts, the key not shown."""
    from pydantic import ValidationError

    key = f"key-{odd}-one"
    monkeypatch.setenv("MCPDIAG_INGEST_KEYS", f"good-key,{key}")
    with pytest.raises(ValidationError, match="printable ASCII") as refused:
        CollectorSettings(_env_file=None)
    assert key not in str(refused.value)
    assert CollectorSettings(_env_file=None, ingest_keys="good-key, key with-space~").ingest_keys == {
        "good-key",
        "key with-space~",
    }
