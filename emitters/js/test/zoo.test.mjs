// The failure zoo in Node: real SDK sessions (v1 and v2) through openSession against loopback stubs and
// real TypeScript SDK servers; each failure must leave with the code the Python emitter gives it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { Agent, fetch as undiciFetch } from "undici";
import { openSession } from "../dist/index.js";
import { SDK_LINES, capture, checkEvent, checkFailure, failure, planted, tlsMaterial } from "./support/helpers.mjs";
import { freePort, startStubs, startTlsStubs } from "./support/stubs.mjs";
import { STDIO_SERVER, startSseServer, startStreamableServer } from "./support/servers.mjs";

// Generous for answers that come at once (a loaded CI machine must not turn them into timeouts); scenarios
// that end by a timeout set their own short bound.
const FAST = { timeoutMs: 8000 };
const table = {};
const record = (line, scenario, code) => ((table[scenario] ??= {})[line] = code);

let stubs, tls, servers;
before(async () => {
  const material = tlsMaterial();
  stubs = await startStubs();
  tls = {
    ca: material.ca,
    selfSigned: await startTlsStubs(material.selfSigned),
    expired: await startTlsStubs(material.expired),
    wrongHost: await startTlsStubs(material.wrongHost),
    unknownCa: await startTlsStubs(material.unknownCa),
  };
  servers = {
    receivedHttp: [],
    receivedSse: [],
  };
  servers.http = await startStreamableServer(servers.receivedHttp);
  servers.sse = await startSseServer(servers.receivedSse);
});

after(async () => {
  await stubs.close();
  for (const name of ["selfSigned", "expired", "wrongHost", "unknownCa"]) await tls[name].close();
  await servers.http.close();
  await servers.sse.close();
  if (process.env.MCPDIAG_ZOO_TABLE) writeFileSync(process.env.MCPDIAG_ZOO_TABLE, JSON.stringify(table, null, 1));
});

async function httpFailure(line, cap, secrets, url, options = {}) {
  return failure(async () => {
    const session = await openSession("zoo", { emitter: cap.emitter, url, headers: secrets.headers, sdk: line, ...FAST, ...options });
    try {
      await session.listTools();
    } finally {
      await session.close();
    }
  });
}

const STUB_SCENARIOS = [
  ["401", "MCP_AUTH_REQUIRED", "401 with OAuth metadata"],
  ["401-bare", "MCP_AUTH_REQUIRED", "401 without OAuth metadata"],
  ["403-scope", "MCP_AUTH_REQUIRED", "403 insufficient_scope"],
  ["403-html", "MCP_DOMAIN_NOT_ALLOWED", "403 HTML block page"],
  ["407", "MCP_PROXY_SSE_ISSUE", "407 proxy authentication"],
  ["421", "MCP_DOMAIN_NOT_ALLOWED", "421 misdirected"],
  ["429", "MCP_RATE_LIMITED", "429 with Retry-After"],
  ["500", "MCP_SERVER_ERROR", "500"],
  ["503", "MCP_SERVER_ERROR", "503 JSON-RPC error body"],
  ["502", "MCP_PROXY_SSE_ISSUE", "502 HTML"],
  ["504", "MCP_PROXY_SSE_ISSUE", "504 HTML"],
  ["200-html", "MCP_PROXY_SSE_ISSUE", "HTML proxy page (200)"],
  ["200-text", "MCP_PROXY_SSE_ISSUE", "text/plain 200"],
  ["sse-cut", "MCP_PROXY_SSE_ISSUE", "event stream cut before any event"],
  ["redirect", "MCP_PROXY_SSE_ISSUE", "307 to an SSO login"],
  ["wrong-path", "MCP_ENDPOINT_NOT_FOUND", "wrong path (404)"],
];

