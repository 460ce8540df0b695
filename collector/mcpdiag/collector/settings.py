"""The collector's settings: one pydantic-settings class, `MCPDIAG_` prefix, built once."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcpdiag.collector.store import Retention


class CollectorSettings(BaseSettings):
    """Where events are stored and for how long."""

    model_config = SettingsConfigDict(env_prefix="MCPDIAG_", env_file=".env", extra="ignore")

    store_url: str = Field(
        default="sqlite:///./data/mcpdiag.db",
        description="sqlite:///path/to/file.db (embedded default) or mongodb://… / mongodb+srv://…",
    )
    retention_error_days: float = Field(default=14, gt=0, description="Days error/critical events are kept")
    retention_days: float = Field(default=7, gt=0, description="Days other events are kept")

    @property
    def retention(self) -> Retention:
        """The retention policy these settings describe."""
        return Retention(
            error=timedelta(days=self.retention_error_days), default=timedelta(days=self.retention_days)
        )


@lru_cache(maxsize=1)
def get_collector_settings() -> CollectorSettings:
    """The process-wide collector settings (tests override them, never mutate them)."""
    return CollectorSettings()
