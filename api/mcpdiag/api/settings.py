"""The API's settings: one pydantic-settings class, `MCPDIAG_` prefix, built once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mcpdiag.api.allowlist import Network, allow_entries

MIN_SECRET_BYTES = 32


class ApiSettings(BaseSettings):
    """How callers are authenticated (JWT), which claims carry their roles and servers, and the ACL file."""

    model_config = SettingsConfigDict(
        allow_inf_nan=False, env_prefix="MCPDIAG_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 shared secret (at least 32 bytes); tokens signed with it are accepted",
    )
    jwt_accepted_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated further HS256 secrets (each at least 32 bytes) whose tokens are also "
        "accepted: rotating MCPDIAG_JWT_SECRET without a gap",
    )
    jwks_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+",  # anything else failed at start with the JWKS client's traceback
        description="JWKS endpoint whose RS256/ES256 keys verify tokens (cached, refetched on unknown kid)",
    )
    jwks_cache_s: float = Field(default=300, gt=0, description="Seconds a fetched JWKS is reused")
    jwks_refresh_cooldown_s: float = Field(
        default=10, ge=0, description="Shortest gap between refetches triggered by an unknown kid"
    )
    jwt_issuer: str | None = Field(default=None, description="Required `iss`, when set")
    jwt_audience: str | None = Field(default=None, description="Required `aud`, when set")
    jwt_leeway_s: float = Field(default=30, ge=0, le=300, description="Clock skew tolerated on exp/nbf/iat")
    roles_claim: str = Field(default="roles", description="Claim listing roles: `admin`, `support`")
    groups_claim: str = Field(default="groups", description="Claim listing the caller's groups")
    servers_claim: str = Field(default="mcp_servers", description='Claim listing servers, or "*" for all')
    acl_file: Path | None = Field(
        default=None, description="YAML or JSON ACL: servers → users, groups, public"
    )
    dev_mode: bool = Field(
        default=False,
        description="Development mode: demo users and a token endpoint for the UI (never in production)",
    )
    related_window_s: float = Field(
        default=600, gt=0, description="Debug ID lookups show the user's events this many seconds around"
    )
    reported_retention_days: float = Field(
        default=90,
        gt=0,
        le=3650,
        description="Days a Debug ID support looked up or its user reported is kept (with its trace's events "
        "and their hourly counts), past normal retention; an expiry is only ever raised",
    )
    doctor_allow: str = Field(
        default="",
        description="Comma-separated CIDRs (10.20.0.0/16, fd00::/8), addresses and host names (or "
        "*.corp.example) the doctor may reach although they are not public: internal MCP servers. Every "
        "other loopback, private, link-local or metadata address stays refused",
    )
    doctor_allow_private: bool = Field(
        default=False,
        description="Let the MCP doctor reach loopback, private and link-local addresses (not in production)",
    )
    doctor_allowed_domains: str = Field(
        default="",
        description="Comma-separated hosts (or *.example.com) the doctor may reach even at private addresses "
        "(still read; MCPDIAG_DOCTOR_ALLOW takes host names too)",
    )
    doctor_rate_per_minute: int = Field(default=10, ge=1, description="Doctor runs per user per minute")
    doctor_timeout_s: float = Field(default=20, gt=0, le=120, description="Bound on one doctor run")
    streams_per_user: int = Field(default=4, ge=1, description="Live diagnostics streams one user may hold")
    max_streams: int = Field(default=500, ge=1, description="Live diagnostics streams one process serves")
    stream_heartbeat_s: float = Field(
        default=15, gt=0, le=300, description="Seconds between keep-alive comments on an idle live stream"
    )
    stream_poll_s: float = Field(
        default=1.0, gt=0, le=30, description="Seconds between a live stream's reads when nothing woke it"
    )
    import_max_mb: float = Field(
        default=512, gt=0, description="Largest export file an admin may upload to POST /api/admin/import"
    )
    otlp_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="OTLP/HTTP base URL (e.g. http://otel-collector:4318) receiving the service's own "
        "traces and logs at /v1/traces and /v1/logs; unset = not exported",
    )

    @property
    def import_max_bytes(self) -> int:
        """`import_max_mb` in bytes: the bound of an import's upload."""
        return int(self.import_max_mb * 1024 * 1024)

    @property
    def doctor_allowed_hosts(self) -> frozenset[str]:
        """The host patterns of `doctor_allow` and of the older `doctor_allowed_domains`, lower-case."""
        older = {d.strip().lower() for d in self.doctor_allowed_domains.split(",") if d.strip()}
        return frozenset(older | allow_entries(self.doctor_allow)[1])

    @property
    def doctor_allowed_networks(self) -> tuple[Network, ...]:
        """The networks of `doctor_allow`: their addresses may be reached although they are not public."""
        return allow_entries(self.doctor_allow)[0]

    @field_validator("doctor_allow")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        try:
            allow_entries(value)
        except ValueError as exc:
            raise ValueError(f"MCPDIAG_DOCTOR_ALLOW: {exc}") from None
        return value

    @property
    def hs256_secrets(self) -> tuple[bytes, ...]:
        """Every HS256 secret that verifies tokens: the signing one first, then the accepted ones."""
        found = [self.jwt_secret, *self.jwt_accepted_secrets] if self.jwt_secret is not None else []
        return tuple(dict.fromkeys(s.get_secret_value().encode() for s in found))

    @field_validator("jwt_accepted_secrets", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # pydantic-settings would parse a tuple from the environment as JSON; this is a plain comma list.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _secret_long_enough(self) -> Self:
        least = MIN_SECRET_BYTES
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value().encode()) < least:
            raise ValueError(f"MCPDIAG_JWT_SECRET must be at least {least} bytes")
        if self.jwt_accepted_secrets and self.jwt_secret is None:
            raise ValueError(
                "MCPDIAG_JWT_ACCEPTED_SECRETS needs MCPDIAG_JWT_SECRET: set the secret tokens are signed "
                "with now, and list the others (next or previous) as accepted"
            )
        for position, secret in enumerate(self.jwt_accepted_secrets, 1):
            if len(secret.get_secret_value().encode()) < least:
                raise ValueError(
                    f"MCPDIAG_JWT_ACCEPTED_SECRETS: secret {position} must be at least {least} bytes"
                )
        return self


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """The process-wide API settings (tests pass their own to `create_app` or override the dependency)."""
    return ApiSettings()
