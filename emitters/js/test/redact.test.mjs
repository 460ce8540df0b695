// The shared redaction vectors: made at test time by the Python generator (fresh secrets, sent through every
// encoding a case names, the Python redactor's output as the expectation); the JS redactor must give the same
// output, byte for byte, for every one: text and counts (in the order findLeaks names them), a second pass,
// and the walk over JSON values (keys, counts, pairs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { GATE_LITERALS, Redactor, findLeaks, redactEvent, redactText } from "../dist/index.js";
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
const shared = JSON.parse(readFileSync(new URL("../../catalog.json", import.meta.url), "utf8"));
const CLASSES = [...new Set(shared.redactionCases.map((c) => c.class))];
const byClass = Map.groupBy ? Map.groupBy(VECTORS, (v) => v.class) : group(VECTORS);

function group(items) {
  const out = new Map();
  for (const item of items) out.set(item.class, [...(out.get(item.class) ?? []), item]);
  return out;
}

const show = (value) => JSON.stringify(value).slice(0, 400);

/** What differs between the JS redactor's answer to `v` and the Python one's (empty: nothing). */
function mismatches(v) {
  const redactor = new Redactor(v.knownSecrets);
  const counts = {};
  const found = [];
  if (v.value) {
    const got = redactor.value(v.input, counts);
    if (!isDeepStrictEqual(got, v.expected)) found.push(`value: got ${show(got)}, want ${show(v.expected)}`);
    if (!isDeepStrictEqual(counts, v.counts)) found.push(`counts: got ${show(counts)}, want ${show(v.counts)}`);
    if (!v.survives && v.secrets.some((s) => JSON.stringify(got).includes(s))) found.push("a generated secret survived");
    return found;
  }
  const got = redactor.text(v.input, counts);
  if (got !== v.expected) found.push(`text: got ${show(got)}, want ${show(v.expected)}`);
  // Same rules, same counts, named in the same order.
  if (JSON.stringify(counts) !== JSON.stringify(v.counts)) found.push(`counts: got ${show(counts)}, want ${show(v.counts)}`);
  const again = redactor.text(got);
  if (again !== v.twice) found.push(`second pass: got ${show(again)}, want ${show(v.twice)}`);
  if (!v.survives && v.secrets.some((s) => got.includes(s))) found.push("a generated secret survived");
  if (got !== v.input && !redactor.mightContainSecret(v.input)) found.push("mightContainSecret said no");
  return found;
}

test("there are vectors of every class the catalog names, each class many", () => {
  assert.ok(VECTORS.length >= 3000, `${VECTORS.length} vectors`);
  for (const name of [...CLASSES, "token_formats", "context_secrets", "kept", "keys", "counts", "pairs", "unicode"]) {
    assert.ok((byClass.get(name) ?? []).length >= 6, `class ${name}: ${(byClass.get(name) ?? []).length} vectors`);
  }
  assert.deepEqual(new Set(VECTORS.map((v) => v.class)), new Set(CLASSES));
  assert.ok(VECTORS.some((v) => v.knownSecrets.length));
  const encodings = new Set(VECTORS.filter((v) => v.class === "token_formats").map((v) => v.encoding));
  assert.deepEqual(encodings, new Set(shared.redactionEncodings));
});

for (const name of CLASSES) {
  test(`vectors of class ${name}: the JS redactor agrees with the Python one`, () => {
    const failed = [];
    for (const v of byClass.get(name) ?? []) {
      const found = mismatches(v);
      if (found.length) failed.push(`${v.name}: ${found.join("; ")}\n    input ${show(v.input)}`);
    }
    const total = (byClass.get(name) ?? []).length;
    assert.equal(failed.length, 0, `${failed.length} of ${total} differ:\n${failed.slice(0, 12).join("\n")}`);
  });
}

test("the gate literals are the Python ones", () => {
  // A text holding none of them is returned as is: the gate has to agree for the outputs to.
  assert.deepEqual(GATE_LITERALS, [
    "%", "&", "-----begin", "-p", "-u", "@", "\\", "_", "aiza", "akia", "asia", "auth", "basic", "bearer", "code=",
    "cookie", "credential", "eyj", "glpat-", "hook", "key", "pass", "pwd", "secret", "session", "sig", "sk-", "token",
    "xapp", "xox", "ya29.",
  ]);
});

test("values under secret-named keys are replaced whole; null, booleans and counts stay", () => {
  const [out, counts] = redactEvent({ attrs: { apiKey: "x".repeat(12), clientSecret: 42, password: null, token: true, oauth: 3, note: "ok" } });
  assert.deepEqual(out, {
    attrs: { apiKey: "[REDACTED:secret_key]", clientSecret: "[REDACTED:secret_key]", password: null, token: true, oauth: 3, note: "ok" },
  });
  assert.equal(counts.secret_key, 2);
});

