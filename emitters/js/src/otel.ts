// Optional OpenTelemetry: with @opentelemetry/api installed and a span active, the Debug ID is its trace id.
import { createRequire } from "node:module";

interface SpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
}
interface OtelTrace {
  getActiveSpan(): { spanContext(): SpanContext } | undefined;
}

let api: OtelTrace | null | undefined;

function load(): OtelTrace | null {
  if (api !== undefined) return api;
  try {
    // Resolved from the host's own node_modules; the API keeps its state in a process-wide global, so this
    // copy sees the host's tracer provider and context manager.
    const require = createRequire(import.meta.url);
    api = (require("@opentelemetry/api") as { trace: OtelTrace }).trace;
  } catch {
    api = null; // not installed: fail soft
  }
  return api;
}

const INVALID = /^0+$/;
// Where @opentelemetry/api 1.x registers its globals. Without a context manager there is no active span, so
// the hot path can skip the API call (the common case: no OpenTelemetry SDK configured).
const REGISTRY = Symbol.for("opentelemetry.js.api.1");

/** `[traceId, spanId]` of the active OpenTelemetry span, or undefined (no API, no span, an invalid one). */
export function activeSpanIds(): [string, string] | undefined {
  const registry = (globalThis as Record<symbol, { context?: unknown } | undefined>)[REGISTRY];
  if (registry?.context === undefined) return undefined;
  const trace = api === undefined ? load() : api;
  if (!trace) return undefined;
  try {
    const ctx = trace.getActiveSpan()?.spanContext();
    if (!ctx || INVALID.test(ctx.traceId) || INVALID.test(ctx.spanId)) return undefined;
    return [ctx.traceId, ctx.spanId];
  } catch {
    return undefined; // a broken tracer must not break the host
  }
}
