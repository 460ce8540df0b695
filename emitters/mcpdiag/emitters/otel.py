"""How a diagnostic event travels as an OpenTelemetry log record: attribute names and severity numbers.

The emitters' `OtlpLogSink` writes records this way and the collector's `/v1/logs` reads them back, so a
host in any language can send diagnostics through its own OpenTelemetry SDK by setting these attributes.

Names come in three kinds. The OpenTelemetry semantic conventions (for MCP: `mcp.method.name`,
`mcp.session.id`, `gen_ai.tool.name`, `error.type`, `network.transport`, `server.address`, ...) are read
wherever they say something an event holds. What only mcpdiag has (the code, severity, user-safe message,
event id, ...) lives under the vendor prefix `mcpdiag.*`, out of the conventions' own `mcp.*` namespace;
the names earlier releases used there (`mcp.diag.code`, `mcp.server.name`, `mcp.attr.*`, ...) are still
read. When a record carries several names of one field, the first of `FIELD_NAMES` wins.
"""

from __future__ import annotations

from types import MappingProxyType

from mcpdiag.emitters.codes import Severity

# Wire field → the log-record attributes that carry it, preferred first (the one `OtlpLogSink` sends).
FIELD_NAMES = MappingProxyType(
    {
        "server": ("mcpdiag.server.name", "mcp.server.name"),
        "code": ("mcpdiag.code", "mcp.diag.code"),
        "touchpoint": ("mcpdiag.touchpoint", "mcp.touchpoint"),
        "severity": ("mcpdiag.severity", "mcp.severity"),
        "messageSafe": ("mcpdiag.message_safe", "mcp.message_safe"),
        "retryable": ("mcpdiag.retryable", "mcp.retryable"),
        "id": ("mcpdiag.event.id", "mcp.event.id"),
        "userId": ("user.id", "enduser.id"),
        "conversationId": ("mcpdiag.conversation.id", "mcp.conversation.id"),
        "runId": ("mcpdiag.run.id", "mcp.run.id"),
        "tool": ("gen_ai.tool.name", "mcp.tool.name"),
        "transport": ("mcpdiag.transport", "mcp.transport"),
        "httpStatus": ("http.response.status_code",),
        "durationMs": ("mcpdiag.duration_ms", "mcp.duration_ms"),
        "count": ("mcpdiag.count", "mcp.event.count"),
        "firstTs": ("mcpdiag.first_ts", "mcp.event.first_ts"),
        "lastTs": ("mcpdiag.last_ts", "mcp.event.last_ts"),
    }
)
# Log-record attribute → (wire field, rank among that field's names: 0 is preferred).
ATTRIBUTE_FIELDS = MappingProxyType(
    {name: (field, rank) for field, names in FIELD_NAMES.items() for rank, name in enumerate(names)}
)
SEMCONV_FIELDS = frozenset({"userId", "tool", "httpStatus"})
"""Fields whose preferred name is an OpenTelemetry semantic convention (the others are `mcpdiag.*`)."""
# Attributes under these prefixes become the event's `attrs` (prefix stripped); the first is sent.
ATTRS_PREFIX = "mcpdiag.attr."
ATTRS_PREFIXES = (ATTRS_PREFIX, "mcp.attr.")
# Semantic-convention attributes kept in the event's `attrs` under their own names (the event has no field
# of its own for them); `OtlpLogSink` sends attrs of these names under them.
SEMCONV_ATTRS = frozenset(
    {
        "mcp.method.name",
        "mcp.session.id",
        "mcp.protocol.version",
        "jsonrpc.request.id",
        "rpc.response.status_code",
        "error.type",
        "network.transport",
        "server.address",
        "server.port",
    }
)
# `mcp.method.name` → the touchpoint of a record that names none.
METHOD_TOUCHPOINTS = MappingProxyType(
    {"initialize": "connect", "tools/call": "tool_call", "tools/list": "inspection"}
)
# `network.transport` of each MCP transport, and back (only `pipe` names one transport: stdio).
NETWORK_TRANSPORTS = MappingProxyType(
    {"stdio": "pipe", "sse": "tcp", "streamable-http": "tcp", "websocket": "tcp"}
)
ERROR_TYPE_CODES = MappingProxyType({"tool_error": "MCP_TOOL_ERROR"})
"""`error.type` values the conventions define that name a code (a catalog code is taken as itself)."""
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