test("a __proto__ key is an own key of the copy, never its prototype", () => {
  const input = JSON.parse('{"__proto__": {"password": "hunter2hunter2"}, "n": 1}');
  const out = new Redactor().value(input, {});
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.keys(out), ["__proto__", "n"]);
  assert.deepEqual(out.__proto__, { password: "[REDACTED:secret_key]" });
});

test("the memory of clean strings is bounded and never holds a secret", () => {
  const redactor = new Redactor(["hunter2-corp-secret"]);
  for (let i = 0; i < 8300; i++) redactor.value({ detail: `message ${i}`, other: "pw=hunter2-corp-secret" }, {});
  redactor.value({ detail: "Authorization: Bearer " + "x9".repeat(20) }, {});
  const remembered = redactor.remembered();
  assert.ok(remembered.size > 0 && remembered.size <= 8192);
  assert.ok(![...remembered].some((text) => text.includes("hunter2") || text.includes("x9x9")));
});

test("a Kelvin sign before 'ey' ends (Python's assignment scan loops forever on it)", () => {
  const text = "\u212aey=abcdefgh1 and \u212aEY: x, api\u212aey=1";
  assert.equal(redactText(text), text);
  assert.deepEqual(findLeaks(text), []);
});

test("a known secret that cannot be UTF-8 (a lone surrogate) is still matched as it is, not thrown on", () => {
  const secret = "abc\ud800defgh";
  assert.equal(redactText(`x ${secret} y`, { knownSecrets: [secret] }), "x [REDACTED:known_secret] y");
});

test("a known secret of bytes that are not UTF-8 is found percent-encoded and in base64, as Python finds it", () => {
  // Python reads such bytes from the environment or a file as lone surrogates (`surrogateescape`); the forms
  // are those of the bytes (`secret_bytes`). Fresh secrets, Python's output the expectation.
  const script = `
import base64, json, secrets
from urllib.parse import quote
from mcpdiag.emitters import Redactor
out = []
for odd, handling in (("\\udcff", "surrogateescape"), ("\\udc80\\udce9", "surrogateescape"), ("\\ud800", "surrogatepass")):
    secret = secrets.token_hex(5) + odd + secrets.token_hex(4)
    raw = secret.encode("utf-8", handling)
    wrapped = b"cfg " + raw + b" end"
    for text in (f"GET /cb?state={quote(raw, safe='')}&page=2", "blob " + base64.b64encode(wrapped).decode(),
                 "blob " + base64.urlsafe_b64encode(wrapped).decode()):
        out.append({"secret": secret, "text": text, "expected": Redactor([secret]).text(text)})
print(json.dumps(out))
`;
  const cases = JSON.parse(execFileSync(PYTHON, ["-c", script], { cwd: REPO, encoding: "utf8" }));
  assert.equal(cases.length, 9);
  for (const c of cases) {
    assert.ok(c.expected.includes("[REDACTED:known_secret]"), c.text);
    assert.equal(redactText(c.text, { knownSecrets: [c.secret] }), c.expected, c.text);
  }
});

// Found in CI (Python): one ULID in about a million decoded, as base64, to bytes holding `PWD=`; redaction
// made the id `[REDACTED:encoded_secret]` and the collector refused the event. Bytes that do not read as text
// say such words by chance; a provider's token in them is still one.
test("random bytes that say a secret word by chance are not a secret, but a token in them is", async () => {
  const { redactText: redact } = await import("../dist/index.js");
  const { newEventId, newTraceId } = await import("../dist/ids.js");
  const { randomBytes, randomInt } = await import("node:crypto");
  const binaryWith = (planted) =>
    Buffer.concat([Buffer.alloc(9 + randomInt(6), 1), Buffer.from(planted, "latin1"), Buffer.alloc(9 + randomInt(6), 2)]);
  for (const word of ["PWD=", "key=", "token: ", "password="]) {
    for (let i = 0; i < 12; i++) {
      const run = binaryWith(word + "abc").toString("base64");
      assert.equal(redact(`id ${run} end`), `id ${run} end`, `${word} ${run}`);
    }
  }
  const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const token = "ghp_" + Array.from({ length: 36 }, () => alnum[randomInt(alnum.length)]).join("");
  assert.ok(redact(binaryWith(token).toString("base64")).includes("[REDACTED:encoded_secret]"));
  assert.equal(redact(Buffer.from("config PWD=" + randomBytes(12).toString("base64url")).toString("base64")), "[REDACTED:encoded_secret]");
  const ids = ["01M91HFSSEB7G11BXRD0FQ8P68", "01M91HFWMFQV0Q914A8GAEG3P0"];
  for (let i = 0; i < 20000; i++) ids.push(newEventId(1_700_000_000_000 + i), newTraceId());
  assert.deepEqual(ids.filter((id) => redact(id) !== id), []);
});
