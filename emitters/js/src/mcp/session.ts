// `openSession`: an MCP client session (either SDK line) whose every failure leaves as an emitted
// MCPDiagnosticError carrying the Debug ID the server received as `traceparent`.
import { errorChain, errorNames, prop } from "../chain.js";
import { classificationFor, isOAuthFailure } from "../classifier.js";
import type { Emitter } from "../emitter.js";
import { MCPDiagnosticError } from "../errors.js";
import type { WireEvent } from "../event.js";
import { newSpanId, newTraceId, traceparent } from "../ids.js";
import { activeSpanIds } from "../otel.js";
import { type FetchObserver, StderrTail, type TraceContext, currentTrace, observingFetch, tcpReachable } from "./hooks.js";
import { OAuthTimeoutError, ObservedOAuthProvider } from "./oauth.js";
import { type McpClient, type McpTransport, type Sdk, type SdkLine, type ToolResult, loadSdk } from "./sdk.js";

export type { SdkLine };

const MAX_TOOL_DETAIL = 500;
const CLIENT_INFO = { name: "mcpdiag-emitter", version: "0.1.0" };

export interface OpenSessionOptions {
  emitter: Emitter;
  url?: string;
  transport?: "streamable-http" | "sse" | "stdio";
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  headers?: Record<string, string>;
  /** The host's OAuthClientProvider: its sign-in is reported and bounded. */
  authProvider?: unknown;
  /** Resolves with the authorization code once the user signed in (after `redirectToAuthorization`). */
  waitForAuthorizationCode?: (authorizationUrl: URL | undefined) => Promise<string>;
  oauthTimeoutMs?: number;
  userId?: string;
  conversationId?: string;
  runId?: string;
  /** Hosts (exact, or `*.example.com`) the session may reach; anything else is refused before any traffic. */
  allowedDomains?: string[];
  /** Bound on connecting and, by default, on each request. */
  timeoutMs?: number;
  /** The fetch the transports should use (a proxy agent, custom TLS); it is wrapped, not replaced. */
  fetch?: typeof fetch;
  proxyInUse?: boolean;
  /** Which SDK line to drive; by default v2 when installed, else v1. */
  sdk?: SdkLine;
}

/** Whether `host` is one of `allowed`: exact names, or `*.example.com` for any subdomain. */
export function hostAllowed(host: string, allowed: Iterable<string>): boolean {
  const name = host.toLowerCase().replace(/\.$/, "").replace(/^\[|\]$/g, "");
  for (const raw of allowed) {
    const pattern = raw.toLowerCase().replace(/\.$/, "");
    if (name === pattern) return true;
    if (pattern.startsWith("*.") && name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1) return true;
  }
  return false;
}

/** A fresh trace context for one MCP operation: the active OpenTelemetry span's trace, else a new one.
 * Run the operation in `currentTrace.run(context, …)` and `observingFetch` sends it as `traceparent`. */
export function newTraceContext(): TraceContext {
  const active = activeSpanIds();
  const traceId = active?.[0] ?? newTraceId();
  const spanId = newSpanId();
  return { traceId, spanId, traceparent: traceparent(traceId, spanId) };
}

function timeoutError(what: string, ms: number): Error {
  const err = new Error(`${what} did not finish within ${ms} ms`);
  err.name = "TimeoutError";
  return err;
}

async function bounded<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function urlSecrets(url: string): string[] {
  try {
    const u = new URL(url);
    const found = u.password ? [decodeURIComponent(u.password)] : [];
    for (const value of u.searchParams.values()) if (value.length >= 8) found.push(value);
    return found;
  } catch {
    return [];
  }
}

/** fetch refuses URLs with credentials: they travel as an `Authorization: Basic` header instead. */
function withoutUserinfo(options: OpenSessionOptions): OpenSessionOptions {
  if (!options.url) return options;
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    return options;
  }
  if (!url.username && !url.password) return options;
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = url.password = "";
  const headers = { ...(options.headers ?? {}) };
  if (!Object.keys(headers).some((k) => k.toLowerCase() === "authorization")) {
    headers.Authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }
  return { ...options, url: url.href, headers };
}

