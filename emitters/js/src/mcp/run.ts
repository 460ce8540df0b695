// What one MCP session knows about itself (where it is, what the hooks saw), and how it turns a failure into
// an emitted MCPDiagnosticError.
import { errorChain, errorNames, prop } from "../chain.js";
import { classificationFor } from "../classifier.js";
import { ENDED_BY_ATTR } from "../codes.js";
import type { Emitter } from "../emitter.js";
import { MCPDiagnosticError } from "../errors.js";
import type { WireEvent } from "../event.js";
import { newSpanId, newTraceId, traceparent } from "../ids.js";
import { activeSpanIds } from "../otel.js";
import { type FetchObserver, type StderrTail, type TraceContext, tcpReachable } from "./hooks.js";
import type { SdkLine } from "./sdk.js";

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

/** A fresh trace context for one MCP operation: the active OpenTelemetry span's trace, else a new one.
 * Run the operation in `currentTrace.run(context, …)` and `observingFetch` sends it as `traceparent`. */
export function newTraceContext(): TraceContext {
  const active = activeSpanIds();
  const traceId = active?.[0] ?? newTraceId();
  const spanId = newSpanId();
  return { traceId, spanId, traceparent: traceparent(traceId, spanId) };
}

/** What one session knows about itself, and how it turns a failure into an emitted error. */
export class SessionRun {
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

  /**
   * The code of the session's last failure, unless a request succeeded since: a session that closes with it
   * set ended in that failure, and its MCP_DISCONNECTED says so (the API then shows that failure's state).
   */
  endedBy: string | undefined;

  fields(): Record<string, string | undefined> {
    const { userId, conversationId, runId } = this.options;
    return { transport: this.transport, userId, conversationId, runId };
  }

  emit(code: string, touchpoint: string, extra: Record<string, unknown> = {}): WireEvent {
    return this.options.emitter.emitEvent(code, { server: this.server, touchpoint, ...this.fields(), ...extra });
  }

  refuse(code: string, touchpoint: string, detail: string): MCPDiagnosticError {
    const event = this.emit(code, touchpoint, { detail });
    this.endedBy = code;
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
    this.endedBy = found.code;
    return new MCPDiagnosticError(found, { debugId: event.traceId, event, cause: err });
  }

  /** Emit the session's MCP_DISCONNECTED, naming the failure it ended in, if any (`endedBy`). */
  disconnected(): void {
    this.emit("MCP_DISCONNECTED", "lifecycle", this.endedBy ? { attrs: { [ENDED_BY_ATTR]: this.endedBy } } : {});
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

