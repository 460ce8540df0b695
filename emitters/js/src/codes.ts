// The code catalog: stable diagnostic codes with severity, retryability, action and user-safe message.
// The data is the shared contract (emitters/catalog.json, generated from the Python catalog).
import { CATALOG_DATA } from "./catalog-data.js";

export type Severity = "debug" | "info" | "warning" | "error" | "critical";
export type Touchpoint = "connect" | "oauth" | "tool_call" | "transport" | "inspection" | "lifecycle";
export type Transport = "stdio" | "sse" | "streamable-http" | "websocket";
export type Action = "authenticate" | "edit_server" | "retry" | "docs" | "contact_admin" | "none";

/** What the catalog knows about one code. */
export interface CodeInfo {
  readonly code: string;
  readonly title: string;
  readonly severity: Severity;
  readonly retryable: boolean;
  readonly action: Action;
  /** User-safe message template; `{server}` is replaced by the server name. */
  readonly message: string;
  readonly failure: boolean;
}

export const SEVERITIES: readonly Severity[] = CATALOG_DATA.severities as readonly Severity[];
/** 0 for debug up to 4 for critical: minimum-level filters and drop order. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = Object.freeze(
  Object.fromEntries(SEVERITIES.map((s, i) => [s, i])) as Record<Severity, number>,
);
export const FALLBACK_CODE: string = CATALOG_DATA.fallbackCode;
export const LIFECYCLE_CODES: ReadonlySet<string> = new Set(CATALOG_DATA.lifecycleCodes);
/** The attr of an MCP_DISCONNECTED whose session ended in a failure: that failure's code. */
export const ENDED_BY_ATTR: string = CATALOG_DATA.endedByAttr;
export const LIMITS = CATALOG_DATA.limits;

/** Every known code → its `CodeInfo`, the same as Python's `mcpdiag.emitters.CATALOG`. */
export const CATALOG: Readonly<Record<string, CodeInfo>> = Object.freeze(
  Object.fromEntries(
    Object.entries(CATALOG_DATA.codes).map(([code, info]) => [code, Object.freeze({ ...info }) as CodeInfo]),
  ),
);

/** The catalog entry for `code`; unknown codes count as `MCP_INTERNAL_ERROR`. */
export function codeInfo(code: string): CodeInfo {
  return Object.hasOwn(CATALOG, code) ? CATALOG[code] : CATALOG[FALLBACK_CODE];
}

/** The user-safe message of `code` for `server`. */
export function renderMessage(code: string, server: string): string {
  return codeInfo(code).message.replaceAll("{server}", server);
}
