// Redaction work grows linearly with its input, whatever the input repeats: every gate literal, key word,
// separator, quote, escape and placeholder, alone or mixed (the JS twin of tests/emitters/test_redact_linear.py).
//
// Work is compared, not timed: the CPU time of one input against that of the same input four times as long
// (process.cpuUsage, the best of three), so a slow or busy machine slows both alike. Linear work grows about
// 4 times; a quadratic pattern grows 16 times. The factor allowed is 10, over a floor of 1 ms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GATE_LITERALS, Redactor } from "../dist/index.js";
import { TOKEN_RULES } from "../dist/redact-rules.js";

const FACTOR = 10;
const KB = 1024;

const WORDS = [
  "key", "token", "password", "pass", "secret", "auth", "session", "cookie", "signature", "apiKey",
  "Authorization", "Bearer", "Basic", "credential", "private_key", "client_secret", "sig", "code", "name",
  "value", "mysql", "sshpass", "curl", "hooks.slack.com/services/", "-----BEGIN PRIVATE KEY-----",
  "[REDACTED:jwt]", "eyJ", "AKIA", "AIza", "ghp_", "sk-", "xoxb-", "https://", "a.", "http://u:",
];
const SEPARATORS = [
  ..." \t\n=:;,&?#@/<>[]{}()\"'\\%-_.+",
  "%3D", "%25", '\\"', "\\\\", "\\u0022", "&quot;", "&#", "--", "-p", "-u", ": ", '="', '":"',
];
const ATOMS = [...new Set([...GATE_LITERALS, ...GATE_LITERALS.map((l) => l.toUpperCase()), ...WORDS, ...SEPARATORS])].sort();

// Inputs that were quadratic, or would be with a careless pattern: each is repeated to the size.
const KNOWN = [
  "key", "token", "pass=", "passport=", "?keyx=aaaa", "a.", "a.a@", "http://x:", "Bearer Bearer ",
  "-----BEGIN ", '"token": "', "'secret': '", 'password="', "<password>", "<password><![CDATA[", "&key=",
  "#token=", "%", "%3", "%25", "\\", '\\\\"', "\\u00", "&quot;", '"name": "Authorization", "value": "',
  '["token", "', "mysql ", "sshpass ", "curl -u a", "--token ", "-p", "hooks.slack.com/services/",
  // Base64 wrapped over many lines (a PEM blob): every line began a run read through every line after it.
  "A".repeat(64) + "\n", "A".repeat(64) + "\\n", "A".repeat(76) + "\r\n", "QUFB".repeat(16) + "\n", "A".repeat(16) + "\n",
  "_".repeat(16) + "\n", "a".repeat(64) + "\r\n",
  "eyJaaaaa.", "eyJ_", "eyJgho_", "ghp_", "[REDACTED:x]", "token=[REDACTED:a]", "x".repeat(50) + "=", "aws_secret_access_key=",
  // JS-only bounds: a window searched backwards, astral characters, a Kelvin sign, long name runs.
  "a:password=", "<a:b:token>", "😀<password>", "\u212aey=", "é" + "a".repeat(40) + "_token=", "--password\u00a0",
];

const REDACTOR = new Redactor(["kn0wn-secret-value"]);
const text = (input) => REDACTOR.text(input);
const event = (input) => REDACTOR.value({ tool: input, detail: input, attrs: { [input]: input, list: [input] } }, {});

function cost(work, input) {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = process.cpuUsage();
    work(input);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  return best;
}

function assertLinear(work, unit, size) {
  const small = unit.repeat(Math.floor(size / unit.length) + 1);
  work(small); // compiled and warm before either is measured
  // CPU time counts V8's collector threads too: a collection of the large input's strings can land in one
  // pair. A pair is measured again before the test fails (quadratic work fails every pair: 16x, not 4x).
  let a = 0;
  let b = 0;
  for (let pair = 0; pair < 3; pair++) {
    a = cost(work, small);
    b = cost(work, small.repeat(4));
    if (b <= FACTOR * Math.max(a, 1e-3)) return;
  }
  assert.fail(`${JSON.stringify(unit)} x ${size / KB} KB: ${(a * 1e3).toFixed(1)} ms, x4: ${(b * 1e3).toFixed(1)} ms`);
}

test("known adversarial repetitions are linear, in text and in events", () => {
  for (const unit of KNOWN) {
    for (const size of [4 * KB, 64 * KB]) assertLinear(text, unit, size);
    assertLinear(event, unit, 16 * KB);
  }
});

