// Loopback stubs that answer the way broken servers, proxies and gateways do: /s/<name> on 127.0.0.1 only.
import { createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { once } from "node:events";

const HTML = "<html><body>Access to this site is blocked by policy</body></html>";

function answer(name, req, res, port) {
  const send = (status, body, headers = {}) => {
    res.writeHead(status, { "content-type": "text/plain", ...headers });
    res.end(body);
  };
  switch (name) {
    case "401":
      return send(401, "unauthorized", {
        "www-authenticate": `Bearer resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource"`,
      });
    case "401-bare":
      return send(401, "unauthorized");
    case "403-scope":
      return send(403, "forbidden", { "www-authenticate": 'Bearer error="insufficient_scope", scope="tools:write"' });
    case "403-html":
      return send(403, HTML, { "content-type": "text/html" });
    case "407":
      return send(407, "proxy auth", { "proxy-authenticate": 'Basic realm="corp"' });
    case "421":
      return send(421, "Invalid Host header");
    case "429":
      return send(429, "slow down", { "retry-after": "7" });
    case "500":
      return send(500, "boom");
    case "502":
      return send(502, "<html><body>502 Bad Gateway</body></html>", { "content-type": "text/html" });
    case "504":
      return send(504, "<html><body>504 Gateway Time-out</body></html>", { "content-type": "text/html" });
    case "503":
      return send(503, JSON.stringify({ jsonrpc: "2.0", id: 1, error: { code: -32000, message: "overloaded" } }), {
        "content-type": "application/json",
      });
    case "200-html":
      return send(200, HTML, { "content-type": "text/html" });
    case "200-text":
      return send(200, "OK", { "content-type": "text/plain" });
    case "sse-cut":
      return send(200, "", { "content-type": "text/event-stream" });
    case "redirect":
      return send(307, "", { location: "https://login.example.com/sso?next=/mcp" });
    case "silent":
      return undefined; // never answers: the client's timeout decides
    default:
      return send(404, "not found");
  }
}

/** A JSON-RPC server that initializes fine, then lists tools that are not valid tool definitions. */
async function badTools(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  if (req.method !== "POST") return res.writeHead(405).end();
  const message = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  if (message.id === undefined) return res.writeHead(202).end();
  let result = {};
  if (message.method === "initialize") {
    result = { protocolVersion: message.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "bad-tools", version: "1.0" } };
  } else if (message.method === "tools/list") {
    result = { tools: [{ name: 42, inputSchema: "none" }] };
  }
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
  return undefined;
}

function handler(getPort, counter) {
  return (req, res) => {
    counter.requests += 1;
    if (req.url.startsWith("/bad-tools")) return void badTools(req, res);
    const match = /^\/s\/([\w-]+)/.exec(req.url);
    req.resume();
    answer(match ? match[1] : "404", req, res, getPort());
  };
}

async function listen(server) {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const sockets = new Set();
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  server.on("secureConnection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  return {
    port: server.address().port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The misbehaving HTTP server; `.port`, `.close()`. */
export async function startStubs() {
  let port = 0;
  const counter = { requests: 0 };
  const server = createServer(handler(() => port, counter));
  const running = await listen(server);
  port = running.port;
  return Object.assign(running, { counter });
}

/** The same stubs over TLS with the given certificate and key (PEM). */
export async function startTlsStubs({ cert, key }) {
  let port = 0;
  const server = createTlsServer({ cert, key }, handler(() => port, { requests: 0 }));
  server.on("tlsClientError", () => {});
  const running = await listen(server);
  port = running.port;
  return running;
}

/** A TCP port nothing listens on right now. */
export async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
