// Identifiers: time-sortable event ids (ULID) and W3C trace and span ids, from a pooled random buffer.
import { randomFillSync } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
// Trace and span ids are slices of a pool of random hex (one slice is O(1) in V8). The pool is refilled off
// the caller's tick: when half of it is used, the next one is made on a later turn of the event loop; only a
// burst that empties it within one tick pays for a refill inline.
const POOL_BYTES = 128 * 1024;
let hexPool = "";
let hexOffset = 0;
let spare: string | undefined;
let refilling = false;

function freshHex(): string {
  return randomFillSync(Buffer.alloc(POOL_BYTES)).toString("hex");
}

function prepareSpare(): void {
  if (refilling || spare !== undefined) return;
  refilling = true;
  setImmediate(() => {
    refilling = false;
    spare ??= freshHex();
  }).unref();
}

function hex(chars: number): string {
  if (hexOffset + chars > hexPool.length) {
    hexPool = spare ?? freshHex();
    spare = undefined;
    hexOffset = 0;
  }
  const out = hexPool.slice(hexOffset, hexOffset + chars);
  hexOffset += chars;
  if (hexOffset * 2 > hexPool.length && spare === undefined) prepareSpare();
  return out;
}

const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/** A fresh random W3C trace id: 32 lowercase hex, never all zeros. */
export function newTraceId(): string {
  const id = hex(32);
  return id === ZERO_TRACE ? newTraceId() : id;
}

/** A fresh random W3C span id: 16 lowercase hex, never all zeros. */
export function newSpanId(): string {
  const id = hex(16);
  return id === ZERO_SPAN ? newSpanId() : id;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** `value` as a W3C trace id (32 hex, lowercased, not all zeros), or a fresh one when it is not one: a Debug
 * ID the host passes is the one stored, and one the collector would refuse is never shipped. */
export function debugId(value: unknown): string {
  if (typeof value === "string" && value.length === 32) {
    const lowered = value.toLowerCase();
    if (TRACE_ID.test(lowered) && lowered !== ZERO_TRACE) return lowered;
  }
  return newTraceId();
}

/** `value` as a W3C span id (16 hex, lowercased, not all zeros), or null. */
export function spanIdOf(value: unknown): string | null {
  if (typeof value !== "string" || value.length !== 16) return null;
  const lowered = value.toLowerCase();
  return SPAN_ID.test(lowered) && lowered !== ZERO_SPAN ? lowered : null;
}

let ulidMs = -1;
let ulidTime = "";
let base32Pool = "";
let base32Offset = 0;

/** A 26-character ULID: 48 bits of milliseconds, 80 random bits, Crockford base32; sorts by time. */
export function newEventId(nowMs: number = Date.now()): string {
  const ms = Math.max(0, Math.floor(nowMs));
  if (ms !== ulidMs) {
    let time = "";
    for (let i = 0, rest = ms; i < 10; i++, rest = Math.floor(rest / 32)) time = CROCKFORD[rest % 32] + time;
    ulidMs = ms;
    ulidTime = time;
  }
  if (base32Offset + 16 > base32Pool.length) {
    // 80 random bits are 16 base32 characters: one random byte per character, five bits of it kept.
    const bytes = randomFillSync(Buffer.alloc(16 * 1024));
    let chars = "";
    for (let i = 0; i < bytes.length; i++) chars += CROCKFORD[bytes[i] & 31];
    base32Pool = chars;
    base32Offset = 0;
  }
  const random = base32Pool.slice(base32Offset, base32Offset + 16);
  base32Offset += 16;
  return ulidTime + random;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/;

/** The trace id in a W3C `traceparent` value, or undefined. */
export function traceIdOf(traceparent: unknown): string | undefined {
  const found = typeof traceparent === "string" ? TRACEPARENT.exec(traceparent) : null;
  return found && found[1] !== ZERO_TRACE ? found[1] : undefined;
}

/** A W3C `traceparent` header value. */
export function traceparent(traceId: string, spanId: string, sampled = true): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}
