// The emitter: `emit()` on the host's tick only builds a plain object and queues it; a timer-driven worker
// finalizes (ids, bounds, redaction), batches and ships to a sink. It never throws into the host.
import { hostname } from "node:os";
import { type Classification, type ClassifyOptions, classify } from "./classifier.js";
import { CATALOG_DATA } from "./catalog-data.js";
import { cutForRedaction } from "./chain.js";
import { CATALOG, FALLBACK_CODE, LIFECYCLE_CODES, LIMITS, SEVERITIES, SEVERITY_RANK, type Severity, codeInfo } from "./codes.js";
import { type AttrValue, MAX_ATTR_VALUE, type WireEvent, attrsCut, boundedAttrs, fit, formatTs } from "./event.js";
import { debugId, newEventId, newTraceId, spanIdOf } from "./ids.js";
import { activeSpanIds } from "./otel.js";
import { Coalescer, DEFAULT_WINDOW_MS } from "./coalesce.js";
import { Redactor } from "./redact.js";
import { Fifo } from "./queue.js";
import type { Sink, SinkResult } from "./sinks.js";

/** The fields of one event besides its code. */
export interface EmitOptions {
  server: string;
  touchpoint: string;
  severity?: Severity;
  messageSafe?: string;
  detail?: string | null;
  retryable?: boolean;
  userId?: string | null;
  conversationId?: string | null;
  runId?: string | null;
  tool?: string | null;
  transport?: string | null;
  httpStatus?: number | null;
  durationMs?: number | null;
  attrs?: Record<string, unknown> | null;
  /** The Debug ID to use; by default the active OpenTelemetry span's trace id, else a fresh one. */
  traceId?: string;
  spanId?: string | null;
}

/** `capture()`'s context: the event's fields plus what the hooks saw, for the classifier. */
export type CaptureOptions = Omit<EmitOptions, "severity" | "messageSafe" | "retryable"> &
  Pick<ClassifyOptions, "http" | "sessionEstablished" | "proxyInUse" | "stderrTail">;

export interface EmitterOptions {
  service: string;
  version?: string;
  queueSize?: number;
  batchSize?: number;
  flushIntervalMs?: number;
  /** A send that has not settled after this long counts as a retry (the collector dedupes by event id). */
  sinkTimeoutMs?: number;
  knownSecrets?: Iterable<string>;
  /** Identical failures of a user within this window are sent as the first one at once plus one follow-up
   * with `count`, `firstTs` and `lastTs` (default 10,000 ms; 0 sends every failure). */
  coalesceWindowMs?: number;
  /** The clock coalescing windows are timed by (milliseconds, monotonic; default `performance.now`). */
  monotonic?: () => number;
}

/** Counters of an emitter since it was created. */
export interface EmitterStats {
  queued: number;
  sent: number;
  dropped: Record<Severity, number>;
  droppedTotal: number;
  failedBatches: number;
  retriedBatches: number;
  rejected: number;
  /** Repeated failures folded into follow-up events (`count` > 1) so far. */
  coalesced: number;
  /** Repeated failures held now, waiting for the follow-up event that will count them. */
  held: number;
}

interface RawRecord {
  t: number;
  code: string;
  o: EmitOptions;
  traceId: string;
  spanId: string | null;
}
/** A built event: from `emitEvent` (not yet staged), or handed back by the sink (`staged`: not coalesced again). */
type Record_ = RawRecord | { final: WireEvent; staged?: true };

const DROPPED_EVENTS_ATTR = "mcpdiag.dropped_events";
const RETRY_PAUSE_MS: [number, number] = [50, 2000];
const CODE_RANK = new Map<string, number>(Object.entries(CATALOG).map(([code, info]) => [code, SEVERITY_RANK[info.severity]]));
const TRANSPORTS: ReadonlySet<string> = new Set(CATALOG_DATA.transports);
const TOUCHPOINTS: ReadonlySet<string> = new Set(CATALOG_DATA.touchpoints);
const SEVERITY_NAMES: ReadonlySet<string> = new Set(SEVERITIES);
const CODE_FORM = /^[A-Z][A-Z0-9_]{2,63}$/;
const INVALID_PREFIX: string = CATALOG_DATA.invalidPrefix;

