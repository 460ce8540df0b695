"""MANIFEST.json: what the bundle holds, how complete its window is, and how to check its files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mcpdiag.bundle.aggregate import BundleStats
from mcpdiag.bundle.readme import SECURITY_NOTICE
from mcpdiag.bundle.scope import BundleScope
from mcpdiag.emitters import format_ts
from mcpdiag.store.base import EventQuery, EventStore

BUNDLE_VERSION = 1


def scope_text(scope: BundleScope, since: datetime, until: datetime) -> str:
    """The scope in one line of plain words, for README.md and analysis.md."""
    servers = ", ".join(f"'{s}'" for s in scope.servers) if scope.servers else "all servers"
    parts = [servers, f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"]
    if scope.debug_id:
        parts.append(f"Debug ID {scope.debug_id} and the 10 minutes around it")
    if scope.user_id:
        parts.append(f"user '{scope.user_id}' (and server-wide events)")
    if scope.min_severity:
        parts.append(f"severity {scope.min_severity.value} and above")
    return ", ".join(parts)


async def coverage(
    store: EventStore, servers: Sequence[str], since: datetime, until: datetime, now: datetime
) -> dict[str, Any]:
    """The requested window next to what retention still holds: the TTL may have deleted its start."""
    earliest: str | None = None
    for server in servers:
        page = await store.page(EventQuery(server=server, limit=1, oldest_first=True))
        if page.items:
            ts = str(page.items[0]["ts"])
            earliest = ts if earliest is None or ts < earliest else earliest
    retention = store.retention
    kept_other, kept_error = now - retention.default, now - retention.error
    complete = since >= kept_other
    note = (
        "Retention still holds every event of the requested window."
        if complete
        else f"The window starts before {format_ts(kept_other)}: retention may already have deleted events "
        f"older than that (warning and below), or older than {format_ts(kept_error)} (error and critical)."
    )
    return {
        "requested_from": format_ts(since),
        "requested_to": format_ts(until),
        "earliest_retained": earliest,
        "retention_days": {
            "error_and_critical": retention.error.total_seconds() / 86400,
            "other": retention.default.total_seconds() / 86400,
        },
        "complete": complete,
        "note": note,
    }


def manifest(
    *,
    scope: dict[str, Any],
    generated_at: datetime,
    hostname: str,
    app_version: str,
    stats: BundleStats,
    files: list[dict[str, Any]],
    coverage: dict[str, Any],
    redactions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The MANIFEST.json document; `files` lists every other member with its size and SHA-256."""
    stats.settle()
    by_rule: dict[str, int] = {}
    for entry in redactions:
        for item in entry["rules"]:
            by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + item["count"]
    return {
        "bundle_version": BUNDLE_VERSION,
        "generated_at": format_ts(generated_at),
        "hostname": hostname,
        "app_version": app_version,
        "scope": scope,
        "counts": {
            "events": stats.total,
            "occurrences": stats.occurrences,
            "servers": len(stats.by_server),
            "failures": stats.failure_count,
            "tool_errors": stats.tool_errors,
            # Server names are values: as keys, a server called `auth` would read as a secret field.
            "by_server": [
                {"server": name, "events": stats.events_by_server[name], "occurrences": n}
                for name, n in sorted(stats.by_server.items())
            ],
        },
        "empty": stats.total == 0,
        "files": files,
        "coverage": coverage,
        "redactions": {
            "total": sum(by_rule.values()),
            "by_rule": [{"rule": r, "count": n} for r, n in sorted(by_rule.items())],
        },
        "warning": "Review this bundle before sharing it. " + SECURITY_NOTICE,
    }
