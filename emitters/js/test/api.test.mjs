// The public surface named by issue 23: hosts and checks depend on these names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as api from "../dist/index.js";

const CONTRACT = ["Emitter", "HttpSink", "MemorySink", "CallableSink", "openSession", "classify", "errorData", "MCPDiagnosticError", "CATALOG", "redactText"];

test("every contract name is exported, and package.json points at dist/index.js with types", () => {
  for (const name of CONTRACT) assert.ok(api[name] !== undefined, name);
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.name, "@mcpdiag/emitter");
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.exports["."], { types: "./dist/index.d.ts", import: "./dist/index.js" });
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), [], "no runtime dependency besides the optional SDK peers");
  for (const peer of ["@modelcontextprotocol/sdk", "@modelcontextprotocol/client"]) {
    assert.equal(pkg.peerDependenciesMeta[peer].optional, true);
    assert.ok(pkg.devDependencies[peer], `${peer} is a dev dependency, so tests run against it`);
  }
});

test("a CATALOG entry has the fields the issue names", () => {
  assert.deepEqual(Object.keys(api.CATALOG.MCP_TIMEOUT).sort(), ["action", "code", "failure", "message", "retryable", "severity", "title"]);
});

test("MCPDiagnosticError carries code, debugId, retryable, messageSafe, event and cause", () => {
  const cause = new Error("raw");
  const err = new api.MCPDiagnosticError("MCP_TIMEOUT", { debugId: "a".repeat(32), server: "github", cause });
  assert.equal(err.code, "MCP_TIMEOUT");
  assert.equal(err.retryable, true);
  assert.equal(err.messageSafe, "github took too long to answer. Try again in a moment.");
  assert.equal(err.message, `${err.messageSafe} (Debug ID: ${"a".repeat(32)})`);
  assert.equal(err.cause, cause);
  assert.equal(err.event, null);
  assert.ok(!JSON.stringify(err).includes("raw"));
});
