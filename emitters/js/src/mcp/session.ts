// `openSession`: an MCP client session (either SDK line) whose every failure leaves as an emitted
// MCPDiagnosticError carrying the Debug ID the server received as `traceparent`.
import { domainToASCII } from "node:url";
import { errorChain, errorNames } from "../chain.js";
import { isOAuthFailure } from "../classifier.js";
import { DiagnosedSession } from "./diagnosed.js";
import { StderrTail, currentTrace, observingFetch } from "./hooks.js";
import { OAuthTimeoutError, ObservedOAuthProvider } from "./oauth.js";
import { type OpenSessionOptions, SessionRun, newTraceContext } from "./run.js";
import { type McpClient, type McpTransport, type Sdk, type SdkLine, loadSdk } from "./sdk.js";

export { DiagnosedSession, newTraceContext };
export type { OpenSessionOptions, SdkLine };
const CLIENT_INFO = { name: "mcpdiag-emitter", version: "0.1.0" };

/** A host name as names are compared: lowercase, no trailing dot, an international name in its ASCII form
 * (`bücher.example` is `xn--bcher-kva.example`, as `new URL()` and a connection see it). */
export function hostKey(name: string): string {
  const plain = name.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  if (/^[\x00-\x7f]*$/.test(plain)) return plain;
  const wild = plain.startsWith("*.");
  const ascii = domainToASCII(wild ? plain.slice(2) : plain);
  return ascii ? (wild ? `*.${ascii}` : ascii) : plain; // not a name IDNA can spell: compared as it is
}

/** Whether `host` is one of `allowed`: exact names, or `*.example.com` for any subdomain (`hostKey`
 * spellings alike). */
export function hostAllowed(host: string, allowed: Iterable<string>): boolean {
  const name = hostKey(host);
  for (const raw of allowed) {
    const pattern = hostKey(raw);
    if (name === pattern) return true;
    if (pattern.startsWith("*.") && name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1) return true;
  }
  return false;
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