const SSE_SCENARIOS = [
  ["401", "MCP_AUTH_REQUIRED", "SSE: 401"],
  ["403-html", "MCP_DOMAIN_NOT_ALLOWED", "SSE: 403 HTML block page"],
  ["407", "MCP_PROXY_SSE_ISSUE", "SSE: 407 proxy authentication"],
  ["429", "MCP_RATE_LIMITED", "SSE: 429"],
  ["502", "MCP_PROXY_SSE_ISSUE", "SSE: 502 HTML"],
  ["200-html", "MCP_PROXY_SSE_ISSUE", "SSE: stream answered with HTML"],
  ["sse-cut", "MCP_PROXY_SSE_ISSUE", "SSE: stream cut before the endpoint event"],
  ["wrong-path", "MCP_ENDPOINT_NOT_FOUND", "SSE: wrong path (404)"],
];

for (const line of SDK_LINES) {
  describe(`failure zoo on SDK ${line}`, { concurrency: 8 }, () => {
    for (const [name, code, scenario] of STUB_SCENARIOS) {
      it(`${scenario} is ${code} at connect`, async () => {
        const cap = capture();
        const secrets = planted();
        // A cut stream ends only by the request's timeout: the code comes from what the hook saw.
        const options = name === "sse-cut" ? { timeoutMs: 1500 } : {};
        const err = await httpFailure(line, cap, secrets, secrets.url(stubs.port, `/s/${name}`), options);
        record(line, scenario, err.code);
        const retryable = name === "429" ? true : undefined;
        const event = await checkFailure(cap, secrets, err, code, "connect", { retryable });
        // Node's fetch never shows a 407 (it is a network error there); every other status reaches the event.
        if (name !== "sse-cut" && name !== "407") assert.ok(event.httpStatus >= 200, "the status the hook saw is on the event");
      });
    }

    for (const [name, code, scenario] of SSE_SCENARIOS) {
      it(`${scenario} is ${code} at connect`, async () => {
        const cap = capture();
        const secrets = planted();
        const err = await httpFailure(line, cap, secrets, secrets.url(stubs.port, `/s/${name}`), { transport: "sse" });
        record(line, scenario, err.code);
        await checkFailure(cap, secrets, err, code, "connect", { retryable: name === "429" ? true : undefined });
      });
    }

    for (const transport of ["streamable-http", "sse"]) {
      it(`a silent server (${transport}) is MCP_TIMEOUT`, async () => {
        const cap = capture();
        const secrets = planted();
        const err = await httpFailure(line, cap, secrets, secrets.url(stubs.port, "/s/silent"), { transport, timeoutMs: 800 });
        record(line, `silent server (${transport})`, err.code);
        await checkFailure(cap, secrets, err, "MCP_TIMEOUT", "connect");
      });

      it(`a closed port (${transport}) is MCP_CONNECTION_REFUSED`, async () => {
        const cap = capture();
        const secrets = planted();
        const err = await httpFailure(line, cap, secrets, secrets.url(await freePort(), "/mcp"), { transport });
        record(line, `closed port (${transport})`, err.code);
        await checkFailure(cap, secrets, err, "MCP_CONNECTION_REFUSED", "connect");
      });
    }

    it("an unresolvable .invalid host is MCP_DNS_FAILURE", async () => {
      const cap = capture();
      const secrets = planted();
      const err = await httpFailure(line, cap, secrets, secrets.url(80, "/mcp", { host: "zoo-server.invalid" }));
      record(line, "DNS .invalid", err.code);
      await checkFailure(cap, secrets, err, "MCP_DNS_FAILURE", "connect");
    });

    for (const [name, trusted, scenario] of [
      ["selfSigned", false, "TLS self-signed"],
      ["unknownCa", false, "TLS unknown CA"],
      ["expired", true, "TLS expired"],
      ["wrongHost", true, "TLS wrong host"],
    ]) {
      it(`${scenario} is MCP_TLS_ERROR`, async () => {
        const cap = capture();
        const secrets = planted();
        // Expired and wrong-host certificates come from a CA the client trusts: only that check can fail.
        const agent = trusted ? new Agent({ connect: { ca: tls.ca } }) : undefined;
        const fetch = agent ? (url, init) => undiciFetch(url, { ...init, dispatcher: agent }) : undefined;
        const err = await httpFailure(line, cap, secrets, secrets.url(tls[name].port, "/s/401", { scheme: "https" }), { fetch });
        record(line, scenario, err.code);
        const event = await checkFailure(cap, secrets, err, "MCP_TLS_ERROR", "connect");
        assert.match(event.attrs.error_code, /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME/);
        await agent?.close();
      });
    }

    it("a host outside allowedDomains is MCP_DOMAIN_NOT_ALLOWED before any request", async () => {
      const cap = capture();
      const secrets = planted();
      const before = stubs.counter.requests;
      const err = await httpFailure(line, cap, secrets, secrets.url(stubs.port, "/s/silent"), {
        allowedDomains: ["*.example.com", "mcp.internal"],
      });
      record(line, "allow-list refusal", err.code);
      const event = await checkFailure(cap, secrets, err, "MCP_DOMAIN_NOT_ALLOWED", "connect", { caused: false });
      assert.equal(event.httpStatus, null);
      assert.equal(stubs.counter.requests, before);
    });

    it("a missing stdio command is MCP_STDIO_SPAWN_FAILED", async () => {
      const cap = capture();
      const secrets = planted();
      const err = await failure(() =>
        openSession("zoo", { emitter: cap.emitter, transport: "stdio", command: "/nonexistent/zoo-mcp-server", env: { API_KEY: secrets.envValue }, sdk: line, ...FAST }),
      );
      record(line, "stdio spawn failure", err.code);
      await checkFailure(cap, secrets, err, "MCP_STDIO_SPAWN_FAILED", "connect");
    });

    it("a stdio server exiting with a secret on stderr is MCP_PROCESS_EXITED, the tail redacted", async () => {
      const cap = capture();
      const secrets = planted();
      const script = "process.stderr.write('fatal: missing API_KEY (got ' + process.env.API_KEY + ')\\n'); process.exit(3)";
      const err = await failure(() =>
        openSession("zoo", { emitter: cap.emitter, command: process.execPath, args: ["-e", script], env: { API_KEY: secrets.envValue }, sdk: line, ...FAST }),
      );
      record(line, "stdio exit, secret on stderr", err.code);
      const event = await checkFailure(cap, secrets, err, "MCP_PROCESS_EXITED", "connect");
      assert.match(event.detail, /fatal: missing API_KEY \(got \[REDACTED:known_secret\]\)/);
    });

    it("a silent stdio server is MCP_TIMEOUT", async () => {
      const cap = capture();
      const secrets = planted();
      const err = await failure(() =>
        openSession("zoo", { emitter: cap.emitter, command: process.execPath, args: ["-e", "setTimeout(() => {}, 20000)"], sdk: line, timeoutMs: 800 }),
      );
      record(line, "silent stdio server", err.code);
      await checkFailure(cap, secrets, err, "MCP_TIMEOUT", "connect");
    });

    for (const transport of ["streamable-http", "sse", "stdio"]) {
      it(`a healthy session over ${transport} reports its lifecycle, returns and reports an isError result`, async () => {
        const cap = capture();
        const secrets = planted();
        const received = transport === "sse" ? servers.receivedSse : servers.receivedHttp;
        const target =
          transport === "stdio"
            ? { command: process.execPath, args: [STDIO_SERVER], env: { API_KEY: secrets.envValue } }
            : { url: secrets.url(transport === "sse" ? servers.sse.port : servers.http.port, transport === "sse" ? "/sse" : "/mcp") };
        const session = await openSession("zoo", { emitter: cap.emitter, transport, headers: secrets.headers, sdk: line, ...FAST, ...target });
        assert.equal(session.sdk, line);
        const tools = await session.listTools();
        assert.deepEqual(tools.tools.map((t) => t.name).sort(), ["echo", "fail", "slow"]);
        const ok = await session.callTool("echo", { text: "hi" });
        assert.ok(!ok.isError);
        assert.equal(session.lastDebugId, undefined);
        // A secret the session knows (the URL's token, the stdio env value) echoed by the tool is redacted.
        const known = transport === "stdio" ? secrets.envValue : secrets.token;
        const bad = await session.callTool("fail", { reason: `bad input ${known}` });
        assert.equal(bad.isError, true);
        await session.close();
        record(line, `success + tool isError (${transport})`, "MCP_CONNECTED, MCP_TOOL_ERROR");
        const event = await checkEvent(cap, secrets, "MCP_TOOL_ERROR", "tool_call");
        assert.equal(event.tool, "fail");
        assert.equal(event.transport, transport);
        assert.equal(session.lastDebugId, event.traceId);
        assert.deepEqual((await cap.events()).map((e) => e.code), ["MCP_CONNECTED", "MCP_TOOL_ERROR", "MCP_DISCONNECTED"]);
        for (const code of ["MCP_CONNECTED", "MCP_DISCONNECTED"]) await checkEvent(cap, secrets, code, "lifecycle");
        if (transport !== "stdio") {
          // The Debug ID is the trace id the server received in the call's `_meta.traceparent`.
          assert.ok(received.some((tp) => tp?.split("-")[1] === event.traceId), "the server saw the Debug ID");
        }
      });
    }

    it("a tool call past its timeout is MCP_TIMEOUT at tool_call", async () => {
      const cap = capture();
      const secrets = planted();
      const session = await openSession("zoo", { emitter: cap.emitter, url: secrets.url(servers.http.port, "/mcp"), sdk: line, ...FAST });
      const err = await failure(() => session.callTool("slow", { seconds: 5 }, { timeoutMs: 300 }));
      await session.close();
      record(line, "tool timeout", err.code);
      const event = await checkFailure(cap, secrets, err, "MCP_TIMEOUT", "tool_call");
      assert.equal(event.tool, "slow");
      assert.equal(session.lastDebugId, err.debugId);
      // The session ended in that failure: its disconnect says so (the card is then not a clean idle).
      const closed = (await cap.events()).filter((e) => e.code === "MCP_DISCONNECTED");
      assert.equal(closed.at(-1)?.attrs?.ended_by, "MCP_TIMEOUT");
    });

    it("a call that works after a failure makes the session's close a clean one", async () => {
      const cap = capture();
      const secrets = planted();
      const session = await openSession("zoo", { emitter: cap.emitter, url: secrets.url(servers.http.port, "/mcp"), sdk: line, ...FAST });
      await failure(() => session.callTool("slow", { seconds: 5 }, { timeoutMs: 300 }));
      await session.callTool("echo", { text: "back" });
      await session.close();
      const closed = (await cap.events()).filter((e) => e.code === "MCP_DISCONNECTED");
      assert.equal(closed.length, 1);
      assert.equal(closed[0].attrs?.ended_by, undefined);
    });

    it("an unknown tool is MCP_TOOL_ERROR", async () => {
      const cap = capture();
      const secrets = planted();
      const session = await openSession("zoo", { emitter: cap.emitter, url: secrets.url(servers.http.port, "/mcp"), sdk: line, ...FAST });
      let result;
      try {
        result = await session.callTool("no_such_tool", {});
      } catch (err) {
        result = err;
      }
      await session.close();
      const event = await checkEvent(cap, secrets, "MCP_TOOL_ERROR", "tool_call");
      record(line, "unknown tool", event.code);
      assert.equal(event.tool, "no_such_tool");
      assert.equal(session.lastDebugId, event.traceId);
      assert.ok(result.isError === true || result.code === "MCP_TOOL_ERROR");
    });
  });
}