function codeOf(value: unknown, notes: Record<string, AttrValue>): string {
  const text = String(value);
  if (CODE_FORM.test(text)) return text;
  notes[`${INVALID_PREFIX}code`] = cutForRedaction(text, 4 * MAX_ATTR_VALUE);
  return FALLBACK_CODE;
}

/** A server name the contract accepts: not empty, and not `.` or `..`, which no URL can name (either is
 * `unknown`, a dot segment kept in an attr). */
function serverOf(value: unknown, notes: Record<string, AttrValue>): string {
  const text = name(value)?.slice(0, 128) ?? "";
  if (text === "." || text === "..") {
    notes[`${INVALID_PREFIX}server`] = text;
    return "unknown";
  }
  return text || "unknown";
}

/** `value` when it is one of `allowed`; null when it is absent, or (kept in a note) not one of them. */
function choice(value: unknown, allowed: ReadonlySet<string>, field: string, notes: Record<string, AttrValue>): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value);
  if (allowed.has(text)) return text;
  notes[INVALID_PREFIX + field] = cutForRedaction(text, 4 * MAX_ATTR_VALUE);
  return null;
}

function numberOf(
  value: unknown,
  low: number,
  high: number,
  field: string,
  notes: Record<string, AttrValue>,
  whole: boolean,
): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && Number.isFinite(value) && (!whole || Number.isInteger(value)) && value >= low && value <= high) {
    return value;
  }
  notes[INVALID_PREFIX + field] =
    typeof value === "number" && Number.isFinite(value) ? value : cutForRedaction(String(value), 4 * MAX_ATTR_VALUE);
  return null;
}
const CONTROL = /[\x00-\x1f\x7f]/g;

/** The trace and span ids of an event: the host's, checked (`debugId`: one that is not a W3C id is replaced,
 * so the Debug ID returned is the one stored), else the active OpenTelemetry span's, else fresh. */
function idsOf(options: EmitOptions): [string, string | null] {
  const given = options?.traceId;
  if (given !== undefined && given !== null && given !== "") return [debugId(given), spanIdOf(options.spanId)];
  const ids = activeSpanIds();
  return ids ?? [newTraceId(), spanIdOf(options?.spanId)];
}

function rankOf(record: Record_): number {
  if ("final" in record) return SEVERITY_RANK[record.final.severity as Severity] ?? 3;
  const severity = record.o.severity;
  return severity === undefined ? (CODE_RANK.get(record.code) ?? 3) : (SEVERITY_RANK[severity] ?? 3);
}

const HAS_CONTROL = /[\x00-\x1f\x7f]/;

function name(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  const text = String(value);
  return (HAS_CONTROL.test(text) ? text.replace(CONTROL, " ") : text).slice(0, 256);
}

const live = new Set<WeakRef<Emitter>>();
let exitHooked = false;

function hookBeforeExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // The worker's timers are unref'd, so a host that simply ends gets here with events still queued.
  process.on("beforeExit", () => {
    for (const ref of live) {
      const emitter = ref.deref();
      if (emitter === undefined) live.delete(ref);
      else emitter.drainBeforeExit();
    }
  });
}

/** Turns diagnostics into wire events without ever slowing down or breaking the host. */
export class Emitter {
  readonly sink: Sink;
  private readonly queueSize: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly sinkTimeoutMs: number;
  private readonly source: WireEvent["source"];
  private readonly secrets = new Set<string>();
  private redactor: Redactor;
  private readonly queues: Fifo<Record_>[] = SEVERITIES.map(() => new Fifo<Record_>());
  private size = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerSoon = false;
  private running = false;
  private closed = false;
  private pauseMs = RETRY_PAUSE_MS[0];
  private unreportedDrops = 0;
  private readonly idle: (() => void)[] = [];
  private exitProgress: number | undefined;
  /** The refusals already said (`warnRefusal`). */
  private readonly refusals = new Set<string>();
  private readonly coalescer: Coalescer | undefined;
  /** Flushes waiting: while any is, the worker hands over every repeat the coalescer holds. */
  private releasing = 0;
  private readonly counters = {
    sent: 0,
    dropped: Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>,
    failedBatches: 0,
    retriedBatches: 0,
    rejected: 0,
  };

