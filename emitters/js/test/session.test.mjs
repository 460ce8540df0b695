// openSession beyond the connect zoo, on both SDK lines: a server that dies (mid-call, or while idle),
// an invalid tool list, and the Debug ID as the trace the server received under an OpenTelemetry span.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { openSession } from "../dist/index.js";
import { SDK_LINES, capture, checkEvent, checkFailure, failure, planted } from "./support/helpers.mjs";
import { startStubs } from "./support/stubs.mjs";
import { startStreamableServer } from "./support/servers.mjs";

const SERVER_PROCESS = fileURLToPath(new URL("./support/http-server-process.mjs", import.meta.url));

async function serverProcess() {
  const child = spawn(process.execPath, [SERVER_PROCESS], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = await once(child.stdout, "data");
  return { child, port: Number(String(line).trim()) };
}

let stubs, recording, received;
before(async () => {
  stubs = await startStubs();
  received = [];
  recording = await startStreamableServer(received);
});
after(async () => {
  await stubs.close();
  await recording.close();
});

for (const line of SDK_LINES) {
  describe(`sessions on SDK ${line}`, () => {
    it("a server killed during a tool call is MCP_CONNECTION_REFUSED at tool_call", async () => {
      const cap = capture();
      const secrets = planted();
      const { child, port } = await serverProcess();
      const session = await openSession("zoo", { emitter: cap.emitter, url: secrets.url(port, "/mcp"), sdk: line, timeoutMs: 5000 });
      setTimeout(() => child.kill("SIGKILL"), 300);
      const err = await failure(() => session.callTool("slow", { seconds: 10 }));
      await session.close();
      const event = await checkFailure(cap, secrets, err, "MCP_CONNECTION_REFUSED", "tool_call");
      assert.equal(event.tool, "slow");
    });

    it("a server gone while the session was idle fails the next ping at transport", async () => {
      const cap = capture();
      const secrets = planted();
      const { child, port } = await serverProcess();
      const session = await openSession("zoo", { emitter: cap.emitter, url: secrets.url(port, "/mcp"), sdk: line, timeoutMs: 8000 });
      await session.listTools();
      child.kill("SIGKILL");
      await once(child, "exit");
      const err = await failure(() => session.ping());
      await session.close();
      const event = await checkFailure(cap, secrets, err, "MCP_CONNECTION_REFUSED", "transport");
      assert.equal(event.tool, null);
    });

    it("a server that initializes but lists malformed tools is MCP_INSPECTION_FAILED at inspection", async () => {
      const cap = capture();
      const secrets = planted();
      const session = await openSession("zoo", { emitter: cap.emitter, url: secrets.url(stubs.port, "/bad-tools"), sdk: line, timeoutMs: 8000 });
      const err = await failure(() => session.listTools());
      await session.close();
      await checkFailure(cap, secrets, err, "MCP_INSPECTION_FAILED", "inspection");
      assert.deepEqual((await cap.events()).filter((e) => e.touchpoint === "lifecycle").map((e) => e.code), ["MCP_CONNECTED", "MCP_DISCONNECTED"]);
    });

    it("under an active OpenTelemetry span, the Debug ID is that trace, and it is what the server received", async () => {
      const manager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(manager);
      try {
        const cap = capture();
        const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
        const span = trace.wrapSpanContext({ traceId, spanId: "00f067aa0ba902b7", traceFlags: 1 });
        await context.with(trace.setSpan(context.active(), span), async () => {
          const session = await openSession("zoo", { emitter: cap.emitter, url: `http://127.0.0.1:${recording.port}/mcp`, sdk: line });
          await session.callTool("fail", { reason: "no such order" });
          await session.close();
          assert.equal(session.lastDebugId, traceId);
        });
        const event = await checkEvent(cap, { values: [] }, "MCP_TOOL_ERROR", "tool_call");
        assert.equal(event.traceId, traceId);
        assert.ok(received.some((tp) => tp?.split("-")[1] === traceId), "the server got the span's trace id in _meta.traceparent");
      } finally {
        context.disable();
      }
    });
  });
}
