// End to end against the real collector: `mcpdiag serve` (this repository's Python service, from .venv) is
// started on a loopback port with a temporary SQLite store; events from HttpSink must be queryable by the
// Debug ID the host got, on both SDK lines.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Emitter, HttpSink, MCPDiagnosticError, openSession } from "../dist/index.js";
import { REPO, SDK_LINES, failure } from "./support/helpers.mjs";
import { freePort, startStubs } from "./support/stubs.mjs";
import { startStreamableServer } from "./support/servers.mjs";

const MCPDIAG = process.env.MCPDIAG_CLI ?? `${REPO}.venv/bin/mcpdiag`;
const ingestKey = randomBytes(16).toString("hex");
const jwtSecret = randomBytes(32).toString("hex");
let service, base, dir, stubs, mcp;

function b64url(value) {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** An HS256 token for the service's /api, as an admin (sees every server and `detail`). */
function token(sub = "ada") {
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ sub, iat: now, exp: now + 600, roles: ["admin"] })}`;
  return `${head}.${createHmac("sha256", jwtSecret).update(head).digest("base64url")}`;
}

async function api(path) {
  const response = await fetch(base + path, { headers: { authorization: `Bearer ${token()}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "mcpdiag-js-e2e-"));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  service = spawn(MCPDIAG, ["serve", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: dir,
    env: {
      ...process.env,
      MCPDIAG_STORE_URL: `sqlite:///${join(dir, "events.db")}`,
      MCPDIAG_SPOOL_DIR: join(dir, "spool"),
      MCPDIAG_INGEST_KEYS: ingestKey,
      MCPDIAG_JWT_SECRET: jwtSecret,
      MCPDIAG_BATCH_INTERVAL_MS: "20",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  service.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    assert.ok(service.exitCode === null && i < 600, `mcpdiag serve did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  stubs = await startStubs();
  mcp = await startStreamableServer([]);
});

after(async () => {
  await stubs?.close();
  await mcp?.close();
  if (service && service.exitCode === null) {
    const exited = new Promise((resolve) => service.once("exit", resolve));
    service.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function eventsOf(server) {
  // The collector's 202 comes once events are stored; the batch writer may still be committing a page.
  for (let i = 0; i < 100; i++) {
    const page = await api(`/api/mcp/${server}/diagnostics?limit=50`);
    if (page.items?.length) return page.items;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return [];
}

for (const line of SDK_LINES) {
  describe(`the real collector, SDK ${line}`, () => {
    it("a failure the host got is in GET /api/mcp/{server}/diagnostics under the same Debug ID", async () => {
      const emitter = new Emitter(new HttpSink(base, { apiKey: ingestKey }), { service: "js-e2e", flushIntervalMs: 10 });
      const server = `rate-limited-${line}`;
      const bearer = randomBytes(16).toString("hex");
      const err = await failure(() =>
        openSession(server, { emitter, url: `http://127.0.0.1:${stubs.port}/s/429`, headers: { Authorization: `Bearer ${bearer}` }, sdk: line, userId: "alice" }),
      );
      assert.ok(err instanceof MCPDiagnosticError);
      assert.equal(await emitter.flush(10000), true);
      assert.equal(emitter.stats().sent, 1);
      await emitter.close();
      const items = await eventsOf(server);
      assert.equal(items.length, 1, JSON.stringify(items));
      const [event] = items;
      assert.equal(event.traceId, err.debugId);
      assert.equal(event.code, "MCP_RATE_LIMITED");
      assert.equal(event.httpStatus, 429);
      assert.equal(event.userId, "alice");
      assert.equal(event.source.service, "js-e2e");
      assert.ok(!JSON.stringify(event).includes(bearer));
      const found = await api(`/api/diagnostics/${err.debugId}`);
      assert.ok(JSON.stringify(found).includes(err.debugId));
    });

    it("a healthy session's lifecycle and tool error reach the collector", async () => {
      const emitter = new Emitter(new HttpSink(base, { apiKey: ingestKey }), { service: "js-e2e", flushIntervalMs: 10 });
      const server = `healthy-${line}`;
      const session = await openSession(server, { emitter, url: `http://127.0.0.1:${mcp.port}/mcp`, sdk: line });
      await session.callTool("fail", { reason: "no such order" });
      await session.close();
      await emitter.close(10000);
      const items = await eventsOf(server);
      assert.deepEqual(items.map((e) => e.code).sort(), ["MCP_CONNECTED", "MCP_DISCONNECTED", "MCP_TOOL_ERROR"]);
      assert.equal(items.find((e) => e.code === "MCP_TOOL_ERROR").traceId, session.lastDebugId);
      const status = await api("/api/mcp/connection/status");
      assert.ok(JSON.stringify(status).includes(server));
    });
  });
}

