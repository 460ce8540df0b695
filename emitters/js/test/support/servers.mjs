// Real MCP servers (the TypeScript SDK's McpServer) on loopback: streamable HTTP, legacy SSE, and stdio.
import { createServer } from "node:http";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { z } from "zod";

export const STDIO_SERVER = fileURLToPath(new URL("./stdio-server.mjs", import.meta.url));

/** A zoo server: `echo`, a `fail` tool answering isError, a `slow` tool; `received` collects `_meta.traceparent`. */
export function zooServer(received = []) {
  const server = new McpServer({ name: "zoo", version: "1.0.0" });
  server.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  server.registerTool("fail", { inputSchema: { reason: z.string() } }, async ({ reason }, extra) => {
    received.push(extra?._meta?.traceparent ?? null);
    return { content: [{ type: "text", text: reason }], isError: true };
  });
  server.registerTool("slow", { inputSchema: { seconds: z.number() } }, async ({ seconds }, extra) => {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      extra?.signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); });
    });
    return { content: [{ type: "text", text: "done" }] };
  });
  return server;
}

async function listen(handler) {
  const http = createServer(handler);
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const sockets = new Set();
  http.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  return {
    port: http.address().port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

/** A stateless streamable-HTTP MCP server at /mcp; `received` collects the traceparents of `fail` calls. */
export async function startStreamableServer(received = []) {
  return listen(async (req, res) => {
    if (!req.url.startsWith("/mcp")) { res.writeHead(404).end("not found"); return; }
    if (req.method !== "POST") { res.writeHead(405).end(); return; }
    const body = await readJson(req);
    const server = zooServer(received);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
}

/** A legacy SSE MCP server: GET /sse opens the stream, POST /messages?sessionId= carries requests. */
export async function startSseServer(received = []) {
  const sessions = new Map();
  return listen(async (req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (req.method === "GET" && url.pathname === "/sse") {
      const transport = new SSEServerTransport("/messages", res);
      sessions.set(transport.sessionId, transport);
      res.on("close", () => sessions.delete(transport.sessionId));
      await zooServer(received).connect(transport);
      return;
    }
    const transport = sessions.get(url.searchParams.get("sessionId"));
    if (req.method === "POST" && url.pathname === "/messages" && transport) {
      await transport.handlePostMessage(req, res, await readJson(req));
      return;
    }
    res.writeHead(404).end("not found");
  });
}