function isUnauthorized(err: unknown): boolean {
  return errorChain(err).some((e) => errorNames(e).has("UnauthorizedError"));
}

/** What one session knows about itself, and how it turns a failure into an emitted error. */
class SessionRun {
  established = false;
  tool: string | undefined;
  stderr: StderrTail | undefined;
  readonly errors: unknown[] = [];
  readonly observer: FetchObserver;

  constructor(
    readonly server: string,
    readonly options: OpenSessionOptions,
    readonly transport: "streamable-http" | "sse" | "stdio",
  ) {
    this.observer = { proxyInUse: options.proxyInUse ?? false, watchGetStreams: transport === "sse" };
  }

  fields(): Record<string, string | undefined> {
    const { userId, conversationId, runId } = this.options;
    return { transport: this.transport, userId, conversationId, runId };
  }

  emit(code: string, touchpoint: string, extra: Record<string, unknown> = {}): WireEvent {
    return this.options.emitter.emitEvent(code, { server: this.server, touchpoint, ...this.fields(), ...extra });
  }

  refuse(code: string, touchpoint: string, detail: string): MCPDiagnosticError {
    const event = this.emit(code, touchpoint, { detail });
    const found = classificationFor(code, { server: this.server, detail });
    return new MCPDiagnosticError(found, { debugId: event.traceId, event });
  }

  /** Classify `err` with everything the hooks saw, emit it under the operation's trace id; the error to throw. */
  async fail(err: unknown, touchpoint: string, trace: TraceContext | undefined): Promise<MCPDiagnosticError> {
    let real = err;
    const chain = errorChain(err);
    const invalid = this.errors.find((e) => errorChain(e).some((x) => errorNames(x).has("SyntaxError") || errorNames(x).has("ZodError")));
    if (!this.established && invalid && touchpoint === "connect") {
      touchpoint = "inspection";
      real = new AggregateError([invalid, err], "invalid message from the server");
    } else if (this.observer.lastError && !chain.includes(this.observer.lastError as never)) {
      // The SDK kept only the text of what fetch threw (legacy SSE): the raw error says more.
      real = new AggregateError([err, this.observer.lastError], "transport failure");
    }
    if (await this.serverGone(real)) {
      const refused = Object.assign(new Error("server no longer accepts connections", { cause: real }), { code: "ECONNREFUSED" });
      real = refused;
    }
    const [event, found] = this.options.emitter.captureEvent(real, {
      server: this.server,
      touchpoint,
      ...this.fields(),
      tool: this.tool,
      http: this.observer.last,
      sessionEstablished: this.established,
      proxyInUse: this.observer.proxyInUse,
      stderrTail: this.stderr ? await this.stderr.read() : undefined,
      traceId: trace?.traceId,
      spanId: trace?.spanId,
    });
    return new MCPDiagnosticError(found, { debugId: event.traceId, event, cause: err });
  }

  /** True when an established HTTP session lost its stream and nothing listens at the address any more. */
  private async serverGone(err: unknown): Promise<boolean> {
    if (!this.established || this.transport === "stdio" || this.observer.last || !this.options.url) return false;
    const cut = errorChain(err).some((e) => {
      const code = prop(e, "code");
      return code === -32000 || code === "CONNECTION_CLOSED" || code === "ECONNRESET" || code === "UND_ERR_SOCKET" ||
        code === "ECONNREFUSED" || /terminated|other side closed|fetch failed/i.test(String(prop(e, "message")));
    });
    if (!cut) return false;
    // A dying process closes its open connections a moment before its listening socket: probe a few times.
    for (let attempt = 0; attempt < 4; attempt++) {
      if ((await tcpReachable(this.options.url)) === false) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }
}

/** An initialized MCP client session whose failures are classified and emitted. */
export class DiagnosedSession {
  /** The Debug ID of the last failure (or tool error) on this session. */
  lastDebugId: string | undefined;
  private closed = false;