  constructor(sink: Sink, options: EmitterOptions) {
    this.sink = sink;
    this.queueSize = Math.max(1, options.queueSize ?? 10_000);
    this.batchSize = Math.max(1, options.batchSize ?? 500);
    this.flushIntervalMs = Math.max(0, options.flushIntervalMs ?? 200);
    this.sinkTimeoutMs = Math.max(1, options.sinkTimeoutMs ?? 30_000);
    // As the collector reads it (strings, bounded): a source it would refuse would refuse every event.
    const version = options.version;
    this.source = {
      service: String(options.service).slice(0, 128),
      host: hostname().slice(0, 256),
      version: version === undefined || version === null ? null : String(version).slice(0, 64),
    };
    for (const s of options.knownSecrets ?? []) if (s) this.secrets.add(s);
    this.redactor = new Redactor(this.secrets);
    const windowMs = Number(options.coalesceWindowMs ?? DEFAULT_WINDOW_MS);
    if (windowMs > 0) this.coalescer = new Coalescer(windowMs, options.monotonic ?? (() => performance.now()));
    live.add(new WeakRef(this));
    hookBeforeExit();
  }

  // -- the hot path ---------------------------------------------------------------------------------------

  /** Queue one event and return its Debug ID (its trace id). Never throws, never does I/O.
   * `options` is read later, by the worker: do not change it after the call. */
  emit(code: string, options: EmitOptions): string {
    let traceId: string | undefined;
    try {
      let spanId: string | null;
      [traceId, spanId] = idsOf(options);
      // `options` is kept by reference until the worker reads it (a copy would double the cost of this
      // call): pass a fresh object, as an object literal does, and do not change it afterwards.
      this.enqueue({ t: Date.now(), code, o: options, traceId, spanId });
      return traceId;
    } catch {
      return traceId ?? newTraceId();
    }
  }

  private enqueue(record: Record_): void {
    const rank = rankOf(record);
    if (this.closed || (this.size >= this.queueSize && !this.shedBelow(rank))) {
      this.drop(rank);
      return;
    }
    this.queues[rank].push(record);
    this.size += 1;
    this.schedule(this.size >= this.batchSize ? 0 : this.flushIntervalMs);
  }

  /** Drop the oldest queued event of a lower severity than `rank`; false if there is none. */
  private shedBelow(rank: number): boolean {
    for (let lower = 0; lower < rank; lower++) {
      if (this.queues[lower].length) {
        this.queues[lower].shift();
        this.size -= 1;
        this.drop(lower);
        return true;
      }
    }
    return false;
  }

  private drop(rank: number): void {
    this.counters.dropped[SEVERITIES[rank]] += 1;
    this.unreportedDrops += 1;
  }

  // -- context-rich entry points --------------------------------------------------------------------------

  /** Classify `err`, redact what it says, emit the event; returns the Debug ID. */
  capture(err: unknown, options: CaptureOptions): string {
    return this.captureEvent(err, options)[0].traceId;
  }

  /** Like `capture`, returning the emitted wire event and the classification. */
  captureEvent(err: unknown, options: CaptureOptions): [WireEvent, Classification] {
    const { http, sessionEstablished, proxyInUse, stderrTail, ...fields } = options;
    const found = classify(err, {
      touchpoint: fields.touchpoint,
      transport: fields.transport ?? undefined,
      server: fields.server,
      http,
      sessionEstablished,
      proxyInUse,
      stderrTail,
      redactor: this.redactor,
    });
    const event = this.emitEvent(found.code, {
      ...fields,
      severity: found.severity,
      messageSafe: found.messageSafe,
      detail: found.detail,
      retryable: found.retryable,
      httpStatus: fields.httpStatus ?? found.httpStatus ?? null,
      attrs: { ...found.attrs, ...(fields.attrs ?? {}) },
    });
    return [event, found];
  }

  /** Emit like `emit`, but build the final wire event now and return it (not for hot paths). */
  emitEvent(code: string, options: EmitOptions): WireEvent {
    const [traceId, spanId] = idsOf(options);
    const event = this.finalize({ t: Date.now(), code, o: options, traceId, spanId });
    this.enqueue({ final: event });
    return { ...event, attrs: { ...event.attrs } };
  }

