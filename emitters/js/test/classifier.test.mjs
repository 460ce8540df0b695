// The classifier over real error objects of both SDK lines, Node and undici: cause chains, AggregateErrors,
// hostile objects; each shape gets the code the Python classifier gives its Python counterpart.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { connect } from "node:net";
import { McpError, ErrorCode } from "@modelcontextprotocol/sdk/types.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SseError } from "@modelcontextprotocol/sdk/client/sse.js";
import { UnauthorizedError as V1Unauthorized } from "@modelcontextprotocol/sdk/client/auth.js";
import { InvalidGrantError, ServerError as V1OAuthServerError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import * as v2 from "@modelcontextprotocol/client";
import { CATALOG, classify, classificationFor, errorChain } from "../dist/index.js";
import { freePort } from "./support/stubs.mjs";

const code = (err, options) => classify(err, options).code;
const fetchFailed = (cause) => new TypeError("fetch failed", { cause });
const nodeError = (message, props) => Object.assign(new Error(message), props);

describe("Node and undici errors", () => {
  it("a real DNS failure of a .invalid name, as fetch wraps it, is MCP_DNS_FAILURE", async () => {
    const err = await lookup("zoo-server.invalid").catch((e) => e);
    assert.equal(err.code, "ENOTFOUND");
    assert.equal(code(fetchFailed(err)), "MCP_DNS_FAILURE");
    const again = classify(fetchFailed(nodeError("getaddrinfo EAI_AGAIN x", { code: "EAI_AGAIN", syscall: "getaddrinfo" })));
    assert.equal(again.code, "MCP_DNS_FAILURE");
    assert.equal(again.retryable, true, "a resolver hiccup is worth retrying");
  });

  it("a real refused connection is MCP_CONNECTION_REFUSED, also inside an AggregateError (happy eyeballs)", async () => {
    const port = await freePort();
    const err = await new Promise((resolve) => connect(port, "127.0.0.1").on("error", resolve));
    assert.equal(err.code, "ECONNREFUSED");
    assert.equal(code(fetchFailed(err)), "MCP_CONNECTION_REFUSED");
    const group = new AggregateError([nodeError("connect ECONNREFUSED ::1", { code: "ECONNREFUSED" }), err]);
    assert.equal(code(fetchFailed(group)), "MCP_CONNECTION_REFUSED");
    assert.equal(code(fetchFailed(err), { proxyInUse: true }), "MCP_PROXY_SSE_ISSUE");
  });

  for (const tls of ["DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN"]) {
    it(`TLS ${tls} is MCP_TLS_ERROR`, () => {
      assert.equal(code(fetchFailed(nodeError("certificate problem", { code: tls }))), "MCP_TLS_ERROR");
    });
  }

  for (const [errCode, expected] of [
    ["ETIMEDOUT", "MCP_TIMEOUT"],
    ["UND_ERR_CONNECT_TIMEOUT", "MCP_TIMEOUT"],
    ["UND_ERR_HEADERS_TIMEOUT", "MCP_TIMEOUT"],
    ["UND_ERR_BODY_TIMEOUT", "MCP_TIMEOUT"],
    ["ECONNRESET", "MCP_CONNECTION_REFUSED"],
    ["UND_ERR_SOCKET", "MCP_CONNECTION_REFUSED"],
  ]) {
    it(`${errCode} before a session is ${expected}`, () => {
      assert.equal(code(fetchFailed(nodeError(errCode, { code: errCode }))), expected);
    });
  }

  it("a reset stream is a proxy cut once a session exists, and a dead process on stdio", () => {
    const reset = fetchFailed(nodeError("other side closed", { code: "UND_ERR_SOCKET" }));
    assert.equal(code(reset, { sessionEstablished: true }), "MCP_PROXY_SSE_ISSUE");
    assert.equal(code(nodeError("write EPIPE", { code: "EPIPE" }), { transport: "stdio" }), "MCP_PROCESS_EXITED");
  });

  it("AbortSignal.timeout's TimeoutError is MCP_TIMEOUT, and so is a bare abort", async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    assert.equal(signal.reason.name, "TimeoutError");
    assert.equal(code(signal.reason), "MCP_TIMEOUT");
    assert.equal(code(fetchFailed(signal.reason)), "MCP_TIMEOUT");
    const controller = new AbortController();
    controller.abort();
    assert.equal(code(controller.signal.reason), "MCP_TIMEOUT");
  });

  it("stdio spawn errors are MCP_STDIO_SPAWN_FAILED only on stdio before a session", () => {
    for (const errno of ["ENOENT", "EACCES", "ENOEXEC"]) {
      const err = nodeError(`spawn x ${errno}`, { code: errno, syscall: "spawn x" });
      assert.equal(code(err, { transport: "stdio", touchpoint: "connect" }), "MCP_STDIO_SPAWN_FAILED");
      assert.notEqual(code(err, { transport: "stdio", touchpoint: "tool_call", sessionEstablished: true }), "MCP_STDIO_SPAWN_FAILED");
    }
  });
});