it("every field value a host may pass is shipped as an event the collector stores, under the Debug ID returned", async () => {
  // What the Python emitter makes valid (finalize.py): a bad code, touchpoint, severity or transport is kept in
  // an `mcpdiag.invalid.*` attribute, a server named like a URL dot segment is not one, names lose control characters.
  const emitter = new Emitter(new HttpSink(base, { apiKey: ingestKey }), { service: "js-e2e", flushIntervalMs: 10, coalesceWindowMs: 0 });
  const fields = [
    { server: "..", touchpoint: "connect" },
    { server: ".", touchpoint: "connect" },
    { server: "hostile", touchpoint: "bogus" },
    { server: "hostile", touchpoint: undefined },
    { server: "hostile", touchpoint: 7 },
    { server: "hostile", touchpoint: "connect", severity: "fatal" },
    { server: "hostile", touchpoint: "connect", transport: "carrier-pigeon" },
    { server: "hostile", touchpoint: "connect", userId: "", tool: "", runId: "a\u0000b", conversationId: "x".repeat(400) },
    { server: "hostile", touchpoint: "connect", messageSafe: 42, detail: { nested: true } },
    { server: undefined, touchpoint: "connect" },
  ];
  const ids = fields.map((options) => emitter.emit("MCP_TIMEOUT", options));
  ids.push(emitter.emit("not a code", { server: "hostile", touchpoint: "connect" }));
  ids.push(emitter.emit(undefined, { server: "hostile", touchpoint: "connect" }));
  assert.equal(await emitter.flush(10000), true);
  await emitter.close();
  assert.equal(emitter.stats().sent, ids.length, JSON.stringify(emitter.stats()));
  for (const id of ids) {
    let found;
    for (let i = 0; i < 100 && !found?.items?.length; i++) {
      if (i) await new Promise((resolve) => setTimeout(resolve, 50));
      const response = await fetch(`${base}/api/diagnostics/${id}`, { headers: { authorization: `Bearer ${token()}` } });
      found = response.status === 200 ? await response.json() : undefined;
    }
    assert.ok(found?.items?.length, `Debug ID ${id} was not stored`);
  }
  const touchpoints = await eventsOf("hostile");
  assert.ok(touchpoints.some((e) => e.attrs?.["mcpdiag.invalid.touchpoint"] === "bogus"), JSON.stringify(touchpoints.map((e) => e.attrs)));
  assert.ok(touchpoints.some((e) => e.attrs?.["mcpdiag.invalid.code"] === "not a code"));
});

it("an emitter's version as the host gives it (a number, a long build string) never makes its events refused", async () => {
  for (const version of [3, `1.4.2+${"b".repeat(100)}`, { build: 7 }]) {
    const emitter = new Emitter(new HttpSink(base, { apiKey: ingestKey }), { service: "js-e2e", version, flushIntervalMs: 10 });
    const id = emitter.emit("MCP_TIMEOUT", { server: "versioned", touchpoint: "connect" });
    assert.equal(await emitter.flush(10000), true);
    await emitter.close();
    assert.equal(emitter.stats().rejected, 0, `version ${JSON.stringify(version)}: ${JSON.stringify(emitter.stats())}`);
    const found = await api(`/api/diagnostics/${id}`);
    assert.ok(found.items.some((e) => e.source.version === String(version).slice(0, 64)), JSON.stringify(found.items));
  }
});

it("a closed collector port leaves events queued, not thrown", async () => {
  const emitter = new Emitter(new HttpSink(`http://127.0.0.1:${await freePort()}`, { apiKey: ingestKey, maxAttempts: 1 }), { service: "js-e2e", flushIntervalMs: 10 });
  emitter.emit("MCP_TIMEOUT", { server: "down", touchpoint: "connect" });
  assert.equal(await emitter.flush(300), false);
  assert.equal(emitter.stats().queued, 1);
  assert.ok(emitter.stats().retriedBatches >= 1);
  await emitter.close(50);
  assert.equal(emitter.stats().droppedTotal, 1);
});
