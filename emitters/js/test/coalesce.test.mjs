// Coalescing at the Node emitter, the Python emitter's rule: identical failures within the window are the
// first event (sent at once) plus one follow-up with count, firstTs and lastTs; nothing is lost at flush or
// close, and the counts are exact.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CallableSink, Emitter, MemorySink } from "../dist/index.js";

const WINDOW = 10_000;

function clock() {
  const c = { now: 1_000_000, read: () => c.now, advance: (ms) => { c.now += ms; } };
  return c;
}

function emitterWith(sink, c, options = {}) {
  return new Emitter(sink, { service: "coalesce-test", flushIntervalMs: 5, coalesceWindowMs: WINDOW, monotonic: c.read, ...options });
}

function fail(emitter, fields = {}) {
  const { code = "MCP_CONNECTION_REFUSED", ...rest } = fields;
  return emitter.emit(code, { server: "jira", touchpoint: "connect", userId: "alice", ...rest });
}

const occurrences = (events) => events.reduce((n, e) => n + (e.count ?? 1), 0);

async function until(condition, what) {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("coalescing", () => {
  it("sends the first failure at once and its repeats as one follow-up when the window ends", async () => {
    const sink = new MemorySink();
    const c = clock();
    const emitter = emitterWith(sink, c);
    const first = fail(emitter);
    await until(() => sink.events.length === 1, "the first occurrence");
    assert.equal(sink.events[0].traceId, first);
    assert.equal(sink.events[0].count, undefined);
    const repeats = [0, 1, 2, 3].map((n) => fail(emitter, { attrs: { attempt: n } }));
    await until(() => emitter.stats().held === 4, "the repeats to be held");
    assert.equal(sink.events.length, 1, "repeats wait for the window to end");
    c.advance(WINDOW);
    fail(emitter, { userId: "bob" }); // wakes the worker; a new user's first failure
    await until(() => sink.events.length === 3, "the follow-up");
    const followUp = sink.events.find((e) => e.count);
    assert.equal(followUp.count, 4);
    assert.equal(followUp.traceId, repeats.at(-1), "the Debug ID the user saw last");
    assert.equal(followUp.attrs.attempt, 3);
    assert.equal(followUp.lastTs, followUp.ts);
    assert.ok(followUp.firstTs <= followUp.lastTs);
    assert.equal(emitter.stats().coalesced, 4);
    assert.equal(emitter.pending, 0);
    await emitter.close();
  });

  it("delivers a window's follow-up by its timer, with nothing else emitted", async () => {
    const sink = new MemorySink();
    let now = 0;
    const emitter = new Emitter(sink, { service: "t", flushIntervalMs: 5, coalesceWindowMs: 30, monotonic: () => now });
    fail(emitter);
    fail(emitter);
    fail(emitter);
    await until(() => emitter.stats().held === 2, "the repeats to be held");
    now = 30;
    await until(() => sink.events.length === 2, "the follow-up from the timer");
    assert.deepEqual(sink.events.map((e) => e.count ?? 1), [1, 2]);
    await emitter.close();
  });

  for (const [field, value] of Object.entries({ server: "confluence", userId: "bob", code: "MCP_TIMEOUT", touchpoint: "tool_call", tool: "search", severity: "critical" })) {
    it(`never folds failures that differ in ${field}`, async () => {
      const sink = new MemorySink();
      const emitter = emitterWith(sink, clock());
      const ids = [fail(emitter), fail(emitter, { [field]: value })];
      assert.equal(await emitter.flush(), true);
      assert.deepEqual(sink.events.map((e) => e.traceId).sort(), ids.sort());
      assert.ok(sink.events.every((e) => e.count === undefined));
      await emitter.close();
    });
  }

  for (const [code, severity] of [["MCP_CONNECTED", undefined], ["MCP_OAUTH_STARTED", undefined], ["MCP_TIMEOUT", "info"], ["MCP_TIMEOUT", "debug"]]) {
    it(`passes ${code} at ${severity ?? "its default severity"} through one by one`, async () => {
      const sink = new MemorySink();
      const emitter = emitterWith(sink, clock());
      const ids = Array.from({ length: 5 }, () => fail(emitter, { code, severity }));
      assert.equal(await emitter.flush(), true);
      assert.deepEqual(sink.events.map((e) => e.traceId).sort(), ids.sort());
      await emitter.close();
    });
  }

  it("flush hands over what the windows hold and the counts stay exact", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink, clock());
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 50; n++) fail(emitter, { userId: `user-${n % 5}` });
      assert.equal(await emitter.flush(), true);
      assert.equal(emitter.stats().held, 0);
    }
    assert.equal(occurrences(sink.events), 150);
    assert.equal(sink.events.length, 5 * 4);
    await emitter.close();
  });

  it("close delivers every held repeat", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink, clock());
    for (let n = 0; n < 1000; n++) fail(emitter);
    await emitter.close();
    assert.equal(occurrences(sink.events), 1000);
    assert.equal(sink.events.length, 2);
    assert.equal(emitter.stats().droppedTotal, 0);
  });

  it("a window of 0 turns coalescing off; the default window is 10 s", async () => {
    const sink = new MemorySink();
    const emitter = emitterWith(sink, clock(), { coalesceWindowMs: 0 });
    const ids = Array.from({ length: 20 }, () => fail(emitter));
    assert.equal(await emitter.flush(), true);
    assert.deepEqual(sink.events.map((e) => e.traceId), ids);
    assert.equal(emitter.coalesceWindowMs, 0);
    await emitter.close();
    const defaults = new Emitter(new MemorySink(), { service: "t" });
    assert.equal(defaults.coalesceWindowMs, 10_000);
    await defaults.close();
  });

  it("what the sink hands back is delivered once and never folded again", async () => {
    let up = false;
    const sink = new MemorySink();
    const c = clock();
    const flaky = { send: (events) => (up ? sink.send(events) : { outcome: "retry", error: "down" }) };
    const emitter = emitterWith(flaky, c, { batchSize: 8 });
    const first = fail(emitter);
    for (let n = 0; n < 39; n++) {
      fail(emitter);
      fail(emitter, { userId: "bob" });
    }
    await until(() => emitter.stats().retriedBatches >= 2, "retries");
    c.advance(WINDOW);
    for (let n = 0; n < 10; n++) fail(emitter);
    up = true;
    assert.equal(await emitter.flush(20_000), true);
    assert.equal(occurrences(sink.events), 89);
    assert.equal(emitter.stats().droppedTotal, 0);
    assert.equal(new Set(sink.events.map((e) => e.id)).size, sink.events.length, "nothing is delivered twice");
    const alice = sink.events.filter((e) => e.userId === "alice");
    assert.equal(alice[0].traceId, first);
    assert.equal(occurrences(alice), 50);
    await emitter.close();
  });

  it("a sink that throws costs the follow-up, counted as dropped, never the host", async () => {
    const emitter = emitterWith(new CallableSink(() => { throw new Error("broken"); }), clock());
    for (let n = 0; n < 10; n++) fail(emitter);
    await emitter.close();
    assert.equal(emitter.stats().droppedTotal, 2); // the first event and the follow-up of 9
    assert.equal(emitter.stats().held, 0);
  });
});
