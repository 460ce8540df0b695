// A server's live diagnostics: GET /api/mcp/{server}/diagnostics/stream (Server-Sent Events) read the way an
// EventSource reads it — `event:`, `data:`, `id:` and `retry:` fields, comments as heartbeats, and on every
// reconnect the last `id` sent back as `Last-Event-ID`, so nothing is missed or repeated across a gap.
//
// Why not `new EventSource(url)`: it cannot send an `Authorization` header, and the API takes its bearer
// token only there (a token in the URL would end up in every proxy's access log). So this reads the same
// stream with fetch and a streaming body. When streaming cannot work (no ReadableStream, the stream refused
// with 429/503, or it keeps failing), the caller's `poll` takes over on a timer, and the stream is tried again
// now and then.

const RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;
const FAILURES_BEFORE_POLLING = 3;
const POLL_MS = 15000;
const STREAM_AGAIN_MS = 60000;

/** Split an SSE body into messages, as the HTML standard's event-stream parser does. */
export class EventStreamParser {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.buffer = "";
    this.reset();
  }

  reset() {
    this.event = "";
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    // A CR ending this chunk may be the first half of a CRLF the next chunk completes: it waits with the
    // unfinished line (one line end, not two, which would end the message early).
    const lines = this.buffer.split(/\r\n|\r(?!$)|\n/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") {
      // No data field, no message (an `event:` alone is dropped, as the standard says).
      if (this.data.length) this.onMessage({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
      this.reset();
      return;
    }
    if (line.startsWith(":")) {
      this.onMessage({ comment: line.slice(1) });
      return;
    }
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (name === "event") this.event = value;
    else if (name === "data") this.data.push(value);
    else if (name === "id" && !value.includes("\0")) this.id = value;
    else if (name === "retry" && /^\d+$/.test(value)) this.onMessage({ retry: Number(value) });
  }
}

/**
 * `new LiveStream({client, server, onEvent, onState, poll})` then `start()` / `stop()`. `onEvent(item)` gets
 * each diagnostic as the diagnostics endpoint returns it; `onState(state)` is "connecting", "live",
 * "reconnecting" or "polling"; `poll()` is what to run on the timer when streaming is not possible.
 */
export class LiveStream {
  constructor({ client, server, onEvent, onState = () => {}, poll = null }) {
    Object.assign(this, { client, server, onEvent, onState, poll });
    this.lastId = null;
    this.failures = 0;
    this.retryMs = RETRY_MS;
    this.controller = null;
    this.timer = null;
    this.stopped = true;
    this.state = "";
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.controller?.abort();
    this.controller = null;
  }

  async connect() {
    if (this.stopped) return;
    if (typeof ReadableStream === "undefined" || typeof TextDecoderStream === "undefined") return this.startPolling();
    this.setState(this.lastId ? "reconnecting" : "connecting");
    const controller = (this.controller = new AbortController());
    const headers = { Accept: "text/event-stream" };
    if (this.client.token) headers.Authorization = `Bearer ${this.client.token}`;
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    let response;
    try {
      response = await fetch(this.client.url(`/api/mcp/${encodeURIComponent(this.server)}/diagnostics/stream`), {
        headers, signal: controller.signal, cache: "no-store",
      });
    } catch {
      return this.failed(controller);
    }
    if (!response.ok || !response.body) {
      // Refused for load (429 too many streams, 503): poll instead, and try streaming again later.
      if ([429, 503].includes(response.status)) return this.startPolling(controller);
      return this.failed(controller, response.status === 401 || response.status === 404);
    }
    this.failures = 0;
    this.retryMs = RETRY_MS;
    this.stopPolling();
    this.setState("live");
    const parser = new EventStreamParser((message) => this.message(message));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch { /* cut: reconnect below */ }
    this.failed(controller);
  }

  message(message) {
    if (message.retry) this.retryMs = Math.min(MAX_RETRY_MS, Math.max(RETRY_MS, message.retry));
    if (message.event !== "diagnostic") return;
    if (message.id) this.lastId = message.id;
    let item;
    try { item = JSON.parse(message.data); } catch { return; }
    this.onEvent(item);
  }

  /** The stream ended or could not start: try again with backoff, or poll after repeated failures. */
  failed(controller, final = false) {
    if (this.stopped || controller !== this.controller) return;
    this.failures += 1;
    if (final || this.failures >= FAILURES_BEFORE_POLLING) return this.startPolling(controller);
    this.setState("reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
  }

  startPolling(controller = this.controller) {
    if (this.stopped || controller !== this.controller) return;
    this.setState("polling");
    if (this.poll && !this.pollTimer) this.pollTimer = setInterval(() => this.poll(), POLL_MS);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.failures = 0; this.connect(); }, STREAM_AGAIN_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