  constructor(
    readonly client: McpClient,
    readonly sdk: SdkLine,
    private readonly run: SessionRun,
    private readonly lib: Sdk,
    private readonly transport: McpTransport,
  ) {}

  private get timeoutMs(): number {
    return this.run.options.timeoutMs ?? 30_000;
  }

  private async operation<T>(touchpoint: string, work: (trace: TraceContext) => Promise<T>): Promise<T> {
    const trace = newTraceContext();
    this.run.observer.lastError = undefined;
    try {
      return await currentTrace.run(trace, () => work(trace));
    } catch (err) {
      if (err instanceof MCPDiagnosticError) throw err;
      const failure = await this.run.fail(err, touchpoint, trace);
      this.lastDebugId = failure.debugId;
      throw failure;
    }
  }

  /** List the server's tools; an invalid answer is reported as an inspection failure. */
  listTools(): Promise<{ tools: { name: string }[] }> {
    return this.operation("inspection", (trace) =>
      this.client.listTools({ _meta: { traceparent: trace.traceparent } }, { timeout: this.timeoutMs }),
    );
  }

  /** Call a tool; an `isError` result is returned as is and reported as MCP_TOOL_ERROR. */
  async callTool(name: string, args: Record<string, unknown> = {}, options: { timeoutMs?: number } = {}): Promise<ToolResult> {
    this.run.tool = name;
    try {
      return await this.operation("tool_call", async (trace) => {
        const result = await this.lib.callTool(
          this.client,
          { name, arguments: args, _meta: { traceparent: trace.traceparent } },
          { timeout: options.timeoutMs ?? this.timeoutMs },
        );
        if (result?.isError) {
          const text = (result.content ?? []).filter((c) => c?.type === "text").map((c) => c.text).join(" ");
          const event = this.run.emit("MCP_TOOL_ERROR", "tool_call", {
            tool: name,
            detail: text.slice(0, MAX_TOOL_DETAIL) || null,
            traceId: trace.traceId,
            spanId: trace.spanId,
          });
          this.lastDebugId = event.traceId;
        }
        return result;
      });
    } finally {
      this.run.tool = undefined;
    }
  }

  /** Check that the server still answers; a failure is reported at touchpoint `transport`. */
  async ping(): Promise<void> {
    await this.operation("transport", () => this.client.ping({ timeout: this.timeoutMs }));
  }

