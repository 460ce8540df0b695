// The shared redaction vectors: made at test time by the Python generator (fresh secrets, the Python
// redactor's output as the expectation); the JS redactor must give the same output for every one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redactor, redactEvent, redactText } from "../dist/index.js";
import { PYTHON, REPO } from "./support/helpers.mjs";

function vectors() {
  let path = process.env.MCPDIAG_REDACTION_VECTORS;
  let dir;
  if (!path) {
    // Run alone (npm test): make them now, the way `make test` does before `node --test`.
    dir = mkdtempSync(join(tmpdir(), "mcpdiag-vectors-"));
    path = join(dir, "vectors.json");
    execFileSync(PYTHON, ["-m", "mcpdiag.emitters.catalog_json", "--vectors", path], { cwd: REPO });
  }
  try {
    return JSON.parse(readFileSync(path, "utf8")).vectors;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const VECTORS = vectors();

test("there are vectors for every case and every kind of secret", () => {
  assert.ok(VECTORS.length >= 100, `${VECTORS.length} vectors`);
  assert.ok(VECTORS.some((v) => v.knownSecrets.length));
});

for (const v of VECTORS.slice(0, VECTORS.length)) {
  test(`vector ${v.name}: the JS redactor agrees with the Python one`, () => {
    const got = redactText(v.input, { knownSecrets: v.knownSecrets });
    assert.equal(got, v.expected);
    for (const secret of v.secrets) assert.ok(!got.includes(secret), "a generated secret survived");
    // Idempotent: a second pass changes nothing.
    assert.equal(redactText(got, { knownSecrets: v.knownSecrets }), got);
  });
}

test("values under secret-named keys are replaced whole; null and booleans stay", () => {
  const [out, counts] = redactEvent({ attrs: { apiKey: "x".repeat(12), clientSecret: 42, password: null, token: true, note: "ok" } });
  assert.deepEqual(out, { attrs: { apiKey: "[REDACTED:secret_key]", clientSecret: "[REDACTED:secret_key]", password: null, token: true, note: "ok" } });
  assert.equal(counts.secret_key, 2);
});

test("adversarial inputs are redacted in one pass over long strings (linear patterns)", () => {
  const redactor = new Redactor();
  for (const text of ["token=" + "a".repeat(50000), "Bearer ".repeat(5000), "https://" + "a".repeat(30000) + "@", '{"password": "' + "\\".repeat(20000)]) {
    assert.equal(typeof redactor.text(text), "string");
  }
});
