"""mcpdiag.emitters: the SDK a host embeds, and the wire contract shared by every other component.

The names below are imported on first use (`mcpdiag.emitters.lazy`): a process that needs one piece (the
redactor, the catalog) does not load the rest.
"""

from __future__ import annotations

import typing

from mcpdiag.emitters.lazy import lazy_exports

if typing.TYPE_CHECKING:
    from mcpdiag.emitters.classifier import (
        Classification,
        HttpObservation,
        classification_for,
        classify,
        exception_chain,
    )
    from mcpdiag.emitters.codes import (
        CATALOG,
        SEVERITY_RANK,
        Action,
        CodeInfo,
        Severity,
        Touchpoint,
        Transport,
        code_info,
    )
    from mcpdiag.emitters.emitter import Emitter, EmitterStats
    from mcpdiag.emitters.errors import MCPDiagnosticError, error_data
    from mcpdiag.emitters.event import DiagnosticEvent, Source, format_ts
    from mcpdiag.emitters.ids import new_event_id, new_trace_id
    from mcpdiag.emitters.redact import RULE_NAMES, Redactor, find_leaks, redact_event, redact_text
    from mcpdiag.emitters.sinks import (
        CallableSink,
        HttpSink,
        MemorySink,
        OtlpLogSink,
        Outcome,
        Sink,
        SinkResult,
    )

__all__ = [
    "CATALOG",
    "RULE_NAMES",
    "SEVERITY_RANK",
    "Action",
    "CallableSink",
    "Classification",
    "CodeInfo",
    "DiagnosticEvent",
    "Emitter",
    "EmitterStats",
    "HttpObservation",
    "HttpSink",
    "MCPDiagnosticError",
    "MemorySink",
    "OtlpLogSink",
    "Outcome",
    "Redactor",
    "Severity",
    "Sink",
    "SinkResult",
    "Source",
    "Touchpoint",
    "Transport",
    "classification_for",
    "classify",
    "code_info",
    "error_data",
    "exception_chain",
    "find_leaks",
    "format_ts",
    "new_event_id",
    "new_trace_id",
    "redact_event",
    "redact_text",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "mcpdiag.emitters.classifier": (
            "Classification",
            "HttpObservation",
            "classification_for",
            "classify",
            "exception_chain",
        ),
        "mcpdiag.emitters.codes": (
            "CATALOG",
            "SEVERITY_RANK",
            "Action",
            "CodeInfo",
            "Severity",
            "Touchpoint",
            "Transport",
            "code_info",
        ),
        "mcpdiag.emitters.emitter": (
            "Emitter",
            "EmitterStats",
        ),
        "mcpdiag.emitters.errors": (
            "MCPDiagnosticError",
            "error_data",
        ),
        "mcpdiag.emitters.event": (
            "DiagnosticEvent",
            "Source",
            "format_ts",
        ),
        "mcpdiag.emitters.ids": (
            "new_event_id",
            "new_trace_id",
        ),
        "mcpdiag.emitters.redact": (
            "RULE_NAMES",
            "Redactor",
            "find_leaks",
            "redact_event",
            "redact_text",
        ),
        "mcpdiag.emitters.sinks": (
            "CallableSink",
            "HttpSink",
            "MemorySink",
            "OtlpLogSink",
            "Outcome",
            "Sink",
            "SinkResult",
        ),
    },
)