describe("SDK v1 errors", () => {
  it("McpError codes map as Python's 1.x McpError", () => {
    assert.equal(code(new McpError(ErrorCode.RequestTimeout, "Request timed out")), "MCP_TIMEOUT");
    assert.equal(code(new McpError(ErrorCode.ConnectionClosed, "Connection closed")), "MCP_CONNECTION_REFUSED");
    assert.equal(code(new McpError(ErrorCode.ConnectionClosed, "Connection closed"), { transport: "stdio" }), "MCP_PROCESS_EXITED");
    assert.equal(code(new McpError(-32000, "overloaded")), "MCP_SERVER_ERROR");
    assert.equal(code(new McpError(ErrorCode.InvalidParams, "Unknown tool: x"), { touchpoint: "tool_call" }), "MCP_TOOL_ERROR");
    assert.equal(code(new McpError(ErrorCode.ParseError, "bad json"), { transport: "stdio" }), "MCP_INSPECTION_FAILED");
    assert.equal(code(new McpError(ErrorCode.InternalError, "boom")), "MCP_SERVER_ERROR");
  });

  for (const [status, expected] of [[401, "MCP_AUTH_REQUIRED"], [404, "MCP_ENDPOINT_NOT_FOUND"], [421, "MCP_DOMAIN_NOT_ALLOWED"], [429, "MCP_RATE_LIMITED"], [500, "MCP_SERVER_ERROR"], [502, "MCP_PROXY_SSE_ISSUE"], [504, "MCP_PROXY_SSE_ISSUE"]]) {
    it(`StreamableHTTPError ${status} and SseError ${status} without a hook are ${expected}`, () => {
      assert.equal(code(new StreamableHTTPError(status, "Error POSTing to endpoint: x")), expected);
      assert.equal(code(new SseError(status, `Non-200 status code (${status})`)), expected);
    });
  }

  it("an HTML body in a v1 error is seen as a page; 404 after a session is an expired session", () => {
    assert.equal(code(new StreamableHTTPError(503, "Error POSTing to endpoint: <html><body>down</body></html>"), { proxyInUse: true }), "MCP_PROXY_SSE_ISSUE");
    assert.equal(code(new StreamableHTTPError(404, "not found"), { sessionEstablished: true }), "MCP_SESSION_EXPIRED");
    assert.equal(code(new StreamableHTTPError(-1, "Unexpected content type: text/html")), "MCP_PROXY_SSE_ISSUE");
  });

  it("UnauthorizedError is MCP_AUTH_REQUIRED; token-endpoint OAuth errors are MCP_OAUTH_FAILED", () => {
    assert.equal(code(new V1Unauthorized("No auth provider")), "MCP_AUTH_REQUIRED");
    assert.equal(code(new InvalidGrantError("code expired")), "MCP_OAUTH_FAILED");
    assert.equal(code(new V1OAuthServerError("boom")), "MCP_OAUTH_FAILED");
  });
});

describe("SDK v2 errors", () => {
  it("SdkError codes map like their v1 counterparts", () => {
    assert.equal(code(new v2.SdkError(v2.SdkErrorCode.RequestTimeout, "Request timed out")), "MCP_TIMEOUT");
    assert.equal(code(new v2.SdkError(v2.SdkErrorCode.ConnectionClosed, "Connection closed")), "MCP_CONNECTION_REFUSED");
    assert.equal(code(new v2.SdkError(v2.SdkErrorCode.ConnectionClosed, "Connection closed"), { transport: "stdio" }), "MCP_PROCESS_EXITED");
    assert.equal(code(new v2.SdkError(v2.SdkErrorCode.ClientHttpUnexpectedContent, "Unexpected content type: text/html")), "MCP_PROXY_SSE_ISSUE");
    assert.equal(code(new v2.SdkError(v2.SdkErrorCode.InvalidResult, "bad tools")), "MCP_INSPECTION_FAILED");
  });

  for (const [status, expected] of [[401, "MCP_AUTH_REQUIRED"], [403, "MCP_DOMAIN_NOT_ALLOWED"], [404, "MCP_ENDPOINT_NOT_FOUND"], [429, "MCP_RATE_LIMITED"], [503, "MCP_SERVER_ERROR"], [502, "MCP_PROXY_SSE_ISSUE"]]) {
    it(`SdkHttpError ${status} without a hook is ${expected}`, () => {
      const err = new v2.SdkHttpError(v2.SdkErrorCode.ClientHttpNotImplemented, "Error POSTing to endpoint", { status, text: "" });
      assert.equal(code(err), expected);
      assert.equal(classify(err).httpStatus, status);
    });
  }

  it("ProtocolError from a tool call is MCP_TOOL_ERROR; OAuth errors and scopes are told apart", () => {
    assert.equal(code(new v2.ProtocolError(-32602, "Unknown tool"), { touchpoint: "tool_call" }), "MCP_TOOL_ERROR");
    assert.equal(code(new v2.ProtocolError(-32601, "Not Found")), "MCP_ENDPOINT_NOT_FOUND");
    assert.equal(code(new v2.OAuthError(v2.OAuthErrorCode.InvalidGrant, "bad code")), "MCP_OAUTH_FAILED");
    assert.equal(code(new v2.UnauthorizedError("needs auth")), "MCP_AUTH_REQUIRED");
    assert.equal(code(new v2.InsufficientScopeError("tools:write")), "MCP_AUTH_REQUIRED");
  });
});

