// A secret a length cut goes through is not left half in an event (an adversarial pass found 39 of a
// GitHub token's 40 characters, and 20 of a registered secret's 29, stored in `detail`): every cut of text
// the redactor sees later falls at a word end, or before the run of token characters it would split.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { Emitter, MemorySink, classify, openSession, Redactor } from "../dist/index.js";
import { clip, wordCut } from "../dist/chain.js";
import { startStreamableServer } from "./support/servers.mjs";

const FRAGMENT = 6;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const pick = (alphabet, n) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join("");

/** A registered secret of any printable characters but word ends, an opaque token, a GitHub token (made now). */
function planted() {
  return {
    registered: pick(ALNUM + "!@#$%^&*()_+-=/", 24),
    opaque: randomBytes(24).toString("base64url"),
    github: "ghp_" + pick(ALNUM, 36),
  };
}

/** Whether `text` holds a piece of `secret` longer than FRAGMENT without holding all of it. */
function holdsPart(text, secret) {
  if (text.includes(secret)) return false;
  for (let i = 0; i + FRAGMENT < secret.length; i++) if (text.includes(secret.slice(i, i + FRAGMENT + 1))) return true;
  return false;
}

describe("cuts keep no part of a secret", () => {
  let server;
  before(async () => {
    server = await startStreamableServer();
  });
  after(async () => {
    await server.close();
  });

  it("a tool's error text, cut at 500 characters, with secrets moved across the cut", async () => {
    const secrets = planted();
    const sink = new MemorySink();
    const emitter = new Emitter(sink, { service: "cuts", flushIntervalMs: 5, coalesceWindowMs: 0, knownSecrets: [secrets.registered] });
    const session = await openSession("cuts", { emitter, url: `http://127.0.0.1:${server.port}/mcp`, timeoutMs: 8000 });
    let calls = 0;
    try {
      for (let offset = 455; offset < 503; offset += 2) {
        for (const secret of Object.values(secrets)) {
          const result = await session.callTool("fail", { reason: "y".repeat(offset) + " " + secret + " trailing words" });
          assert.equal(result.isError, true);
          calls++;
        }
      }
    } finally {
      await session.close();
    }
    assert.equal(await emitter.flush(5000), true);
    const details = sink.events.filter((e) => e.code === "MCP_TOOL_ERROR").map((e) => e.detail ?? "");
    assert.equal(details.length, calls);
    for (const detail of details) {
      for (const [kind, secret] of Object.entries(secrets)) assert.ok(!holdsPart(detail, secret), `${kind}: ${detail.slice(-120)}`);
    }
    await emitter.close();
  });

  it("an error's message, cut in detail, and a long attr, cut after redaction", async () => {
    for (const [kind, secret] of Object.entries(planted())) {
      const redactor = new Redactor([secret]);
      const sink = new MemorySink();
      const emitter = new Emitter(sink, { service: "cuts", flushIntervalMs: 5, coalesceWindowMs: 0, knownSecrets: [secret] });
      for (let offset = 250; offset < 305; offset++) {
        const detail = classify(new Error("z".repeat(offset) + " " + secret + " and more"), { server: "cuts", touchpoint: "tool_call", redactor }).detail ?? "";
        assert.ok(!holdsPart(detail, secret), `${kind} at ${offset}: ${detail.slice(-120)}`);
      }
      for (let offset = 1000; offset < 1030; offset++) {
        emitter.emit("MCP_TOOL_ERROR", { server: "cuts", touchpoint: "tool_call", attrs: { body: "w".repeat(offset) + " " + secret + " tail" } });
      }
      assert.equal(await emitter.flush(5000), true);
      for (const event of sink.events) assert.ok(!holdsPart(String(event.attrs.body), secret), `${kind}: attr ${String(event.attrs.body).slice(-80)}`);
      await emitter.close();
    }
  });
});

describe("a cut never leaves a secret its context made redactable", () => {
  // Found by an adversarial review: a cut at a word end still dropped what made the secret one (the name after
  // a value, the closing quote, the rest of a registered secret), and the part kept was stored as it was.
  // Text is redacted before it is cut: at every cut position, no piece of the secret is left.
  const secret = randomBytes(18).toString("base64url");
  const pieces = [0, 5, 10, 15].map((i) => secret.slice(i, i + 5));
  const words = pieces.join(" ");
  const shapes = {
    "value first": [`sent {"value":"${secret}","name":"Authorization"} upstream`, [secret]],
    "quoted with spaces": [`config {"password": "${words}"} was refused`, pieces],
    "registered with spaces": [`the passphrase ${words} did not open it`, pieces],
  };
  const redactor = new Redactor([words]);
  for (const [shape, [tail, parts]] of Object.entries(shapes)) {
    for (const [name, cut] of [["wordCut", wordCut], ["clip", clip]]) {
      it(`${shape}, ${name}`, () => {
        const text = "x ".repeat(10) + tail;
        for (let limit = 2; limit <= text.length + 1; limit++) {
          const shortened = cut(text, limit, redactor);
          assert.ok(shortened.length <= limit, `${limit}: ${shortened}`);
          const kept = redactor.text(shortened);
          for (const part of parts) assert.ok(!kept.includes(part), `${limit}: ${kept}`);
        }
      });
    }
  }
});
