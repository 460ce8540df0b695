"""How a diagnostic event travels as an OpenTelemetry log record: attribute names and severity numbers.

The emitters' `OtlpLogSink` writes records this way and the collector's `/v1/logs` reads them back, so a
host in any language can send diagnostics through its own OpenTelemetry SDK by setting these attributes.
"""

from __future__ import annotations

from types import MappingProxyType

from mcpdiag.emitters.codes import Severity

# Log-record attribute → wire field of the event.
ATTRIBUTE_FIELDS = MappingProxyType(
    {
        "mcp.server.name": "server",
        "mcp.diag.code": "code",
        "mcp.touchpoint": "touchpoint",
        "mcp.message_safe": "messageSafe",
        "mcp.retryable": "retryable",
        "mcp.severity": "severity",
        "mcp.event.id": "id",
        "enduser.id": "userId",
        "mcp.conversation.id": "conversationId",
        "mcp.run.id": "runId",
        "mcp.tool.name": "tool",
        "mcp.transport": "transport",
        "http.response.status_code": "httpStatus",
        "mcp.duration_ms": "durationMs",
        "mcp.event.count": "count",
        "mcp.event.first_ts": "firstTs",
        "mcp.event.last_ts": "lastTs",
    }
)
# Attributes under this prefix become the event's `attrs` (prefix stripped).
ATTRS_PREFIX = "mcp.attr."
# Resource attribute → field of the event's `source`.
RESOURCE_FIELDS = MappingProxyType(
    {"service.name": "service", "host.name": "host", "service.version": "version"}
)
# Wire fields the log record carries itself, not as attributes (`attrs` and `source` are above).
LOG_RECORD_FIELDS = MappingProxyType(
    {"ts": "time_unix_nano", "traceId": "trace_id", "spanId": "span_id", "detail": "body"}
)

# OpenTelemetry SeverityNumber of each severity (the first number of its range).
SEVERITY_NUMBERS = MappingProxyType(
    {
        Severity.DEBUG: 5,
        Severity.INFO: 9,
        Severity.WARNING: 13,
        Severity.ERROR: 17,
        Severity.CRITICAL: 21,
    }
)


def severity_from_number(number: int) -> Severity:
    """The severity of an OpenTelemetry SeverityNumber (1-24; 0, unspecified, counts as error)."""
    if number <= 0:
        return Severity.ERROR
    if number <= 8:
        return Severity.DEBUG
    if number <= 12:
        return Severity.INFO
    if number <= 16:
        return Severity.WARNING
    if number <= 20:
        return Severity.ERROR
    return Severity.CRITICAL
