// The Emitter and its sinks: the hot path only queues, the worker ships; bounded, never throws, never keeps
// the process alive; HttpSink gzip, retry and Retry-After against a loopback collector stand-in.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CallableSink, Emitter, HttpSink, MCPDiagnosticError, MemorySink, errorData, retryAfter } from "../dist/index.js";

const DIST = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const secret = () => randomBytes(16).toString("hex");

function emitterWith(sink, options = {}) {
  return new Emitter(sink, { service: "emitter-test", flushIntervalMs: 5, ...options });
}

describe("Emitter", () => {
  it("emit returns the Debug ID at once and ships on a later tick, with catalog defaults", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink);
    const debugId = emitter.emit("MCP_TIMEOUT", { server: "github", touchpoint: "connect", userId: "alice", httpStatus: 504 });
    assert.match(debugId, /^[0-9a-f]{32}$/);
    assert.equal(sink.events.length, 0, "nothing is shipped on the caller's tick");
    assert.equal(await emitter.flush(), true);
    const [event] = sink.events;
    assert.equal(event.traceId, debugId);
    assert.equal(event.severity, "error");
    assert.equal(event.retryable, true);
    assert.equal(event.messageSafe, "github took too long to answer. Try again in a moment.");
    assert.equal(event.userId, "alice");
    assert.equal(event.httpStatus, 504);
    assert.match(event.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(event.source.service, "emitter-test");
    await emitter.close();
  });

  it("a trace or span id the host gives that is not a W3C id is replaced: the Debug ID returned is the one stored", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink, { coalesceWindowMs: 0 });
    const given = randomBytes(16).toString("hex");
    const span = randomBytes(8).toString("hex");
    const bad = ["not a trace id", "0".repeat(32), given.slice(1), given + "0", `${given.slice(0, 31)}g`, 42, {}, ["x"]];
    const returned = [];
    for (const traceId of bad) {
      returned.push(emitter.emit("MCP_TIMEOUT", { server: "a", touchpoint: "connect", traceId, spanId: "zz" }));
      returned.push(emitter.emitEvent("MCP_TIMEOUT", { server: "a", touchpoint: "connect", traceId, spanId: 7 }).traceId);
      returned.push(emitter.capture(new Error("boom"), { server: "a", touchpoint: "connect", traceId, spanId: "0".repeat(16) }));
    }
    // A valid id in capitals is the same id: lowercased (as the Python emitter and the collector read it).
    returned.push(emitter.emit("MCP_TIMEOUT", { server: "a", touchpoint: "connect", traceId: given.toUpperCase(), spanId: span.toUpperCase() }));
    await emitter.close();
    assert.equal(sink.events.length, returned.length);
    assert.deepEqual(sink.events.map((e) => e.traceId), returned);
    for (const id of returned) assert.match(id, /^(?!0{32})[0-9a-f]{32}$/);
    assert.equal(returned.at(-1), given);
    assert.equal(sink.events.at(-1).spanId, span);
    for (const event of sink.events.slice(0, -1)) assert.equal(event.spanId, null);
  });

  it("unknown codes are kept, not retryable, and bad field values are bounded instead of rejected", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink);
    emitter.emit("MCP_SOMETHING_NEW", {
      server: "s".repeat(300),
      touchpoint: "connect",
      tool: "a\nb",
      httpStatus: 42,
      durationMs: -1,
      transport: "carrier-pigeon",
      attrs: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, { nested: i }])),
    });
    await emitter.close();
    const [event] = sink.events;
    assert.equal(event.code, "MCP_SOMETHING_NEW");
    assert.equal(event.retryable, false);
    assert.equal(event.server.length, 128);
    assert.equal(event.tool, "a b");
    assert.equal(event.httpStatus, null);
    assert.equal(event.durationMs, null);
    assert.equal(event.transport, null);
    assert.equal(Object.keys(event.attrs).length, 32);
    assert.equal(event.attrs.k0, "[object Object]");
  });

  it("known and registered secrets are redacted by the worker in every text field", async () => {
    const sink = new MemorySink();
    const known = secret();
    const emitter = emitterWith(sink, { knownSecrets: [known] });
    const later = secret();
    emitter.registerSecret(later);
    emitter.emit("MCP_TOOL_ERROR", { server: "s", touchpoint: "tool_call", detail: `got ${known} and ${later}`, attrs: { echo: later, apiKey: "x".repeat(10) } });
    await emitter.close();
    const text = JSON.stringify(sink.events[0]);
    assert.ok(!text.includes(known) && !text.includes(later));
    assert.equal(sink.events[0].attrs.apiKey, "[REDACTED:secret_key]");
  });

  it("emit() reads no text the worker redacts: redaction is off the caller's tick", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink);
    const token = `ghp_${randomBytes(18).toString("hex")}`;
    const read = [];
    const options = { server: "s", touchpoint: "tool_call" };
    for (const [field, value] of [["detail", `failed with ${token}`], ["messageSafe", `token=${token}`], ["attrs", { note: token }]]) {
      Object.defineProperty(options, field, { enumerable: true, get: () => (read.push(field), value) });
    }
    emitter.emit("MCP_TOOL_ERROR", options);
    assert.deepEqual(read, [], "the caller's tick touched a field that needs redacting");
    await emitter.flush();
    assert.ok(read.includes("detail") && read.includes("attrs"));
    const text = JSON.stringify(sink.events[0]);
    assert.ok(!text.includes(token) && text.includes("[REDACTED:github_token]"));
    await emitter.close();
  });

  it("a full queue drops the lowest severity first and reports the count on a later event", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink, { queueSize: 3, flushIntervalMs: 1000 });
    emitter.emit("MCP_CONNECTED", { server: "s", touchpoint: "lifecycle" }); // info
    emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" }); // error
    emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" });
    emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect", severity: "critical" }); // sheds the info
    emitter.emit("MCP_DISCONNECTED", { server: "s", touchpoint: "lifecycle" }); // nothing lower: dropped
    const stats = emitter.stats();
    assert.equal(stats.dropped.info, 2);
    assert.equal(stats.droppedTotal, 2);
    assert.equal(stats.queued, 3);
    await emitter.flush();
    assert.deepEqual(sink.events.map((e) => e.severity), ["critical", "error", "error"]);
    assert.equal(sink.events[0].attrs["mcpdiag.dropped_events"], 2);
    await emitter.close();
  });

  it("a sink that throws, rejects or hangs never reaches the host; the emitter keeps working", async () => {
    let calls = 0;
    const flaky = {
      send() {
        calls += 1;
        if (calls === 1) throw new Error("sink bug");
        if (calls === 2) return Promise.reject(new Error("async sink bug"));
        if (calls === 3) return new Promise(() => {}); // hangs: bounded by sinkTimeoutMs, then retried
        return { outcome: "sent" };
      },
    };
    const emitter = emitterWith(flaky, { sinkTimeoutMs: 20 });
    for (let i = 0; i < 3; i++) {
      emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" });
      await emitter.flush(2000);
    }
    const stats = emitter.stats();
    assert.equal(stats.failedBatches, 2);
    assert.equal(stats.retriedBatches, 1);
    assert.equal(stats.sent, 1);
    await emitter.close();
  });

  it("emit on a closed emitter, or with nonsense arguments, returns a Debug ID and throws nothing", async () => {
    const emitter = emitterWith(new MemorySink());
    await emitter.close();
    assert.match(emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" }), /^[0-9a-f]{32}$/);
    assert.match(emitter.emit("MCP_TIMEOUT", null), /^[0-9a-f]{32}$/);
    assert.equal(emitter.stats().droppedTotal, 1);
    assert.match(emitter.capture(Object.create(null), { server: "s", touchpoint: "connect" }), /^[0-9a-f]{32}$/);
  });

  it("a slow async sink does not delay emit, and flush waits for it", async () => {
    const got = [];
    const emitter = emitterWith(new CallableSink(async (events) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      got.push(...events);
    }), { coalesceWindowMs: 0 });
    const ids = Array.from({ length: 50 }, () => emitter.emit("MCP_TOOL_ERROR", { server: "s", touchpoint: "tool_call" }));
    assert.equal(got.length, 0);
    assert.equal(await emitter.flush(5000), true);
    assert.deepEqual(got.map((e) => e.traceId), ids);
    await emitter.close();
  });

  it("the Debug ID is the active OpenTelemetry span's trace id", async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    try {
      const sink = new MemorySink();
      const emitter = emitterWith(sink);
      const traceId = randomBytes(16).toString("hex");
      const spanId = randomBytes(8).toString("hex");
      const span = trace.wrapSpanContext({ traceId, spanId, traceFlags: 1 });
      const debugId = context.with(trace.setSpan(context.active(), span), () =>
        emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" }),
      );
      assert.equal(debugId, traceId);
      await emitter.close();
      assert.equal(sink.events[0].spanId, spanId);
    } finally {
      context.disable();
    }
  });

  it("capture classifies and errorData gives the JSON-RPC error data", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink);
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    const err = new TypeError("fetch failed", { cause: refused });
    const debugId = emitter.capture(err, { server: "s", touchpoint: "connect" });
    await emitter.close();
    assert.equal(sink.events[0].code, "MCP_CONNECTION_REFUSED");
    assert.equal(sink.events[0].traceId, debugId);
    assert.deepEqual(errorData(err), { debugId: null, code: "MCP_CONNECTION_REFUSED", retryable: true });
    const wrapped = new Error("host", { cause: new MCPDiagnosticError("MCP_TIMEOUT", { debugId, server: "s" }) });
    assert.deepEqual(errorData(wrapped), { debugId, code: "MCP_TIMEOUT", retryable: true });
  });
});

