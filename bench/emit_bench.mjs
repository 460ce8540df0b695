// Per-call cost of the Node emitter's `emit()` on the caller's tick, next to pino (JSON to a no-op
// destination) and the OpenTelemetry JS logs SDK (batch processor, no-op exporter), same run.
//
// Calls are timed in groups with process.hrtime; the per-call cost of each group is one sample; p50/p99 over
// all samples after a warm-up. The peers take turns over several rounds (so a noisy moment on a shared
// machine hits them all alike): each p50 is the best round's (the least disturbed one), each p99 the
// median round's. Every peer writes a comparable record (the same fields) to a sink that
// discards it. Between blocks of samples the event loop turns, so the emitter's worker (and OTel's batch
// processor) drain their queues as they would in a host, outside the timed calls.
//
//   node bench/emit_bench.mjs [--quick] [--json OUT]     (needs emitters/js built: `make bench` does it)
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { setImmediate as turn } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";

const JS = fileURLToPath(new URL("../emitters/js/", import.meta.url));
const require = createRequire(`${JS}package.json`);
const { CallableSink, Emitter } = await import(pathToFileURL(`${JS}dist/index.js`).href);
const pino = require("pino");
const { LoggerProvider, BatchLogRecordProcessor } = require("@opentelemetry/sdk-logs");
const { SeverityNumber } = require("@opentelemetry/api-logs");

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonAt = args.indexOf("--json");
const SAMPLES = quick ? 2000 : 20000;
const GROUP = 20;
const BLOCK = 100; // samples between two turns of the event loop

async function measure(call) {
  for (let i = 0; i < 20000; i++) call(i);
  await turn();
  const costs = new Float64Array(SAMPLES);
  for (let s = 0; s < SAMPLES; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < GROUP; i++) call(i);
    costs[s] = Number(process.hrtime.bigint() - start) / GROUP / 1000;
    if (s % BLOCK === BLOCK - 1) await turn();
  }
  costs.sort();
  return { p50_us: costs[Math.floor(SAMPLES / 2)], p99_us: costs[Math.floor(SAMPLES * 0.99)] };
}

function mcpdiagEmit() {
  const emitter = new Emitter(new CallableSink(() => {}), { service: "bench", queueSize: 1_000_000 });
  const call = () =>
    emitter.emit("MCP_TOOL_ERROR", { server: "github", touchpoint: "tool_call", userId: "alice", tool: "search" });
  return [call, () => emitter.close(30000)];
}

function pinoJson() {
  const logger = pino({ level: "info" }, { write() {} });
  const call = () => logger.warn({ server: "github", touchpoint: "tool_call", userId: "alice", tool: "search" }, "MCP_TOOL_ERROR");
  return [call, async () => {}];
}

function otelLogs() {
  const exporter = { export: (_logs, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };
  const provider = new LoggerProvider({
    processors: [new BatchLogRecordProcessor(exporter, { maxQueueSize: 1_000_000, maxExportBatchSize: 512 })],
  });
  const logger = provider.getLogger("bench");
  const attributes = { "mcp.server.name": "github", "mcp.touchpoint": "tool_call", "enduser.id": "alice", "mcp.tool.name": "search" };
  const call = () => logger.emit({ severityNumber: SeverityNumber.WARN, body: "MCP_TOOL_ERROR", attributes });
  return [call, async () => {}]; // a no-op exporter: nothing to flush
}

const ROUNDS = quick ? 3 : 5;
const peers = [["mcpdiag emit()", mcpdiagEmit], ["pino JSON", pinoJson], ["OpenTelemetry logs (batch)", otelLogs]];
const rounds = Object.fromEntries(peers.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, make] of peers) {
    const [call, done] = make();
    rounds[name].push(await measure(call));
    await done();
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const report = Object.fromEntries(
  Object.entries(rounds).map(([name, runs]) => [
    name,
    { p50_us: Math.min(...runs.map((r) => r.p50_us)), p99_us: median(runs.map((r) => r.p99_us)), rounds: runs.map((r) => r.p50_us) },
  ]),
);
const ours = report["mcpdiag emit()"].p50_us;
for (const [name, row] of Object.entries(report)) {
  const ratio = name.startsWith("mcpdiag") ? "" : `  (emit = ${(ours / row.p50_us).toFixed(2)}x)`;
  console.log(`${name.padEnd(28)} p50 ${row.p50_us.toFixed(3)} µs  p99 ${row.p99_us.toFixed(3)} µs${ratio}`);
}
if (jsonAt !== -1) writeFileSync(args[jsonAt + 1], JSON.stringify(report, null, 2));
