"""Bearer JWT verification (HS256 secret or RS256/ES256 keys from a JWKS) and the `Principal` it yields."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from mcpdiag.api.errors import AuthenticationError, IdentityProviderUnavailableError
from mcpdiag.api.principal import ALL_SERVERS, Principal, Role
from mcpdiag.api.settings import ApiSettings
from mcpdiag.emitters.redact import quoted

HMAC_ALGORITHMS = frozenset({"HS256"})
JWKS_ALGORITHMS = frozenset({"RS256", "ES256"})
MAX_TOKEN_CHARS = 16_384
DEV_KEY_ID = "mcpdiag-dev"
"""The `kid` of development tokens: a verifier outside development mode refuses them by name."""


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; `AuthenticationError` otherwise."""
    if not authorization:
        raise AuthenticationError("missing bearer token: send 'Authorization: Bearer <JWT>'")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("missing bearer token: the Authorization scheme must be Bearer")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("token is too long")
    return token


def _pinned_algorithm(key: jwt.PyJWK) -> str | None:
    # Each JWKS key verifies exactly one algorithm, fixed by its own type: never an HMAC, never the
    # algorithm the token's header asks for unless the key agrees (defeats algorithm confusion).
    public = key.key
    if isinstance(public, RSAPublicKey):
        pinned = "RS256"
    elif isinstance(public, EllipticCurvePublicKey) and isinstance(public.curve, SECP256R1):
        pinned = "ES256"
    else:
        return None
    return pinned if key.algorithm_name == pinned else None


class DevSigner:
    """Signs development (demo) tokens with a key born with this process, never the configured secret: no
    other instance, even one sharing `MCPDIAG_JWT_SECRET`, can verify them."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """An HS256 token of `claims`, marked with the development key id."""
        return jwt.encode(dict(claims), self.key, algorithm="HS256", headers={"kid": DEV_KEY_ID})


class TokenVerifier:
    """Checks a bearer JWT's signature, algorithm, expiry, issuer and audience; builds the `Principal`.

    With a `dev_signer` (development mode only) it also accepts that signer's tokens; without one, a token
    carrying the development key id is refused before any key is tried."""

    def __init__(self, settings: ApiSettings, *, dev_signer: DevSigner | None = None) -> None:
        self.settings = settings
        self._dev = dev_signer
        # Several secrets verify at once (a rotation); the first is the one tokens are signed with now.
        self._secrets = settings.hs256_secrets
        self._jwks = (
            jwt.PyJWKClient(
                settings.jwks_url,
                cache_jwk_set=True,
                lifespan=settings.jwks_cache_s,
                cooldown_duration=settings.jwks_refresh_cooldown_s,
                timeout=5,
            )
            if settings.jwks_url
            else None
        )

    @property
    def configured(self) -> bool:
        """Whether any way to verify tokens is configured (else every request is refused)."""
        return bool(self._secrets) or self._jwks is not None or self._dev is not None

    async def principal(self, authorization: str | None) -> Principal:
        """The verified caller of a request's `Authorization` header."""
        return self.principal_from_claims(await self.claims(bearer_token(authorization)))

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`; `AuthenticationError` for any token not to be trusted."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError("token is malformed") from exc
        alg = header.get("alg")
        keys: tuple[Any, ...]
        if header.get("kid") == DEV_KEY_ID:
            if self._dev is None:
                raise AuthenticationError(
                    "development tokens are not accepted: this instance is not in dev mode"
                )
            if alg not in HMAC_ALGORITHMS:
                raise AuthenticationError(f"token algorithm {quoted(alg)} is not accepted")
            keys = (self._dev.key,)
        elif alg in HMAC_ALGORITHMS and self._secrets:
            keys = self._secrets
        elif alg in JWKS_ALGORITHMS and self._jwks is not None:
            keys = (await self._jwk(header.get("kid"), alg),)
        else:
            raise AuthenticationError(f"token algorithm {quoted(alg)} is not accepted")
        # The signature is checked before any claim: only a bad signature moves on to the next secret, so
        # a token an accepted secret signed is still refused for its claims (expired, wrong audience, ...).
        for key in keys[:-1]:
            try:
                return self._decode(token, key, alg)
            except jwt.InvalidSignatureError:
                continue
        try:
            return self._decode(token, keys[-1], alg)
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError("token signature does not verify") from exc

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        """The claims of `token` under `key`; a bad signature leaves as `jwt.InvalidSignatureError`, every
        other refusal as `AuthenticationError`."""
        s = self.settings
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_s,
                options={"require": ["exp", "sub"], "verify_aud": s.jwt_audience is not None},
            )
        except jwt.InvalidSignatureError:
            raise
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError("token is not meant for this audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError("token comes from an unexpected issuer") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"token is invalid: {exc}") from exc

    async def _jwk(self, kid: Any, alg: str) -> Any:
        assert self._jwks is not None
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise AuthenticationError("token header has no usable kid")
        client = self._jwks
        try:
            # PyJWKClient fetches with blocking urllib (and refetches on unknown kids): keep it off the loop.
            key = await asyncio.to_thread(client.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailableError("the JWKS endpoint cannot be reached") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("token is signed with an unknown key") from exc
        if _pinned_algorithm(key) != alg:
            raise AuthenticationError(f"token algorithm {quoted(alg)} does not match its key")
        return key.key

    def principal_from_claims(self, claims: Mapping[str, Any]) -> Principal:
        """The `Principal` of verified claims: `sub`, roles, groups and servers from the configured claims."""
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > 256:
            raise AuthenticationError("token has no usable sub")
        s = self.settings
        roles = _strings(claim(claims, s.roles_claim))
        role = Role.ADMIN if "admin" in roles else Role.SUPPORT if "support" in roles else Role.USER
        servers = _strings(claim(claims, s.servers_claim))
        return Principal(
            user_id=sub,
            role=role,
            groups=_strings(claim(claims, s.groups_claim)),
            servers=frozenset({ALL_SERVERS}) if ALL_SERVERS in servers else servers,
        )


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a claim name, or a dotted path into nested claims (`realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> frozenset[str]:
    # A claim may be a list of names, or one string of space- or comma-separated names.
    if isinstance(value, str):
        return frozenset(part for part in value.replace(",", " ").split() if part)
    if isinstance(value, list | tuple):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()
