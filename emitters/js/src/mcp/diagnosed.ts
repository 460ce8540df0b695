// A session returned by `openSession`: each call runs under its own trace (sent as `traceparent`), and its
// failures leave as emitted MCPDiagnosticErrors.
import { clip } from "../chain.js";
import { MCPDiagnosticError } from "../errors.js";
import { type TraceContext, currentTrace } from "./hooks.js";
import { type SessionRun, newTraceContext } from "./run.js";
import type { McpClient, McpTransport, Sdk, SdkLine, ToolResult } from "./sdk.js";

const MAX_TOOL_DETAIL = 500;

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
      const answer = await currentTrace.run(trace, () => work(trace));
      this.run.endedBy = undefined;
      return answer;
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
            detail: clip(text, MAX_TOOL_DETAIL, this.run.options.emitter.currentRedactor) || null,
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
      this.run.disconnected();
    }
  }
}

