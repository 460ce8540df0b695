// Identifiers and timestamps: the fast paths give exactly what the plain ones would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTs, newEventId, newSpanId, newTraceId } from "../dist/index.js";

test("formatTs equals toISOString across days, years and millisecond edges", () => {
  const base = Date.UTC(2026, 11, 31, 23, 59, 59, 999);
  const cases = [0, 86_399_999, 86_400_000, base, base + 1, Date.UTC(2028, 1, 29, 12), 253_402_300_799_999];
  for (let i = 0; i < 5000; i++) cases.push(base - 5 * 86_400_000 + i * 7_919_317);
  for (const ms of cases) assert.equal(formatTs(ms), new Date(ms).toISOString(), String(ms));
});

test("event ids are 26-character Crockford ULIDs that sort by time", () => {
  const ids = [1, 1700000000000, 1700000000001, 1700000086400, 2 ** 47].map((ms) => newEventId(ms));
  for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual([...ids].sort(), ids);
  assert.notEqual(newEventId(5), newEventId(5));
});

test("trace and span ids are W3C-shaped, never zero, and do not repeat over many pool refills", () => {
  const seen = new Set();
  for (let i = 0; i < 20_000; i++) {
    const id = newTraceId();
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.ok(!seen.has(id));
    seen.add(id);
  }
  assert.match(newSpanId(), /^(?!0{16})[0-9a-f]{16}$/);
});
