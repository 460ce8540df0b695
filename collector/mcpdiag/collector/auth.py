"""Ingest authentication: an API key from `MCPDIAG_INGEST_KEYS`, separate from user tokens."""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping

from mcpdiag.collector.errors import UnauthorizedError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mcpdiag-ingest"'}
_METRICS_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mcpdiag-metrics"'}


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries in `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def check_ingest_key(headers: Mapping[str, str], keys: Collection[str]) -> None:
    """Raise `UnauthorizedError` unless the request carries one of `keys` (compared in constant time)."""
    if not keys:
        raise UnauthorizedError(
            "ingest is closed: no ingest keys are configured (set MCPDIAG_INGEST_KEYS)", headers=_CHALLENGE
        )
    key = presented_key(headers)
    if key is None:
        raise UnauthorizedError(
            "missing ingest key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", headers=_CHALLENGE
        )
    candidate = key.encode()
    matched = False
    for known in keys:  # no early exit: the time taken does not depend on which key matched
        matched |= hmac.compare_digest(candidate, known.encode())
    if not matched:
        raise UnauthorizedError("unknown ingest key", headers=_CHALLENGE)


def check_metrics_token(headers: Mapping[str, str], token: str | None) -> None:
    """Raise `UnauthorizedError` unless `/metrics` is open (`token` None) or the request carries `token` as an
    ingest key is carried (`presented_key`), compared in constant time: the metrics name every server and
    code, which a caller of the API only learns of the servers they may see."""
    if token is None:
        return
    presented = presented_key(headers)
    if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
        raise UnauthorizedError(
            "/metrics needs 'Authorization: Bearer <MCPDIAG_METRICS_TOKEN>'", headers=_METRICS_CHALLENGE
        )
