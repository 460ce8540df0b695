"""mcpdiag.store.transfer: export and import of events between stores, as gzipped NDJSON, with bounded
memory. Web-free: the CLI (`mcpdiag export`, `import`, `migrate`), the API and the benchmarks use it."""

from __future__ import annotations

from mcpdiag.store.transfer.checks import LineChecker, Redact, ServerTally, default_redact
from mcpdiag.store.transfer.exporter import (
    ExportPlan,
    ExportResult,
    export_gzip,
    export_lines,
    plan_export,
    write_export,
)
from mcpdiag.store.transfer.importer import (
    FileSource,
    ImportReport,
    LineSource,
    StoreSource,
    import_events,
    import_file,
    migrate,
)
from mcpdiag.store.transfer.progress import ProgressCallback, TransferProgress
from mcpdiag.store.transfer.reader import ExportReader
from mcpdiag.store.transfer.wire import (
    CONTENT_TYPE,
    FORMAT,
    MAX_LINE_BYTES,
    VERSION,
    ExportHeader,
    ExportSelection,
)

__all__ = [
    "CONTENT_TYPE",
    "FORMAT",
    "MAX_LINE_BYTES",
    "VERSION",
    "ExportHeader",
    "ExportPlan",
    "ExportReader",
    "ExportResult",
    "ExportSelection",
    "FileSource",
    "ImportReport",
    "LineChecker",
    "LineSource",
    "ProgressCallback",
    "Redact",
    "ServerTally",
    "StoreSource",
    "TransferProgress",
    "default_redact",
    "export_gzip",
    "export_lines",
    "import_events",
    "import_file",
    "migrate",
    "plan_export",
    "write_export",
]
