"""The collector's settings: one pydantic-settings class, `MCPDIAG_` prefix, built once."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mcpdiag.store.backends import check_store_url
from mcpdiag.store.base import Retention
from mcpdiag.store.cursor import cursor_key_from_secret


def _split_commas(value: Any) -> Any:
    # pydantic-settings would parse a set from the environment as JSON; these are plain comma lists.
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    return value


MIN_METRICS_TOKEN = 16


class CollectorSettings(BaseSettings):
    """Where events are stored and for how long, who may send them, and how ingest is bounded."""

    # `hide_input_in_errors` (every settings class): a refused value may be a secret, which the error, printed
    # by `mcpdiag serve`, showed; the message says what is wrong instead.
    model_config = SettingsConfigDict(
        allow_inf_nan=False, env_prefix="MCPDIAG_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    store_url: str = Field(
        default="sqlite:///./data/mcpdiag.db",
        description="sqlite:///path/to/file.db (embedded default) or mongodb://… / mongodb+srv://…",
    )
    # At most ten years, as MCPDIAG_REPORTED_RETENTION_DAYS: past that an expiry overflowed a date (a
    # traceback at start for 1e9, a 500 for every ingest at 3,000,000, found by an adversarial pass).
    retention_error_days: float = Field(
        default=14, gt=0, le=3650, description="Days error/critical events are kept"
    )
    retention_days: float = Field(default=7, gt=0, le=3650, description="Days other events are kept")

    ingest_keys: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        repr=False,
        description="Comma-separated API keys accepted by /v1/events and /v1/logs (none = ingest closed)",
    )
    known_secrets: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        repr=False,
        description="Comma-separated literal secrets redacted from every ingested event",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics needs 'Authorization: Bearer <it>' (it names every server and "
        "code); unset, /metrics is open to whoever reaches the port",
    )
    cursor_secret: SecretStr | None = Field(
        default=None,
        description="Signs pagination cursors (default: a random key kept in the store for the deployment)",
    )
    max_servers_per_key: int = Field(
        default=1000, ge=1, description="Distinct new server names one ingest key may introduce (per process)"
    )
    max_servers: int = Field(default=10_000, ge=1, description="Distinct server names the store may hold")
    spool_dir: Path = Field(
        default=Path("./data/spool"), description="Where batches wait while the store is down"
    )
    spool_max_mb: float = Field(default=256, gt=0, description="Spool size at which new ingest gets 503")
    queue_max_events: int = Field(default=50_000, ge=1, description="Events waiting for the batch writer")
    batch_size: int = Field(default=5000, ge=1, description="Events per store write (at most)")
    batch_interval_ms: float = Field(default=200, ge=0, description="Longest a batch lingers for more events")
    body_timeout_s: float = Field(
        default=15, gt=0, description="Seconds a client may take to send an ingest body (slower: 408)"
    )
    purge_interval_s: float = Field(
        default=300, gt=0, description="Seconds between retention purges (SQLite)"
    )
    server_budget_per_s: float = Field(
        default=10,
        ge=0,
        description="Events a second one server may have stored one by one (token bucket, per process); "
        "past it they are merged into summary events with a count (0 = no budget)",
    )
    server_budget_burst: float = Field(
        default=200, ge=1, description="Events one server may send at once before its budget applies"
    )
    key_budget_per_s: float = Field(
        default=1000,
        ge=0,
        description="Events a second one ingest key may have stored one by one (per process); past it "
        "they are merged into summary events (0 = no budget)",
    )
    key_budget_burst: float = Field(
        default=10_000, ge=1, description="Events one ingest key may send at once before its budget applies"
    )
    budget_merge_s: float = Field(
        default=1,
        gt=0,
        le=60,
        description="Seconds over-budget events are merged before their summaries are stored (their "
        "requests are answered then)",
    )

    @field_validator("store_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return check_store_url(value)

    @field_validator("ingest_keys", "known_secrets", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("ingest_keys")
    @classmethod
    def _header_safe(cls, keys: frozenset[str]) -> frozenset[str]:
        # A key travels in an HTTP header: one no header can carry never matches, and compared as bytes
        # (`auth.check_ingest_key`) one holding a lone surrogate (bytes that were not UTF-8 in the
        # environment) failed every request with a 500.
        for key in keys:
            if not all(" " <= char <= "~" for char in key):
                raise ValueError(
                    "an ingest key must be printable ASCII (what an HTTP header carries); one of "
                    f"{len(keys)} holds another character"
                )
        return keys

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `MCPDIAG_METRICS_TOKEN=` (an env file's placeholder) leaves /metrics open, as no setting does.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        value = token.get_secret_value()
        if len(value) < MIN_METRICS_TOKEN or not all(" " < char <= "~" for char in value):
            raise ValueError(
                f"MCPDIAG_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} printable ASCII characters "
                "without spaces (it travels in an HTTP header)"
            )
        return token

    @property
    def retention(self) -> Retention:
        """The retention policy these settings describe."""
        return Retention(
            error=timedelta(days=self.retention_error_days), default=timedelta(days=self.retention_days)
        )

    @property
    def redacted_secrets(self) -> frozenset[str]:
        """Literal secrets the collector redacts: the configured ones plus its own ingest keys and metrics
        token."""
        token = self.metrics_bearer
        return self.known_secrets | self.ingest_keys | ({token} if token else set())

    @property
    def metrics_bearer(self) -> str | None:
        """The bearer token `GET /metrics` needs; None: it is open."""
        return self.metrics_token.get_secret_value() if self.metrics_token else None

    @property
    def cursor_key(self) -> bytes | None:
        """The cursor signing key `cursor_secret` gives, or None for the store's own."""
        secret = self.cursor_secret.get_secret_value() if self.cursor_secret else ""
        return cursor_key_from_secret(secret) if secret else None

    @property
    def spool_max_bytes(self) -> int:
        """The spool bound in bytes."""
        return int(self.spool_max_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_collector_settings() -> CollectorSettings:
    """The process-wide collector settings (tests override them, never mutate them)."""
    return CollectorSettings()
