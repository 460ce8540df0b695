// Where the emitter's worker ships batches: memory, a callable, the collector over HTTP.
import { gzip } from "node:zlib";
import { promisify } from "node:util";
import type { WireEvent } from "./event.js";

const gzipAsync = promisify(gzip);

/** What happened to a batch: sinks report, they do not throw. */
export type Outcome = "sent" | "retry" | "failed";

/** A sink's report on one batch. `retry`: worth retrying, the emitter keeps it; `failed`: discarded. */
export interface SinkResult {
  outcome: Outcome;
  retryAfterMs?: number;
  error?: string;
  rejected?: number;
}

/** Receives batches of wire events from the emitter's worker. */
export interface Sink {
  send(events: WireEvent[]): SinkResult | void | Promise<SinkResult | void>;
  close?(): void | Promise<void>;
}

/** Keeps every event in `.events` (camelCase wire objects): for tests, demos and in-process use. */
export class MemorySink implements Sink {
  readonly events: WireEvent[] = [];

  send(events: WireEvent[]): SinkResult {
    this.events.push(...events);
    return { outcome: "sent" };
  }
}

/** Hands each batch to `fn` (sync or async); a throw or a rejection counts as a failed batch. */
export class CallableSink implements Sink {
  constructor(readonly fn: (events: WireEvent[]) => unknown) {}

  async send(events: WireEvent[]): Promise<SinkResult> {
    try {
      await this.fn([...events]);
    } catch (err) {
      return { outcome: "failed", error: `${(err as Error)?.name ?? "Error"}: ${(err as Error)?.message ?? err}` };
    }
    return { outcome: "sent" };
  }
}

export interface HttpSinkOptions {
  apiKey: string;
  timeoutMs?: number;
  maxAttempts?: number;
  backoffMs?: number;
  /** Longest wait between attempts, whatever `Retry-After` asks for. */
  maxRetryDelayMs?: number;
  fetch?: typeof fetch;
}

/** POSTs gzip JSON batches to the collector's `/v1/events`, retrying with backoff and `Retry-After`. */
export class HttpSink implements Sink {
  readonly url: string;
  private readonly options: Required<Omit<HttpSinkOptions, "fetch">> & { fetch: typeof fetch };

  constructor(url: string, options: HttpSinkOptions) {
    const base = url.replace(/\/+$/, "");
    this.url = base.endsWith("/v1/events") ? base : `${base}/v1/events`;
    this.options = {
      timeoutMs: 5000,
      maxAttempts: 3,
      backoffMs: 200,
      maxRetryDelayMs: 5000,
      fetch: globalThis.fetch,
      ...options,
    };
  }

  /** POST the batch; retry transient failures a few times, then hand the batch back for later. */
  async send(events: WireEvent[]): Promise<SinkResult> {
    const body = await gzipAsync(JSON.stringify({ events }), { level: 5 });
    let result: SinkResult = { outcome: "retry", error: "not attempted" };
    const attempts = Math.max(1, this.options.maxAttempts);
    for (let attempt = 0; attempt < attempts; attempt++) {
      result = await this.post(body);
      if (result.outcome !== "retry") return result;
      if (attempt + 1 < attempts) {
        const delay = result.retryAfterMs ?? this.options.backoffMs * 2 ** attempt;
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, this.options.maxRetryDelayMs)).unref());
      }
    }
    return result;
  }

  private async post(body: Buffer): Promise<SinkResult> {
    try {
      const response = await this.options.fetch(this.url, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "content-encoding": "gzip",
          "x-api-key": this.options.apiKey,
          "user-agent": "mcpdiag-emitter-js",
        },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const text = (await response.text()).slice(0, 65536);
      if (response.ok) {
        let rejected = 0;
        try {
          const answer = JSON.parse(text || "{}");
          rejected = Array.isArray(answer?.rejected) ? answer.rejected.length : 0;
        } catch {
          rejected = 0;
        }
        return { outcome: "sent", rejected };
      }
      const status = response.status;
      if (status === 408 || status === 429 || status >= 500) {
        return { outcome: "retry", retryAfterMs: retryAfter(response.headers.get("retry-after")), error: `HTTP ${status}` };
      }
      return { outcome: "failed", error: `HTTP ${status}: ${text.slice(0, 300)}` };
    } catch (err) {
      return { outcome: "retry", error: `${(err as Error)?.name}: ${(err as Error)?.message}` };
    }
  }
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
