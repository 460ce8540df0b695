// Identifiers: time-sortable event ids (ULID) and W3C trace and span ids, from a pooled random buffer.
import { randomFillSync } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const POOL = Buffer.alloc(4096);
let offset = POOL.length;

function take(n: number): number {
  // One system call fills ids for a few hundred events: the hot path only reads the pool.
  if (offset + n > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

function hex(n: number): string {
  const at = take(n);
  let out = "";
  for (let i = at; i < at + n; i++) out += HEX[POOL[i]];
  return out;
}

const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/** A fresh random W3C trace id: 32 lowercase hex, never all zeros. */
export function newTraceId(): string {
  const id = hex(16);
  return id === ZERO_TRACE ? newTraceId() : id;
}

/** A fresh random W3C span id: 16 lowercase hex, never all zeros. */
export function newSpanId(): string {
  const id = hex(8);
  return id === ZERO_SPAN ? newSpanId() : id;
}

/** A 26-character ULID: 48 bits of milliseconds, 80 random bits, Crockford base32; sorts by time. */
export function newEventId(nowMs: number = Date.now()): string {
  let out = "";
  let ms = Math.max(0, Math.floor(nowMs));
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  const at = take(10);
  // 80 random bits as 16 base32 characters, five bits at a time.
  let bits = 0;
  let value = 0;
  for (let i = at; i < at + 10; i++) {
    value = (value << 8) | POOL[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(value >> bits) & 31];
    }
    value &= (1 << bits) - 1;
  }
  return out;
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
