// The package's catalog is the shared contract (emitters/catalog.json, generated from the Python catalog).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CATALOG, FALLBACK_CODE, LIFECYCLE_CODES, RULE_NAMES, codeInfo, renderMessage } from "../dist/index.js";
import { CATALOG_DATA } from "../dist/catalog-data.js";

const shared = JSON.parse(readFileSync(new URL("../../catalog.json", import.meta.url), "utf8"));

test("the package's catalog is emitters/catalog.json, entry for entry (run scripts/sync-catalog.mjs when not)", () => {
  assert.deepEqual(Object.keys(CATALOG), Object.keys(shared.codes));
  for (const [code, entry] of Object.entries(shared.codes)) {
    assert.deepEqual({ ...CATALOG[code] }, entry, code);
    for (const field of ["code", "severity", "retryable", "action", "message", "title"]) assert.ok(field in CATALOG[code]);
  }
  for (const key of ["lifecycleCodes", "endedByAttr", "fallbackCode", "severities", "touchpoints", "transports", "actions", "wireFields", "limits", "redactionRules"]) {
    assert.deepEqual(CATALOG_DATA[key], shared[key], key);
  }
  assert.deepEqual([...LIFECYCLE_CODES].sort(), [...shared.lifecycleCodes].sort());
  assert.equal(FALLBACK_CODE, "MCP_INTERNAL_ERROR");
});

test("the redactor names exactly the rules the Python one does, in the same order", () => {
  assert.deepEqual(RULE_NAMES, shared.redactionRules);
});

test("catalog entries are frozen and unknown codes count as MCP_INTERNAL_ERROR", () => {
  assert.ok(Object.isFrozen(CATALOG) && Object.isFrozen(CATALOG.MCP_TIMEOUT));
  assert.equal(codeInfo("MCP_NO_SUCH_CODE").code, "MCP_INTERNAL_ERROR");
  assert.equal(codeInfo("toString").code, "MCP_INTERNAL_ERROR");
  assert.equal(renderMessage("MCP_TIMEOUT", "github"), "github took too long to answer. Try again in a moment.");
});
