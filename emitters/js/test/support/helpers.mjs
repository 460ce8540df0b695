// Shared fixtures of the Node tests: an emitter writing to memory, planted secrets, event checks.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CATALOG, Emitter, MCPDiagnosticError, MemorySink } from "../../dist/index.js";

export const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
export const PYTHON = process.env.MCPDIAG_PYTHON ?? `${REPO}.venv/bin/python`;
export const SDK_LINES = ["v1", "v2"];

/** Secrets a scenario hands to the client (made now, never committed); none may show up in an event. */
export function planted() {
  const [token, password, bearer, envValue] = Array.from({ length: 4 }, () => randomBytes(16).toString("hex"));
  return {
    token, password, bearer, envValue,
    values: [token, password, bearer, envValue],
    headers: { Authorization: `Bearer ${bearer}` },
    url(port, path, { scheme = "http", host = "127.0.0.1" } = {}) {
      return `${scheme}://zoo:${password}@${host}:${port}${path}?token=${token}`;
    },
  };
}

/** An emitter writing to memory, flushed on every read. */
export function capture() {
  const sink = new MemorySink();
  const emitter = new Emitter(sink, { service: "failure-zoo-js", flushIntervalMs: 5 });
  return {
    emitter,
    sink,
    async events() {
      assert.equal(await emitter.flush(5000), true);
      return [...sink.events];
    },
  };
}

const WIRE_KEYS = ["id", "ts", "server", "userId", "conversationId", "runId", "touchpoint", "code", "severity", "messageSafe",
  "detail", "retryable", "traceId", "spanId", "transport", "tool", "httpStatus", "durationMs", "attrs", "source"];

/** The one event with `code`: a well-formed wire event at `touchpoint`, free of every planted secret. */
export async function checkEvent(cap, secrets, code, touchpoint) {
  const events = (await cap.events()).filter((e) => e.code === code);
  assert.equal(events.length, 1, JSON.stringify((await cap.events()).map((e) => e.code)));
  const event = events[0];
  assert.deepEqual(Object.keys(event).sort(), [...WIRE_KEYS].sort());
  assert.match(event.traceId, /^[0-9a-f]{32}$/);
  assert.match(event.id, /^[0-9A-Z]{26}$/);
  assert.equal(event.touchpoint, touchpoint);
  const text = JSON.stringify([event.messageSafe, event.detail, event.attrs]);
  for (const secret of secrets.values) assert.ok(!text.includes(secret), `a planted secret leaked into ${code}`);
  return event;
}

/** The error and its event agree on the code, retryability and Debug ID. */
export async function checkFailure(cap, secrets, err, code, touchpoint, { retryable, caused = true } = {}) {
  assert.ok(err instanceof MCPDiagnosticError, `expected MCPDiagnosticError, got ${err?.stack ?? err}`);
  assert.equal(err.code, code, err.event?.detail ?? "");
  const event = await checkEvent(cap, secrets, code, touchpoint);
  const expected = retryable ?? CATALOG[code].retryable;
  assert.equal(err.retryable, expected);
  assert.equal(event.retryable, expected);
  assert.equal(err.debugId, event.traceId);
  assert.equal(err.cause !== undefined, caused);
  assert.ok(err.message.includes(err.debugId) && err.message.startsWith(err.messageSafe));
  return event;
}

/** Run `work`, which must throw; the error. */
export async function failure(work) {
  try {
    await work();
  } catch (err) {
    return err;
  }
  assert.fail("expected a failure");
}

let certs;
/** TLS material made at test time by the Python helper (a CA, valid, expired, wrong-host, self-signed). */
export function tlsMaterial() {
  certs ??= JSON.parse(execFileSync(PYTHON, [fileURLToPath(new URL("./make_certs.py", import.meta.url))], { encoding: "utf8" }));
  return certs;
}