test("any repeated mix of literals, words, separators and escapes is linear", () => {
  // A fixed seed: the same 60 mixes on every run (hypothesis draws them in the Python twin).
  let seed = 20261121;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let n = 0; n < 60; n++) {
    const length = 1 + Math.floor(next() * 6);
    const unit = Array.from({ length }, () => ATOMS[Math.floor(next() * ATOMS.length)]).join("");
    assertLinear(text, unit, 64 * KB);
  }
});

test("mixed realistic noise is linear", () => {
  const unit = 'key=a "token": [x, <password>p</password> Bearer ab%3D ghp_ \\"pass\\": &quot; ';
  for (const size of [1 * KB, 16 * KB, 64 * KB]) assertLinear(text, unit, size);
});

// What can join a token's prefix to the text around it: a prefix glued to itself again and again by one of
// these is a run of candidates, each of which a rule may read to the run's end (`eyJ_` was quadratic: a
// JWT's body takes `_` and `-`, and every `eyJ` after one was read to the end of the run again).
const JOINERS = ["", "_", "-", ".", "0", "=", "/"];
const SPELLED = ["eyJ", "AIza", "AKIA", "GHP_", "Glpat-", "XOXB-", "SK-"];
const GLUED = [...new Set([...GATE_LITERALS, ...SPELLED].flatMap((lit) => JOINERS.map((j) => lit + j)))].sort();

test("every gate literal glued to itself by a joiner is linear", () => {
  for (const unit of GLUED) assertLinear(text, unit, 16 * KB);
});

// The edits of a rule found by its head's own search, match after match (quadratic where a run holds many
// candidates, exact by definition): the same rule without its candidate-by-candidate search.
function searched(rule, input) {
  const plain = Object.assign(Object.create(Object.getPrototypeOf(rule)), rule, { byRun: null });
  const out = [];
  plain.edits(input, input.toLowerCase(), new Set(), out);
  return out;
}

test("a rule tried candidate by candidate finds what its search finds", () => {
  const byRun = TOKEN_RULES.filter((rule) => rule.byRun !== null && rule.byRun !== undefined);
  assert.deepEqual(byRun.map((rule) => rule.name), ["jwt"]);
  // Every text of up to seven pieces: candidates that fail on a short body, on too few dots, inside a run or
  // after a dot, and ones that match.
  const pieces = ["eyJ", "eyJabcde", "_", ".", " "];
  let texts = [""];
  const all = [""];
  for (let n = 1; n <= 7; n++) {
    texts = texts.flatMap((t) => pieces.map((p) => t + p));
    all.push(...texts);
  }
  for (const rule of byRun) {
    for (const input of all) {
      const found = [];
      rule.edits(input, input.toLowerCase(), new Set(), found);
      assert.deepEqual(found, searched(rule, input), input);
    }
  }
});

test("a cut before redaction is linear in its limit, where a run of token characters meets another character", async () => {
  // `cutForRedaction` drops the run of token characters a cut goes through; an end-anchored regex retried
  // from every start of the run (4 KB of `a`, then `!`) blocked the event loop for 380 ms an event.
  const { cutForRedaction } = await import("../dist/chain.js");
  const cut = (limit) => () => {
    for (const end of ["!", " ", "\u00e9", ""]) cutForRedaction("a".repeat(limit - 1) + end + "a".repeat(64), limit);
  };
  for (const limit of [4 * KB, 16 * KB]) {
    let best = Infinity;
    let bestLarge = Infinity;
    for (let i = 0; i < 3; i++) {
      let start = process.cpuUsage();
      cut(limit)();
      let used = process.cpuUsage(start);
      best = Math.min(best, (used.user + used.system) / 1e6);
      start = process.cpuUsage();
      cut(4 * limit)();
      used = process.cpuUsage(start);
      bestLarge = Math.min(bestLarge, (used.user + used.system) / 1e6);
    }
    assert.ok(bestLarge <= FACTOR * Math.max(best, 1e-3), `limit ${limit}: ${best * 1e3} ms, x4: ${bestLarge * 1e3} ms`);
  }
  assert.equal(cutForRedaction("ab cd" + "x".repeat(20), 10), "ab ");
  assert.equal(cutForRedaction("ab cd!" + "x".repeat(20), 6), "ab cd!");
});
