// @mcpdiag/emitter: the mcpdiag emitter for Node/TypeScript MCP hosts (TypeScript MCP SDK v1 and v2).
export { CATALOG, FALLBACK_CODE, LIFECYCLE_CODES, SEVERITY_RANK, codeInfo, renderMessage } from "./codes.js";
export type { Action, CodeInfo, Severity, Touchpoint, Transport } from "./codes.js";
export { classificationFor, classify } from "./classifier.js";
export type { Classification, ClassifyOptions, HttpObservation } from "./classifier.js";
export { errorChain } from "./chain.js";
export { Emitter } from "./emitter.js";
export type { CaptureOptions, EmitOptions, EmitterOptions, EmitterStats } from "./emitter.js";
export { MCPDiagnosticError, errorData } from "./errors.js";
export { formatTs } from "./event.js";
export type { AttrValue, WireEvent } from "./event.js";
export { newEventId, newSpanId, newTraceId } from "./ids.js";
export { RULE_NAMES, Redactor, isSecretKey, redactEvent, redactText } from "./redact.js";
export { CallableSink, HttpSink, MemorySink, retryAfter } from "./sinks.js";
export type { HttpSinkOptions, Outcome, Sink, SinkResult } from "./sinks.js";
export { DiagnosedSession, hostAllowed, openSession } from "./mcp/session.js";
export type { OpenSessionOptions, SdkLine } from "./mcp/session.js";
export { ObservedOAuthProvider, OAuthTimeoutError } from "./mcp/oauth.js";
export { observingFetch, tcpReachable } from "./mcp/hooks.js";