describe("what the hooks saw", () => {
  const sdkError = new v2.SdkError(v2.SdkErrorCode.RequestTimeout, "Request timed out");

  it("an observed status decides over the SDK's generic error, with the Python status rules", () => {
    const seen = (status, extra = {}) => code(sdkError, { http: { status, method: "POST", url: "http://127.0.0.1/mcp", ...extra } });
    assert.equal(seen(403, { wwwAuthenticate: 'Bearer error="insufficient_scope"' }), "MCP_AUTH_REQUIRED");
    assert.equal(seen(403, { contentType: "text/html" }), "MCP_DOMAIN_NOT_ALLOWED");
    assert.equal(seen(407), "MCP_PROXY_SSE_ISSUE");
    assert.equal(seen(405), "MCP_ENDPOINT_NOT_FOUND");
    assert.equal(seen(500, { contentType: "text/html", viaProxy: true }), "MCP_PROXY_SSE_ISSUE");
    assert.equal(seen(307, { location: "https://login.example.com/sso" }), "MCP_PROXY_SSE_ISSUE");
    assert.equal(seen(200, { streamCut: true, contentType: "text/event-stream" }), "MCP_PROXY_SSE_ISSUE");
    const limited = classify(sdkError, { http: { status: 429, retryAfter: "7" } });
    assert.equal(limited.retryable, true);
    assert.equal(limited.attrs.retry_after, "7");
  });

  it("OAuth metadata endpoints failing during sign-in are MCP_OAUTH_FAILED; a timeout there is MCP_OAUTH_TIMEOUT", () => {
    const http = { status: 500, url: "http://127.0.0.1/.well-known/oauth-protected-resource" };
    assert.equal(code(new Error("HTTP 500 trying to load metadata"), { touchpoint: "oauth", http }), "MCP_OAUTH_FAILED");
    const late = Object.assign(new Error("sign-in not completed"), { name: "OAuthTimeoutError" });
    assert.equal(code(late, { touchpoint: "oauth" }), "MCP_OAUTH_TIMEOUT");
  });

  it("the stderr tail and the hook's observation go to detail, redacted; messageSafe never holds error text", () => {
    const secret = "ghp_" + "a1B2".repeat(9);
    const found = classify(new McpError(-32000, `Connection closed ${secret}`), {
      server: "github",
      transport: "stdio",
      stderrTail: `fatal: token ${secret} rejected`,
    });
    assert.equal(found.code, "MCP_PROCESS_EXITED");
    assert.match(found.detail, /stderr \(tail\):\nfatal: token \[REDACTED:github_token\] rejected/);
    assert.ok(!found.detail.includes(secret));
    assert.equal(found.messageSafe, CATALOG.MCP_PROCESS_EXITED.message.replace("{server}", "github"));
  });
});

describe("chains and hostile objects", () => {
  it("cause cycles, deep chains and non-errors are walked once and bounded", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    a.cause = b;
    assert.equal(errorChain(a).length, 2);
    let deep = nodeError("refused", { code: "ECONNREFUSED" });
    for (let i = 0; i < 10; i++) deep = new Error(`wrap ${i}`, { cause: deep });
    assert.equal(code(deep), "MCP_CONNECTION_REFUSED");
    assert.equal(code("a string was thrown"), "MCP_INTERNAL_ERROR");
    assert.equal(code(undefined), "MCP_INTERNAL_ERROR");
  });

  it("an object whose getters throw is classified, never thrown back", () => {
    const hostile = new Proxy(new Error("x"), { get() { throw new Error("boom"); } });
    const found = classify(hostile, { server: "s" });
    assert.equal(found.code, "MCP_INTERNAL_ERROR");
    assert.ok(found.messageSafe.startsWith("Something unexpected went wrong with s."));
  });

  it("an error that already carries a classification passes through", () => {
    const passed = classificationFor("MCP_RATE_LIMITED", { server: "s" });
    assert.equal(classify(new Error("host", { cause: Object.assign(new Error("x"), { classification: passed }) })).code, "MCP_RATE_LIMITED");
  });
});
