"""The command line's settings (`MCPDIAG_` prefix): the HTTP server's own bounds, and the backup key."""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """How long a client may take and how many connections one `mcpdiag serve` process holds."""

    model_config = SettingsConfigDict(
        allow_inf_nan=False, env_prefix="MCPDIAG_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

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
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain `mcpdiag serve` answers HTTPS with (with MCPDIAG_TLS_KEY_FILE); "
        "unset = plain HTTP, for a TLS-terminating proxy in front",
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of MCPDIAG_TLS_CERT_FILE (unencrypted)"
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        pair = {"MCPDIAG_TLS_CERT_FILE": self.tls_cert_file, "MCPDIAG_TLS_KEY_FILE": self.tls_key_file}
        missing = [name for name, path in pair.items() if path is None]
        if len(missing) == 1:
            raise ValueError(f"{missing[0]} is needed too: TLS takes a certificate and its key")
        for name, path in pair.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a readable file")
        if self.tls_cert_file is not None and self.tls_key_file is not None:
            # Load them now: uvicorn would only fail once it starts, with a traceback.
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                    self.tls_cert_file, self.tls_key_file
                )
            except (ssl.SSLError, OSError) as exc:
                files = f"{self.tls_cert_file}, {self.tls_key_file}"
                raise ValueError(
                    f"MCPDIAG_TLS_CERT_FILE / MCPDIAG_TLS_KEY_FILE ({files}) cannot be loaded as a "
                    f"certificate and its key: {exc.strerror or exc}"
                ) from None
        return self

    @property
    def tls(self) -> bool:
        """Whether `serve` answers HTTPS itself."""
        return self.tls_cert_file is not None


class BackupSettings(BaseSettings):
    """The key that seals a configuration backup's secrets (`mcpdiag config export` / `import`)."""

    model_config = SettingsConfigDict(
        allow_inf_nan=False, env_prefix="MCPDIAG_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    config_secret: SecretStr | None = Field(
        default=None,
        description="Seals every secret of a configuration backup (AES-256-GCM, key from scrypt); 16+ chars",
    )


@lru_cache(maxsize=1)
def get_serve_settings() -> ServeSettings:
    """The process-wide server settings."""
    return ServeSettings()
