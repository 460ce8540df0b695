"""The audit trail: every Debug ID lookup by support/admin, every Debug ID a user reports, and every export,
stored and logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import structlog

from mcpdiag.api.principal import Principal
from mcpdiag.collector.logging import REDACTION
from mcpdiag.emitters import format_ts, new_event_id
from mcpdiag.store.base import EventStore

log = structlog.get_logger("mcpdiag.api.audit")

AuditAction = Literal[
    "debug_id_lookup", "debug_id_report", "bundle_export", "bundle_open", "events_export", "events_import"
]


def current_request_id() -> str | None:
    """The request id bound by `RequestIdMiddleware` for the request being served, if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


async def record_audit(
    store: EventStore,
    principal: Principal,
    action: AuditAction,
    *,
    target: str | None,
    scope: Mapping[str, Any],
    result_count: int | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Store and log who did `action` on `target` within `scope`; returns the record. The target and the
    scope are what a caller typed (a Debug ID, a user id): redacted as any log line is, before either is
    stored.

    Raises `StoreUnavailableError` when the record cannot be stored: callers must not hand out data
    whose access was not recorded.
    """
    now = store.clock()
    record: dict[str, Any] = {
        "id": new_event_id(int(now.timestamp() * 1000)),
        "at": format_ts(now),
        "actor": principal.user_id,
        "role": principal.role.value,
        "action": action,
        "target": None if target is None else REDACTION.text(target),
        "scope": REDACTION.redactor.value(dict(scope), {}),
        "resultCount": result_count,
        "requestId": request_id or current_request_id(),
    }
    await store.append_audit(record)
    log.info(
        "audit",
        audit_id=record["id"],
        actor=record["actor"],
        role=record["role"],
        action=action,
        target=record["target"],
        scope=record["scope"],
        result_count=result_count,
    )
    return record
