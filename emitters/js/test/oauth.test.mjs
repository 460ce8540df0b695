// OAuth through the provider wrapper, on both SDK lines, against a real authorization server on loopback:
// sign-in reported (started, completed), bounded (MCP_OAUTH_TIMEOUT), failures classified, nothing leaked.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { openSession } from "../dist/index.js";
import { SDK_LINES, capture, checkEvent, checkFailure, failure } from "./support/helpers.mjs";
import { HostProvider, signIn, startOAuthZoo } from "./support/oauth.mjs";

const NONE = { values: [] };
let zoo;
before(async () => {
  zoo = await startOAuthZoo();
});
after(() => zoo.close());

function assertNeverLeaked(events) {
  const text = JSON.stringify(events.map((e) => [e.messageSafe, e.detail, e.attrs]));
  assert.ok(zoo.issued.length > 0);
  for (const value of zoo.issued) assert.ok(!text.includes(value), "an issued OAuth value leaked");
}

function connect(line, cap, mode, provider, options = {}) {
  return openSession("zoo", {
    emitter: cap.emitter,
    url: `${zoo.base}/m/${mode}/mcp`,
    authProvider: provider,
    waitForAuthorizationCode: (url) => signIn(url),
    sdk: line,
    timeoutMs: 8000,
    ...options,
  });
}

for (const line of SDK_LINES) {
  describe(`OAuth on SDK ${line}`, () => {
    it("a full sign-in reports MCP_OAUTH_STARTED and MCP_OAUTH_COMPLETED, then connects with the token", async () => {
      const cap = capture();
      const provider = new HostProvider("http://127.0.0.1:1/callback");
      const session = await connect(line, cap, "ok", provider);
      const tools = await session.listTools(); // only a token the authorization server issued gets here
      assert.ok(tools.tools.some((t) => t.name === "echo"));
      await session.close();
      const events = await cap.events();
      assert.deepEqual(events.map((e) => e.code), ["MCP_OAUTH_STARTED", "MCP_OAUTH_COMPLETED", "MCP_CONNECTED", "MCP_DISCONNECTED"]);
      const completed = await checkEvent(cap, NONE, "MCP_OAUTH_COMPLETED", "oauth");
      assert.ok(completed.durationMs >= 0);
      // The sign-in joins the trace of the connect that needed it.
      const ids = Object.fromEntries(events.map((e) => [e.code, e.traceId]));
      assert.equal(ids.MCP_OAUTH_STARTED, ids.MCP_CONNECTED);
      assert.equal(ids.MCP_OAUTH_COMPLETED, ids.MCP_CONNECTED);
      assert.equal(provider.redirects.length, 1, "the host's own provider still got the redirect");
      assertNeverLeaked(events);
    });

    it("a user who never finishes signing in is MCP_OAUTH_TIMEOUT at oauth", async () => {
      const cap = capture();
      const err = await failure(() =>
        connect(line, cap, "ok", new HostProvider("http://127.0.0.1:1/callback"), {
          waitForAuthorizationCode: () => new Promise(() => {}),
          oauthTimeoutMs: 200,
        }),
      );
      await checkFailure(cap, NONE, err, "MCP_OAUTH_TIMEOUT", "oauth");
      await checkEvent(cap, NONE, "MCP_OAUTH_STARTED", "oauth");
      assertNeverLeaked(await cap.events());
    });

    it("a token endpoint rejecting the code is MCP_OAUTH_FAILED, the code it echoes hidden", async () => {
      const cap = capture();
      const err = await failure(() => connect(line, cap, "bad-grant", new HostProvider("http://127.0.0.1:1/callback")));
      const event = await checkFailure(cap, NONE, err, "MCP_OAUTH_FAILED", "oauth");
      assert.match(event.detail, /invalid_grant|not valid/);
      assertNeverLeaked(await cap.events());
    });

    it("failing protected-resource metadata is MCP_OAUTH_FAILED, before any sign-in starts", async () => {
      const cap = capture();
      const err = await failure(() => connect(line, cap, "prm-500", new HostProvider("http://127.0.0.1:1/callback")));
      await checkFailure(cap, NONE, err, "MCP_OAUTH_FAILED", "oauth");
      assert.deepEqual((await cap.events()).map((e) => e.code), ["MCP_OAUTH_FAILED"]);
    });

    it("without a way to wait for the code, the session needs the user to sign in: MCP_AUTH_REQUIRED", async () => {
      const cap = capture();
      const err = await failure(() =>
        connect(line, cap, "ok", new HostProvider("http://127.0.0.1:1/callback"), { waitForAuthorizationCode: undefined }),
      );
      await checkFailure(cap, NONE, err, "MCP_AUTH_REQUIRED", "oauth");
    });
  });
}
