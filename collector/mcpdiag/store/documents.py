"""Stored documents as the bulk methods see them: an event with the times the store keeps beside it.

`EventStore.import_documents` takes `StoredDocument`s (an import keeps the `receivedAt`/`expireAt` an
export carried, where `append` sets them from its clock and retention); `ImportCounts` says what it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from mcpdiag.emitters import SEVERITY_RANK, DiagnosticEvent

Conflict = Literal["skip", "update"]
"""What an import does with an id already stored: keep the stored event, or replace it with the file's."""
CONFLICTS: tuple[Conflict, ...] = ("skip", "update")


class StoredDocument(NamedTuple):
    """One event as a store keeps it; the field order is the SQLite `events` row's."""

    id: str
    ts_ms: int
    server: str
    user_key: str
    """The user id, or '' for a server-wide event."""
    severity: int
    """The severity's rank (`Severity.rank`)."""
    code: str
    touchpoint: str
    trace_id: str
    received_ms: int
    expire_ms: int
    doc: str
    """The event's wire JSON (camelCase, compact), exactly as `DiagnosticEvent` serializes it."""
    n: int = 1
    """Occurrences the event stands for (its `count`)."""
    # Not columns of the row (`ROW_FIELDS` are): what the hourly rollups also need to count the event.
    tool: str = ""
    first_ms: int = 0
    last_ms: int = 0

    @property
    def row(self) -> tuple[object, ...]:
        """The SQLite `events` row."""
        return self[:ROW_FIELDS]


ROW_FIELDS = 12


def stored_document(event: DiagnosticEvent, *, received_ms: int, expire_ms: int) -> StoredDocument:
    """The stored document of a validated event with the given receive and expiry times."""
    # The serializer `model_dump_json` wraps, called directly: this runs once per imported event.
    doc = DiagnosticEvent.__pydantic_serializer__.to_json(event, by_alias=True).decode()
    return StoredDocument(
        event.id,
        int(event.ts.timestamp() * 1000),  # as `base.to_ms` (which imports this module's types)
        event.server,
        event.user_id or "",
        SEVERITY_RANK[event.severity],
        event.code,
        event.touchpoint.value,
        event.trace_id,
        received_ms,
        expire_ms,
        doc,
        event.count,
        event.tool or "",
        int(event.first_ts.timestamp() * 1000) if event.first_ts else 0,
        int(event.last_ts.timestamp() * 1000) if event.last_ts else 0,
    )


@dataclass(slots=True)
class ImportCounts:
    """What one `import_documents` call did (or, in a dry run, would do) with its documents."""

    inserted: int = 0
    """Ids the store did not hold, now stored."""
    updated: int = 0
    """Ids already stored, replaced by the imported document (`conflict="update"`)."""
    present: int = 0
    """Ids already stored and left as they were (`conflict="skip"`)."""

    def add(self, other: ImportCounts) -> None:
        """Add `other`'s counts to these."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.present += other.present
