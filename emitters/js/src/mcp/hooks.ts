// Hooks that see what the MCP SDK hides, with no monkeypatching: a fetch wrapper handed to the SDK's HTTP
// transports, the trace context each request carries, a bounded stdio stderr tail, a TCP probe.
import { AsyncLocalStorage } from "node:async_hooks";
import { connect } from "node:net";
import type { Readable, Stream } from "node:stream";
import { wordCut } from "../chain.js";
import type { HttpObservation } from "../classifier.js";

const SNIPPET_BYTES = 512;
const MAX_READ = 64 * 1024;
const STDERR_TAIL = 4000;
const MCP_TYPES = ["application/json", "text/event-stream"];
// Statuses whose Response may not carry a body (the copy made after reading one must not have one).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The trace context of the MCP operation running in this async context (its requests carry it). */
export interface TraceContext {
  traceId: string;
  spanId: string;
  traceparent: string;
}

export const currentTrace = new AsyncLocalStorage<TraceContext>();

/** What the fetch wrapper saw: the last unexpected response, and the last error fetch threw. */
export interface FetchObserver {
  last?: HttpObservation;
  lastError?: unknown;
  proxyInUse: boolean;
  /** Also watch GET event streams (legacy SSE: the stream must carry the endpoint event). */
  watchGetStreams?: boolean;
}

function safeUrl(input: string | URL | Request): string {
  try {
    const url = new URL(input instanceof Request ? input.url : String(input));
    url.username = url.password = url.search = url.hash = "";
    return url.href;
  } catch {
    return "?";
  }
}

async function readCapped(body: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_READ) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, MAX_READ);
}

/** A copy of `response` whose event stream reports to `onCut` when it ends before carrying any event. */
function watchStream(response: Response, onCut: () => void): Response {
  if (!response.body) return response;
  let seen = "";
  let events = false;
  const decoder = new TextDecoder();
  const watcher = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (!events) {
        seen = (seen + decoder.decode(chunk, { stream: true })).slice(-64);
        events = /(?:^|\n)data:/.test(seen) || /(?:^|\n)event:/.test(seen);
      }
      controller.enqueue(chunk);
    },
    flush() {
      if (!events) onCut();
    },
  });
  return new Response(response.body.pipeThrough(watcher), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/** A fetch for the SDK's transports: forwards to `inner`, adds `traceparent`, records what went wrong. */
export function observingFetch(observer: FetchObserver, inner: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(input instanceof Request ? input.headers : undefined);
    new Headers(init?.headers).forEach((value, key) => headers.set(key, value));
    const trace = currentTrace.getStore();
    if (trace && !headers.has("traceparent")) headers.set("traceparent", trace.traceparent);
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    let response: Response;
    try {
      response = await inner(input, { ...init, headers });
    } catch (err) {
      observer.lastError = err;
      throw err;
    }
    const ctype = response.headers.get("content-type") ?? "";
    const lower = ctype.toLowerCase();
    const ok = response.ok && (!ctype || MCP_TYPES.some((t) => lower.startsWith(t)));
    const seen = (extra: Partial<HttpObservation> = {}): HttpObservation => ({
      status: response.status,
      contentType: ctype || undefined,
      wwwAuthenticate: response.headers.get("www-authenticate") ?? undefined,
      proxyAuthenticate: response.headers.get("proxy-authenticate") ?? undefined,
      location: response.headers.get("location") ?? undefined,
      retryAfter: response.headers.get("retry-after") ?? undefined,
      method,
      url: safeUrl(input),
      viaProxy: observer.proxyInUse,
      ...extra,
    });
    // A GET answered 405 only means the server offers no standalone SSE stream: the spec allows it.
    if (ok || (method === "GET" && response.status === 405) || method === "DELETE") {
      if (ok && method === "POST") observer.last = undefined;
      if (ok && lower.startsWith("text/event-stream") && (method === "POST" || observer.watchGetStreams)) {
        return watchStream(response, () => {
          observer.last = seen({ streamCut: true });
        });
      }
      return response;
    }
    let snippet: string | undefined;
    if (response.body && !NULL_BODY.has(response.status)) {
      const body = await readCapped(response.body);
      snippet = wordCut(Buffer.from(body.subarray(0, 4 * SNIPPET_BYTES)).toString("utf8"), SNIPPET_BYTES);
      response = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    observer.last = seen({ bodySnippet: snippet });
    return response;
  };
}

/** A bounded tail of a child's stderr (the SDK's `stderr: "pipe"` stream). */
export class StderrTail {
  private text = "";
  private ended: Promise<void>;

  // A `Stream`, as SDK v1's `StdioClientTransport.stderr` is typed (`Stream | null`); v2's is a Readable.
  constructor(stream: Stream | null | undefined) {
    if (!stream) {
      this.ended = Promise.resolve();
      return;
    }
    (stream as Partial<Readable>).setEncoding?.("utf8");
    stream.on("data", (chunk: string | Buffer) => {
      this.text = (this.text + String(chunk)).slice(-STDERR_TAIL);
    });
    this.ended = new Promise((resolve) => {
      stream.once("end", () => resolve());
      stream.once("close", () => resolve());
      stream.once("error", () => resolve());
    });
  }

  /** The last lines written so far, after waiting up to `waitMs` for the stream to end; undefined if none. */
  async read(waitMs = 300): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    return this.text || undefined;
  }
}

/** Whether something accepts TCP connections at the URL's host and port; undefined if it cannot be told. */
export function tcpReachable(url: string, timeoutMs = 1000): Promise<boolean | undefined> {
  let parts: URL;
  try {
    parts = new URL(url);
  } catch {
    return Promise.resolve(undefined);
  }
  const port = Number(parts.port) || (parts.protocol === "https:" ? 443 : parts.protocol === "http:" ? 80 : 0);
  if (!parts.hostname || !port) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = connect({ host: parts.hostname.replace(/^\[|\]$/g, ""), port });
    const done = (answer: boolean | undefined): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once("connect", () => done(true));
    socket.once("error", (err: NodeJS.ErrnoException) => done(err.code === "ECONNREFUSED" || err.code === "ECONNRESET" ? false : undefined));
  });
}
