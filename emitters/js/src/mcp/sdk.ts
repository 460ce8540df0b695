// The MCP SDK, found at run time: v2 (`@modelcontextprotocol/client`) or v1 (`@modelcontextprotocol/sdk`).
// Both are optional peers; nothing here imports their types, so either (or both) may be absent.

export type SdkLine = "v1" | "v2";

/** The classes of one SDK line this package drives, and how its calls differ. */
export interface Sdk {
  line: SdkLine;
  Client: new (info: { name: string; version: string }, options?: unknown) => McpClient;
  StreamableHTTPClientTransport: new (url: URL, options?: unknown) => McpTransport;
  SSEClientTransport: new (url: URL, options?: unknown) => McpTransport;
  stdio(): Promise<new (params: unknown) => McpTransport & { stderr: import("node:stream").Readable | null }>;
  callTool(client: McpClient, params: Record<string, unknown>, options: { timeout: number }): Promise<ToolResult>;
}

export interface McpTransport {
  close(): Promise<void>;
  finishAuth?(code: string): Promise<void>;
}

export interface ToolResult {
  isError?: boolean;
  content?: { type: string; text?: string }[];
  [key: string]: unknown;
}

export interface McpClient {
  connect(transport: McpTransport, options?: { timeout?: number }): Promise<void>;
  close(): Promise<void>;
  listTools(params?: Record<string, unknown>, options?: { timeout?: number }): Promise<{ tools: { name: string }[] }>;
  ping(options?: { timeout?: number }): Promise<unknown>;
  onerror?: (error: unknown) => void;
  [key: string]: unknown;
}

const cache = new Map<SdkLine, Promise<Sdk>>();

async function load(line: SdkLine): Promise<Sdk> {
  // Variables, not literals: the package compiles and runs without either SDK installed.
  const spec = line === "v2"
    ? ["@modelcontextprotocol/client", "@modelcontextprotocol/client/stdio"]
    : ["@modelcontextprotocol/sdk/client/index.js", "@modelcontextprotocol/sdk/client/stdio.js",
       "@modelcontextprotocol/sdk/client/streamableHttp.js", "@modelcontextprotocol/sdk/client/sse.js"];
  const main = await import(spec[0]);
  const http = line === "v2" ? main : await import(spec[2]);
  const sse = line === "v2" ? main : await import(spec[3]);
  return {
    line,
    Client: main.Client,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
    SSEClientTransport: sse.SSEClientTransport,
    stdio: async () => (await import(spec[1])).StdioClientTransport,
    callTool: (client, params, options) =>
      (client.callTool as (...args: unknown[]) => Promise<ToolResult>).call(
        client,
        ...(line === "v2" ? [params, options] : [params, undefined, options]),
      ),
  };
}

/** The SDK line to drive: `prefer` if given, else v2 when installed, else v1. */
export async function loadSdk(prefer?: SdkLine): Promise<Sdk> {
  const order: SdkLine[] = prefer ? [prefer] : ["v2", "v1"];
  let failure: unknown;
  for (const line of order) {
    let found = cache.get(line);
    if (!found) {
      found = load(line);
      cache.set(line, found);
      found.catch(() => cache.delete(line));
    }
    try {
      return await found;
    } catch (err) {
      failure = err;
    }
  }
  throw new Error(
    `no MCP SDK found: install @modelcontextprotocol/sdk (>= 1.27) or @modelcontextprotocol/client (2.x)`,
    { cause: failure },
  );
}
