// Allowed domains compare host names as a connection sees them: `new URL()` gives an international name in
// its ASCII form (punycode), so a list written in Unicode, in capitals or with a trailing dot must match it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { hostAllowed } from "../dist/index.js";

describe("hostAllowed", () => {
  const seen = new URL("http://BÜCHER.example./mcp").hostname.replace(/\.$/, ""); // what openSession checks

  for (const allowed of ["bücher.example", "xn--bcher-kva.example", "BÜCHER.example.", "*.bücher.example"]) {
    it(`an allowed ${JSON.stringify(allowed)} matches the name in every spelling`, () => {
      const hosts = allowed.startsWith("*.")
        ? ["www.bücher.example", "www.xn--bcher-kva.example"]
        : [seen, "bücher.example", "xn--bcher-kva.example", "Bücher.Example."];
      for (const host of hosts) assert.equal(hostAllowed(host, [allowed]), true, host);
    });
  }

  it("other names stay refused", () => {
    assert.equal(hostAllowed("bucher.example", ["bücher.example"]), false);
    assert.equal(hostAllowed("bücher.example", ["*.bücher.example"]), false);
    assert.equal(hostAllowed("evil-bücher.example", ["*.bücher.example"]), false);
  });
});