  /** Close the session (and the stdio process); reports MCP_DISCONNECTED once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.close();
    } catch {
      await this.transport.close().catch(() => {});
    } finally {
      this.run.emit("MCP_DISCONNECTED", "lifecycle");
    }
  }
}

interface Attempt {
  client: McpClient;
  transport: McpTransport;
}

async function makeTransport(run: SessionRun, lib: Sdk, oauth: ObservedOAuthProvider | undefined): Promise<McpTransport> {
  const o = run.options;
  if (run.transport === "stdio") {
    const Stdio = await lib.stdio();
    const transport = new Stdio({ command: o.command, args: o.args ?? [], env: o.env, cwd: o.cwd, stderr: "pipe" });
    run.stderr = new StderrTail(transport.stderr);
    return transport;
  }
  const fetch = observingFetch(run.observer, o.fetch);
  const options = {
    fetch,
    requestInit: { headers: { ...(o.headers ?? {}) } },
    authProvider: oauth?.provider,
    // Legacy SSE opens its stream through eventsource, which takes its own fetch.
    eventSourceInit: { fetch: (url: string | URL, init: RequestInit) => fetch(url, { ...init, headers: { ...(o.headers ?? {}), ...Object.fromEntries(new Headers(init?.headers)) } }) },
  };
  const Transport = run.transport === "sse" ? lib.SSEClientTransport : lib.StreamableHTTPClientTransport;
  return new Transport(new URL(o.url as string), options);
}

async function attempt(run: SessionRun, lib: Sdk, oauth: ObservedOAuthProvider | undefined, holder: { last?: Attempt }): Promise<Attempt> {
  const transport = await makeTransport(run, lib, oauth);
  const client = new lib.Client(CLIENT_INFO, { capabilities: {} });
  client.onerror = (error: unknown) => {
    if (run.errors.length < 16) run.errors.push(error);
  };
  holder.last = { client, transport };
  const ms = run.options.timeoutMs ?? 30_000;
  // The SDK bounds `initialize`, not the transport's start (a legacy SSE stream that never opens).
  await bounded(client.connect(transport, { timeout: ms }), ms + 50, () => timeoutError("connect", ms));
  return { client, transport };
}

/** Open and initialize an MCP session; every failure leaves as an emitted MCPDiagnosticError. */
export async function openSession(server: string, options: OpenSessionOptions): Promise<DiagnosedSession> {
  const transportName = options.transport ?? (options.command ? "stdio" : "streamable-http");
  const original = options.url;
  options = withoutUserinfo(options);
  const run = new SessionRun(server, options, transportName);
  const { emitter } = options;
  for (const value of Object.values(options.headers ?? {})) {
    emitter.registerSecret(value);
    emitter.registerSecret(String(value).split(" ").slice(1).join(" "));
  }
  for (const value of Object.values(options.env ?? {})) emitter.registerSecret(value);
  if (original) for (const value of urlSecrets(original)) emitter.registerSecret(value);

  if (transportName === "stdio") {
    if (!options.command) throw new TypeError("command is required for the stdio transport");
  } else {
    if (!options.url) throw new TypeError(`url is required for the ${transportName} transport`);
    if (options.allowedDomains) {
      const host = new URL(options.url).hostname;
      if (!hostAllowed(host, options.allowedDomains)) {
        throw run.refuse("MCP_DOMAIN_NOT_ALLOWED", "connect", `host ${JSON.stringify(host)} is not in allowedDomains`);
      }
    }
  }
  const lib = await loadSdk(options.sdk);
  const report = (code: "MCP_OAUTH_STARTED" | "MCP_OAUTH_COMPLETED", fields: { detail?: string; durationMs?: number }): void => {
    const trace = currentTrace.getStore();
    run.emit(code, "oauth", { ...fields, traceId: trace?.traceId, spanId: trace?.spanId });
  };
  const oauth = options.authProvider
    ? new ObservedOAuthProvider(options.authProvider, report, (value) => emitter.registerSecret(value))
    : undefined;

  const trace = newTraceContext();
  const holder: { last?: Attempt } = {};
  let touchpoint = "connect";
  try {
    const connected = await currentTrace.run(trace, async () => {
      try {
        return await attempt(run, lib, oauth, holder);
      } catch (err) {
        if (!oauth?.redirected || !isUnauthorized(err) || !options.waitForAuthorizationCode) throw err;
        // The user has to sign in: wait for the code (bounded), hand it to the SDK, connect again.
        touchpoint = "oauth";
        const ms = options.oauthTimeoutMs ?? 120_000;
        const code = await bounded(options.waitForAuthorizationCode(oauth.authorizationUrl), ms, () => new OAuthTimeoutError(ms));
        oauth.noticeSecret(code);
        await holder.last?.transport.finishAuth?.(code);
        await holder.last?.client.close().catch(() => {});
        touchpoint = "connect";
        return await attempt(run, lib, oauth, holder);
      }
    });
    run.established = true;
    run.emit("MCP_CONNECTED", "lifecycle", { traceId: trace.traceId, spanId: trace.spanId });
    return new DiagnosedSession(connected.client, lib.line, run, lib, connected.transport);
  } catch (err) {
    if (oauth && touchpoint === "connect") {
      // A failure inside the sign-in (discovery, registration, token exchange) is reported at `oauth`.
      if ((oauth.startedAt !== undefined && isUnauthorized(err)) || isOAuthFailure(err, run.observer.last)) touchpoint = "oauth";
    }
    const failure = await run.fail(err, touchpoint, trace);
    await holder.last?.client.close().catch(() => {});
    await holder.last?.transport.close().catch(() => {});
    throw failure;
  }
}
