"""The bundle settings (`MCPDIAG_` prefix): who bundles are encrypted to, the manifest's HMAC key, and the
bounds on bundles an admin opens in a running server."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mcpdiag.bundle.crypt import Encryption
from mcpdiag.bundle.errors import InvalidKeyError
from mcpdiag.bundle.integrity import MIN_HMAC_KEY


class BundleSettings(BaseSettings):
    """Encryption and signing of exported bundles; opening uploaded ones."""

    model_config = SettingsConfigDict(
        allow_inf_nan=False, env_prefix="MCPDIAG_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    bundle_recipients: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated age recipients (age1…, or SSH public keys) bundles are encrypted to: "
        "set, every bundle from the API and the CLI is `.zip.age` unless plain is asked for",
    )
    bundle_hmac_key: SecretStr | None = Field(
        default=None,
        description=f"A key (at least {MIN_HMAC_KEY} bytes) for the manifest's HMAC (MANIFEST.hmac), shared "
        "with whoever verifies the bundles",
    )
    bundle_open_max: int = Field(
        default=2, ge=1, le=20, description="Bundles an admin may have open in a running server at once"
    )
    bundle_open_max_mb: float = Field(
        default=512, gt=0, description="Largest bundle file an admin may upload to open"
    )
    bundle_open_ttl_s: float = Field(
        default=4 * 3600, gt=0, description="Seconds an opened bundle's view lasts before it is closed"
    )

    @field_validator("bundle_recipients", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if self.bundle_recipients:
            try:
                Encryption.to_recipients(self.bundle_recipients, "MCPDIAG_BUNDLE_RECIPIENTS")
            except InvalidKeyError as exc:
                raise ValueError(exc.message) from None
        key = self.bundle_hmac_key
        if key is not None and len(key.get_secret_value().encode()) < MIN_HMAC_KEY:
            raise ValueError(f"MCPDIAG_BUNDLE_HMAC_KEY must be at least {MIN_HMAC_KEY} bytes")
        return self

    @property
    def bundle_open_max_bytes(self) -> int:
        """`bundle_open_max_mb` in bytes: the bound of a bundle's upload."""
        return int(self.bundle_open_max_mb * 1024 * 1024)

    @property
    def encryption(self) -> Encryption | None:
        """Encryption to the configured recipients, or None."""
        return Encryption(recipients=self.bundle_recipients) if self.bundle_recipients else None

    @property
    def hmac_key(self) -> bytes | None:
        """The HMAC key as bytes, or None."""
        return self.bundle_hmac_key.get_secret_value().encode() if self.bundle_hmac_key else None


@lru_cache(maxsize=1)
def get_bundle_settings() -> BundleSettings:
    """The process-wide bundle settings."""
    return BundleSettings()
