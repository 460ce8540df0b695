// An OAuth-protected MCP server on loopback with its own authorization server (metadata, dynamic client
// registration, authorize, token), in modes under /m/<mode>/: `ok`, `bad-grant` (token endpoint answers
// invalid_grant), `prm-500` (protected-resource metadata fails). Every value it issues is recorded.
import { createServer } from "node:http";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { zooServer } from "./servers.mjs";

const issue = (issued) => {
  const value = randomBytes(16).toString("hex");
  issued.push(value);
  return value;
};

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startOAuthZoo() {
  const issued = [];
  const codes = new Set();
  const tokens = new Set();
  let base = "";
  const json = (res, status, value, headers = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(value));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, base);
    const match = /^(?:\/\.well-known\/[\w-]+)?\/m\/([\w-]+)(\/.*)?$/.exec(url.pathname);
    if (!match) return json(res, 404, { error: "not_found" });
    const mode = match[1];
    const root = `${base}/m/${mode}`;
    if (url.pathname.startsWith("/.well-known/oauth-protected-resource")) {
      if (mode === "prm-500") return json(res, 500, { error: "server_error" });
      return json(res, 200, { resource: `${root}/mcp`, authorization_servers: [root] });
    }
    if (url.pathname.startsWith("/.well-known/oauth-authorization-server") || url.pathname.startsWith("/.well-known/openid-configuration")) {
      return json(res, 200, {
        issuer: root,
        authorization_endpoint: `${root}/authorize`,
        token_endpoint: `${root}/token`,
        registration_endpoint: `${root}/register`,
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["client_secret_post", "none"],
      });
    }
    const rest = match[2] ?? "/";
    if (rest === "/register" && req.method === "POST") {
      const meta = JSON.parse(await body(req));
      return json(res, 201, { ...meta, client_id: issue(issued), client_secret: issue(issued), client_id_issued_at: Math.floor(Date.now() / 1000) });
    }
    if (rest === "/authorize") {
      const code = issue(issued);
      codes.add(code);
      const back = new URL(url.searchParams.get("redirect_uri"));
      back.searchParams.set("code", code);
      back.searchParams.set("state", url.searchParams.get("state") ?? "");
      back.searchParams.set("iss", root);
      res.writeHead(302, { location: back.href }).end();
      return undefined;
    }
    if (rest === "/token" && req.method === "POST") {
      const form = new URLSearchParams(await body(req));
      if (mode === "bad-grant" || !codes.has(form.get("code"))) {
        return json(res, 400, { error: "invalid_grant", error_description: `code ${form.get("code")} is not valid` });
      }
      const access = issue(issued);
      tokens.add(access);
      return json(res, 200, { access_token: access, token_type: "Bearer", expires_in: 3600, refresh_token: issue(issued) });
    }
    if (rest === "/mcp") {
      const auth = req.headers.authorization ?? "";
      if (!tokens.has(auth.replace(/^Bearer /, ""))) {
        req.resume();
        res.writeHead(401, {
          "www-authenticate": `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/m/${mode}/mcp"`,
        }).end("unauthorized");
        return undefined;
      }
      if (req.method !== "POST") return json(res, 405, {});
      const message = JSON.parse(await body(req));
      const mcp = zooServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on("close", () => { transport.close(); mcp.close(); });
      await mcp.connect(transport);
      await transport.handleRequest(req, res, message);
      return undefined;
    }
    return json(res, 404, { error: "not_found" });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${server.address().port}`;
  const sockets = new Set();
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  return {
    base,
    issued,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The host's own OAuthClientProvider (in memory, with a private field, as real hosts write them). */
export class HostProvider {
  #tokens;
  constructor(redirectUrl) {
    this.redirectUrl = redirectUrl;
    this.redirects = [];
    this.client = undefined;
    this.verifier = undefined;
  }
  get clientMetadata() {
    return {
      redirect_uris: [this.redirectUrl],
      client_name: "zoo host",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.#tokens; }
  saveTokens(tokens) { this.#tokens = tokens; }
  redirectToAuthorization(url) { this.redirects.push(new URL(url)); }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
}

/** A scripted browser: follows the authorization URL and hands back the code the server redirected with. */
export async function signIn(authorizationUrl) {
  const response = await fetch(authorizationUrl, { redirect: "manual" });
  return new URL(response.headers.get("location")).searchParams.get("code");
}
