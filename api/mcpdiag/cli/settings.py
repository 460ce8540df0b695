"""The command line's settings (`MCPDIAG_` prefix): the HTTP server's own bounds, and the backup key."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """How long a client may take and how many connections one `mcpdiag serve` process holds."""

    model_config = SettingsConfigDict(env_prefix="MCPDIAG_", env_file=".env", extra="ignore")

    header_timeout_s: float = Field(
        default=10,
        gt=0,
        le=300,
        description="Seconds a client may take to send a request's headers (then 408)",
    )
    max_connections: int = Field(
        default=1000,
        ge=8,
        description="Open connections per process; past it the oldest idle one is closed (all busy: 503)",
    )
    keep_alive_s: float = Field(
        default=5, gt=0, le=300, description="Seconds an idle keep-alive connection stays"
    )


class BackupSettings(BaseSettings):
    """The key that seals a configuration backup's secrets (`mcpdiag config export` / `import`)."""

    model_config = SettingsConfigDict(env_prefix="MCPDIAG_", env_file=".env", extra="ignore")

    config_secret: SecretStr | None = Field(
        default=None,
        description="Seals every secret of a configuration backup (AES-256-GCM, key from scrypt); 16+ chars",
    )


@lru_cache(maxsize=1)
def get_serve_settings() -> ServeSettings:
    """The process-wide server settings."""
    return ServeSettings()