describe("the process lifecycle", () => {
  const run = (script) => spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20000 });

  it("a host that just ends gets its queued events shipped on beforeExit, then exits", () => {
    const out = run(`
      import { CallableSink, Emitter } from ${JSON.stringify(DIST)};
      const emitter = new Emitter(new CallableSink((events) => { for (const e of events) console.log("SENT " + e.code); }), { service: "t", flushIntervalMs: 60000 });
      emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" });
    `);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /SENT MCP_TIMEOUT/);
  });

  it("a sink that is down does not keep the process alive", () => {
    const out = run(`
      import { Emitter } from ${JSON.stringify(DIST)};
      const emitter = new Emitter({ send: () => ({ outcome: "retry" }) }, { service: "t", flushIntervalMs: 1 });
      emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" });
      setTimeout(() => console.log("HOST DONE"), 20);
    `);
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /HOST DONE/);
    assert.equal(out.signal, null);
  });
});

async function collectorStandIn(answers) {
  const received = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    received.push({ headers: req.headers, body: JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) });
    const [status, headers, body] = answers[Math.min(received.length - 1, answers.length - 1)];
    res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${server.address().port}`, received, close: () => new Promise((r) => server.close(r)) };
}

describe("HttpSink", () => {
  it("a refused key is said once as a process warning, and every drop counted", async () => {
    const stand = await collectorStandIn([[401, {}, { error: { code: "unauthorized", message: "invalid ingest key" } }]]);
    const key = secret();
    const warnings = [];
    const listen = (w) => w.code === "MCPDIAG_DELIVERY_REFUSED" && warnings.push(w.message);
    process.on("warning", listen);
    const emitter = emitterWith(new HttpSink(stand.url, { apiKey: key }), { coalesceWindowMs: 0 });
    try {
      for (let batch = 0; batch < 3; batch++) {
        emitter.emit("MCP_TIMEOUT", { server: `s${batch}`, touchpoint: "connect" });
        await emitter.flush(5000);
      }
      await emitter.close();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
    } finally {
      process.off("warning", listen);
      await stand.close();
    }
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /HTTP 401/);
    assert.match(warnings[0], /ingest key/);
    assert.ok(!warnings[0].includes(key));
    assert.equal(emitter.stats().failedBatches, 3);
  });

  it("POSTs gzip JSON with the ingest key to /v1/events and counts what the collector rejected", async () => {
    const stand = await collectorStandIn([[202, {}, { accepted: 1, rejected: [{ index: 1, field: "ts", message: "x" }] }]]);
    const key = secret();
    const sink = new HttpSink(stand.url, { apiKey: key });
    const emitter = emitterWith(sink);
    emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" });
    emitter.emit("MCP_TIMEOUT", { server: "s", touchpoint: "connect" });
    await emitter.close();
    await stand.close();
    assert.equal(sink.url, `${stand.url}/v1/events`);
    assert.equal(stand.received[0].headers["x-api-key"], key);
    assert.equal(stand.received[0].headers["content-encoding"], "gzip");
    assert.equal(stand.received[0].body.events.length, 2);
    assert.equal(emitter.stats().sent, 1);
    assert.equal(emitter.stats().rejected, 1);
  });

  it("retries 429/503 after Retry-After, and gives up on a 400 without retrying", async () => {
    const stand = await collectorStandIn([[503, { "retry-after": "0" }, {}], [429, { "retry-after": "0" }, {}], [202, {}, { accepted: 1 }]]);
    const result = await new HttpSink(stand.url, { apiKey: "k", backoffMs: 1 }).send([{ id: "x" }]);
    assert.equal(result.outcome, "sent");
    assert.equal(stand.received.length, 3);
    await stand.close();
    const bad = await collectorStandIn([[400, {}, { error: { code: "invalid_body" } }]]);
    const refused = await new HttpSink(bad.url, { apiKey: "k" }).send([{ id: "x" }]);
    assert.equal(refused.outcome, "failed");
    assert.equal(bad.received.length, 1);
    await bad.close();
  });

  it("attempts are bounded, and Retry-After reads seconds and HTTP dates", async () => {
    const stand = await collectorStandIn([[503, { "retry-after": "0" }, {}]]);
    const result = await new HttpSink(stand.url, { apiKey: "k", maxAttempts: 2, backoffMs: 1 }).send([{ id: "x" }]);
    assert.equal(result.outcome, "retry");
    assert.equal(stand.received.length, 2);
    await stand.close();
    assert.equal(retryAfter("7"), 7000);
    assert.equal(retryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1)), 10000);
    assert.equal(retryAfter("soon"), undefined);
  });
});