  /** Redact `value` (a token, a password the host knows) from every later event. */
  registerSecret(value: string | null | undefined): void {
    if (typeof value === "string" && value.trim().length >= 4 && !this.secrets.has(value)) {
      this.secrets.add(value);
      this.redactor = new Redactor(this.secrets);
    }
  }

  /** The redactor with every secret registered so far. */
  get currentRedactor(): Redactor {
    return this.redactor;
  }

  // -- the worker ------------------------------------------------------------------------------------------

  private schedule(delayMs: number): void {
    if (this.running) return;
    if (this.timer !== undefined) {
      // Called on every emit: only a due-later timer is worth replacing by a due-now one.
      if (delayMs > 0 || this.timerSoon) return;
      clearTimeout(this.timer);
    }
    this.timerSoon = delayMs === 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerSoon = false;
      void this.run();
    }, delayMs);
    this.timer.unref();
  }

  private take(): Record_[] {
    const batch: Record_[] = [];
    for (let rank = this.queues.length - 1; rank >= 0 && batch.length < this.batchSize; rank--) {
      const queue = this.queues[rank];
      while (queue.length && batch.length < this.batchSize) batch.push(queue.shift() as Record_);
    }
    this.size -= batch.length;
    this.inFlight = batch.length;
    return batch;
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        const batch = this.take();
        let events = batch.length ? this.prepare(batch) : [];
        if (this.coalescer && !this.size) events = events.concat(this.coalescer.release(this.releasing > 0));
        if (!events.length) {
          this.inFlight = 0;
          if (!batch.length) break;
          continue; // everything taken was folded into a window
        }
        this.inFlight = events.length;
        const unsent = await this.ship(events);
        if (unsent === undefined) {
          this.pauseMs = RETRY_PAUSE_MS[0];
          continue;
        }
        // The sink is down: keep the batch (as queue room allows) and try again later.
        this.requeue(unsent);
        const pause = this.pauseMs;
        this.pauseMs = Math.min(this.pauseMs * 2, RETRY_PAUSE_MS[1]);
        this.running = false;
        this.notifyIdle();
        this.schedule(pause);
        return;
      }
    } catch {
      // an SDK never breaks its host; what was in flight is counted as dropped by ship()
    }
    this.inFlight = 0;
    this.running = false;
    this.notifyIdle();
    const due = this.coalescer?.nextDue();
    if (due !== undefined) this.schedule(Math.max(due, 1));
  }

  /** Build the batch's events (the ones built already as they are) and fold repeats into windows. */
  private prepare(batch: Record_[]): WireEvent[] {
    const fresh: WireEvent[] = [];
    const staged: WireEvent[] = [];
    for (const record of batch) {
      try {
        if (!("final" in record)) fresh.push(this.finalize(record));
        else (record.staged ? staged : fresh).push(record.final);
      } catch {
        this.drop(rankOf(record)); // one event that cannot be built costs only itself
      }
    }
    let out = fresh;
    try {
      if (this.coalescer) out = this.coalescer.apply(fresh);
    } catch {
      out = fresh; // a broken stage costs its work, never the events
    }
    return staged.length ? staged.concat(out) : out;
  }

  private async ship(events: WireEvent[]): Promise<WireEvent[] | undefined> {
    let report: [WireEvent, number] | undefined;
    let result: SinkResult;
    try {
      report = this.reportDrops(events);
      result = (await this.sendBounded(events)) ?? { outcome: "sent" };
    } catch (err) {
      result = { outcome: "failed", error: String((err as Error)?.name ?? err) };
    }
    if (report && result.outcome !== "sent") {
      // Not delivered: take the count back, so the batch that does get through reports it.
      delete report[0].attrs[DROPPED_EVENTS_ATTR];
      this.unreportedDrops += report[1];
    }
    this.inFlight = 0;
    if (result.outcome === "sent") {
      const rejected = Math.min(events.length, Math.max(0, result.rejected ?? 0));
      this.counters.sent += events.length - rejected;
      this.counters.rejected += rejected;
      return undefined;
    }
    if (result.outcome === "retry") {
      this.counters.retriedBatches += 1;
      return events;
    }
    this.counters.failedBatches += 1;
    for (const event of events) this.drop(rankOf({ final: event }));
    this.warnRefusal(events.length, result.error);
    return undefined;
  }

  /**
   * Say once, for each distinct refusal, that the receiver refused whole batches (a wrong ingest key, a wrong
   * URL): they are dropped, and nothing else would say so. A process warning (`process.on("warning")`),
   * redacted: it may quote the answer.
   */
  private warnRefusal(count: number, error: string | undefined): void {
    const reason = this.redactor.string(error ?? "refused", {});
    if (this.refusals.has(reason) || this.refusals.size >= 16) return;
    this.refusals.add(reason);
    process.emitWarning(
      `mcpdiag emitter dropped ${count} event(s): the receiver refused the batch (${reason}); check the collector's URL and the ingest key (said once; stats() counts every drop)`,
      { code: "MCPDIAG_DELIVERY_REFUSED" },
    );
  }

  private sendBounded(events: WireEvent[]): Promise<SinkResult | void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<SinkResult>((resolve) => {
      timer = setTimeout(() => resolve({ outcome: "retry", error: "sink timed out" }), this.sinkTimeoutMs);
      timer.unref();
    });
    const sent = Promise.resolve().then(() => this.sink.send(events));
    return Promise.race([sent, timeout]).finally(() => clearTimeout(timer));
  }

  private requeue(events: WireEvent[]): void {
    for (let i = events.length - 1; i >= 0; i--) {
      const record: Record_ = { final: events[i], staged: true };
      const rank = rankOf(record);
      if (this.size >= this.queueSize && !this.shedBelow(rank)) {
        this.drop(rank);
        continue;
      }
      this.queues[rank].unshift(record);
      this.size += 1;
    }
  }

  /** Put the count of drops not yet reported on the first event with room; that event and the count. */
  private reportDrops(events: WireEvent[]): [WireEvent, number] | undefined {
    const dropped = this.unreportedDrops;
    if (!dropped) return undefined;
    this.unreportedDrops = 0;
    for (const event of events) {
      if (Object.keys(event.attrs).length < LIMITS.maxAttrs) {
        event.attrs[DROPPED_EVENTS_ATTR] = dropped;
        return [event, dropped];
      }
    }
    this.unreportedDrops += dropped;
    return undefined;
  }

  /** The valid wire event of a queued record: ids, defaults, bounds and redaction. */
  private finalize(record: RawRecord): WireEvent {
    const o = record.o;
    // What the wire contract has no room for is kept in `mcpdiag.invalid.*` attrs and the event is shipped with
    // the default instead: the collector refuses an event whole, and its Debug ID was already handed out.
    const notes: Record<string, AttrValue> = {};
    const code = codeOf(record.code, notes);
    const info = codeInfo(code);
    const known = info.code === code;
    const server = serverOf(o.server, notes);
    const status = o.httpStatus;
    const duration = o.durationMs;
    const severity = choice(o.severity, SEVERITY_NAMES, "severity", notes);
    const event: WireEvent = {
      id: newEventId(record.t),
      ts: formatTs(record.t),
      server,
      userId: name(o.userId),
      conversationId: name(o.conversationId),
      runId: name(o.runId),
      touchpoint: choice(o.touchpoint, TOUCHPOINTS, "touchpoint", notes) ?? (LIFECYCLE_CODES.has(code) ? "lifecycle" : "connect"),
      code,
      severity: (severity as Severity | null) ?? info.severity,
      messageSafe: String(o.messageSafe || info.message.replaceAll("{server}", server)),
      detail: o.detail ? String(o.detail) : null,
      retryable: o.retryable === undefined ? info.retryable && known : Boolean(o.retryable),
      traceId: record.traceId,
      spanId: record.spanId,
      transport: choice(o.transport, TRANSPORTS, "transport", notes),
      tool: name(o.tool),
      httpStatus: numberOf(status, 100, 599, "httpStatus", notes, true),
      durationMs: numberOf(duration, 0, 6048e5, "durationMs", notes, false),
      attrs: boundedAttrs(o.attrs),
      source: this.source,
    };
    for (const [key, value] of Object.entries(notes)) {
      if (Object.keys(event.attrs).length >= LIMITS.maxAttrs) break;
      if (!(key in event.attrs)) event.attrs[key] = value;
    }
    const redactor = this.redactor;
    event.messageSafe = redactor.string(event.messageSafe, {}).slice(0, LIMITS.maxMessageSafe);
    event.detail = event.detail ? redactor.string(event.detail, {}).slice(0, LIMITS.maxDetail) : null;
    if (Object.keys(event.attrs).length) event.attrs = attrsCut(redactor.event(event.attrs)[0]);
    fit(event);
    return event;
  }

  // -- flushing and closing --------------------------------------------------------------------------------

  private notifyIdle(): void {
    if (this.size || this.inFlight || this.running || (this.releasing && this.coalescer?.followups)) return;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Wait until every queued event (and every repeat a window holds) was handed to the sink; false if
   * `timeoutMs` passed first. */
  flush(timeoutMs = 5000): Promise<boolean> {
    const holding = (): number => this.coalescer?.followups ?? 0;
    if (!this.size && !this.inFlight && !this.running && !holding()) return Promise.resolve(true);
    this.releasing += 1;
    return new Promise<boolean>((resolve) => {
      // A ref'd timer: a host awaiting flush() at its end must not exit before the flush does.
      const deadline = setTimeout(() => {
        const at = this.idle.indexOf(done);
        if (at !== -1) this.idle.splice(at, 1);
        resolve(!this.size && !this.inFlight && !holding());
      }, Math.max(0, timeoutMs));
      const done = (): void => {
        if (this.size || holding()) {
          // A retry pause: come back when the worker has tried again.
          this.idle.push(done);
          this.schedule(0);
          return;
        }
        clearTimeout(deadline);
        resolve(true);
      };
      this.idle.push(done);
      this.pauseMs = RETRY_PAUSE_MS[0];
      this.schedule(0);
    }).finally(() => {
      this.releasing -= 1;
    });
  }

  /** Flush what is queued (up to `timeoutMs`), stop accepting events and close the sink. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush(timeoutMs);
    } finally {
      this.closed = true;
      for (const queue of this.queues) for (const record of queue.drain()) this.drop(rankOf(record));
      const held = this.coalescer?.held ?? 0;
      if (held && this.coalescer) {
        // Repeats a flush that ran out of time could not deliver: counted, like the queue's leftovers.
        const severity = (this.coalescer.release(true)[0]?.severity ?? "warning") as Severity;
        this.counters.dropped[SEVERITY_RANK[severity] === undefined ? "warning" : severity] += held;
        this.unreportedDrops += held;
      }
      this.size = 0;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerSoon = false;
      for (const ref of live) if (ref.deref() === this) live.delete(ref);
      try {
        await this.sink.close?.();
      } catch {
        // an SDK never breaks its host
      }
    }
  }

  /** Called on `beforeExit`: ship what is queued, unless the last try made no progress. */
  drainBeforeExit(): void {
    if (this.closed || (!this.size && !this.inFlight && !this.coalescer?.followups)) return;
    const progress = this.counters.sent + this.counters.failedBatches;
    if (this.exitProgress === progress) return; // the sink is down: let the process end
    this.exitProgress = progress;
    void this.flush(2000);
  }

  /** A snapshot of the counters. */
  stats(): EmitterStats {
    const dropped = { ...this.counters.dropped };
    return {
      queued: this.size + this.inFlight,
      sent: this.counters.sent,
      dropped,
      droppedTotal: Object.values(dropped).reduce((a, b) => a + b, 0),
      failedBatches: this.counters.failedBatches,
      retriedBatches: this.counters.retriedBatches,
      rejected: this.counters.rejected,
      coalesced: this.coalescer?.coalesced ?? 0,
      held: this.coalescer?.held ?? 0,
    };
  }

  /** Events queued and not yet handed to the sink (a window's follow-up still to come counts one). */
  get pending(): number {
    return this.size + this.inFlight + (this.coalescer?.followups ?? 0);
  }

  /** Milliseconds identical failures are folded into one follow-up event (0: every failure is sent). */
  get coalesceWindowMs(): number {
    return this.coalescer?.windowMs ?? 0;
  }
}

