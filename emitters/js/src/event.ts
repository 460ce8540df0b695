// The wire event (DESIGN.md, camelCase) and the bounds every emitted event keeps.
import { cutForRedaction } from "./chain.js";
import { LIMITS } from "./codes.js";

export type AttrValue = string | number | boolean | null;

/** One diagnostic event as it travels to the collector. */
export interface WireEvent {
  id: string;
  ts: string;
  server: string;
  userId: string | null;
  conversationId: string | null;
  runId: string | null;
  touchpoint: string;
  code: string;
  severity: string;
  messageSafe: string;
  detail: string | null;
  retryable: boolean;
  traceId: string;
  spanId: string | null;
  transport: string | null;
  tool: string | null;
  httpStatus: number | null;
  durationMs: number | null;
  attrs: Record<string, AttrValue>;
  source: { service: string | null; host: string | null; version: string | null };
  /** Occurrences this event stands for (a coalesced follow-up); absent means 1. */
  count?: number;
  /** First and last occurrence, when `count` > 1. */
  firstTs?: string;
  lastTs?: string;
  [key: string]: unknown;
}

let dayStart = NaN;
let dayPrefix = "";
const pad = (n: number, width: number): string => String(n).padStart(width, "0");

/** RFC 3339 UTC with milliseconds, e.g. `2026-11-21T10:41:05.123Z`. */
export function formatTs(ms: number): string {
  // toISOString() is slow; events of one day share their date, so only the time of day is formatted.
  const since = ms - dayStart;
  if (!(since >= 0 && since < 86_400_000)) {
    const iso = new Date(ms).toISOString();
    if (iso.length !== 24) return iso; // a year outside 0000-9999
    dayStart = ms - (ms % 86_400_000 + 86_400_000) % 86_400_000;
    dayPrefix = iso.slice(0, 11);
    return iso;
  }
  const h = Math.floor(since / 3_600_000);
  const m = Math.floor((since % 3_600_000) / 60_000);
  const sec = Math.floor((since % 60_000) / 1000);
  return `${dayPrefix}${pad(h, 2)}:${pad(m, 2)}:${pad(sec, 2)}.${pad(since % 1000, 3)}Z`;
}

export const MAX_ATTR_VALUE = 1024;

/** At most 32 scalar attrs, keys ≤ 64 chars, string values ≤ 1 KiB; anything else becomes its string. */
export function boundedAttrs(attrs: Record<string, unknown> | null | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  if (!attrs || typeof attrs !== "object") return out;
  let n = 0;
  for (const [key, raw] of Object.entries(attrs)) {
    if (n++ >= LIMITS.maxAttrs) break;
    let value: AttrValue;
    if (raw === null || raw === undefined) value = null;
    else if (typeof raw === "number") value = Number.isFinite(raw) ? raw : String(raw);
    else if (typeof raw === "string" || typeof raw === "boolean") value = raw;
    else value = String(raw);
    // Cut safely for the redactor, which sees it next; `attrsCut` gives it its final length after.
    out[key.slice(0, 64) || "_"] = typeof value === "string" ? cutForRedaction(value, 4 * MAX_ATTR_VALUE) : value;
  }
  return out;
}

/** `attrs` (redacted) with each string at most `MAX_ATTR_VALUE` characters long. */
export function attrsCut(attrs: Record<string, AttrValue>): Record<string, AttrValue> {
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === "string" && value.length > MAX_ATTR_VALUE) attrs[key] = value.slice(0, MAX_ATTR_VALUE);
  }
  return attrs;
}

/** A cheap upper bound of the event's encoded size: every character escaped at worst to 6 bytes. */
function sizeBound(event: WireEvent): number {
  let chars = (event.messageSafe?.length ?? 0) + (event.detail?.length ?? 0) + event.server.length;
  for (const key of ["userId", "conversationId", "runId", "tool", "touchpoint", "code"]) chars += String(event[key] ?? "").length;
  for (const [key, value] of Object.entries(event.attrs)) chars += key.length + String(value).length + 3;
  const source = event.source;
  chars += (source.service?.length ?? 0) + (source.host?.length ?? 0) + (source.version?.length ?? 0);
  return 600 + 6 * chars;
}

/** Shrink attrs, then detail, until the event encodes within the wire limit (16 KiB). */
export function fit(event: WireEvent): void {
  if (sizeBound(event) <= LIMITS.maxEventBytes) return;
  let size = Buffer.byteLength(JSON.stringify(event));
  if (size <= LIMITS.maxEventBytes) return;
  const keys = Object.keys(event.attrs).sort((a, b) => String(event.attrs[b]).length - String(event.attrs[a]).length);
  for (const key of keys) {
    if (size <= LIMITS.maxEventBytes) return;
    const value = event.attrs[key];
    if (typeof value === "string" && value.length > 64) {
      event.attrs[key] = value.slice(0, 64);
      size = Buffer.byteLength(JSON.stringify(event));
    }
  }
  while (size > LIMITS.maxEventBytes && event.detail) {
    const over = size - LIMITS.maxEventBytes;
    event.detail = event.detail.slice(0, Math.max(0, event.detail.length - over - 64)) || null;
    size = Buffer.byteLength(JSON.stringify(event));
  }
}
