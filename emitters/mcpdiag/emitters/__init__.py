"""mcpdiag.emitters: the SDK a host embeds, and the wire contract shared by every other component."""

from __future__ import annotations

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
from mcpdiag.emitters.endpoint import command_endpoint, url_endpoint
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
    "command_endpoint",
    "error_data",
    "exception_chain",
    "find_leaks",
    "format_ts",
    "new_event_id",
    "new_trace_id",
    "redact_event",
    "redact_text",
    "url_endpoint",
]
