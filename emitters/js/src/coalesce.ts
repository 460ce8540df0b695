// Coalescing repeated failures: identical failures of a user within a window become one first event (sent at
// once) and one follow-up with `count`, `firstTs` and `lastTs` — the Python emitter's rule
// (mcpdiag.emitters.coalesce), the same option (`coalesceWindowMs`, default 10 s, 0 = off).
//
// Identical: same server, user, code, touchpoint, tool and severity. The follow-up is the *last* repeat's
// event (its id, ts = lastTs, and its traceId/spanId: the Debug ID the user saw most recently) with
// `count` = the repeats it stands for; a window with a single repeat sends that repeat as it is. Lifecycle
// codes, anything below `warning` and events that already carry a count pass through. The worker alone
// touches this state; past `maxKeys` open windows, new failures pass through uncoalesced (never dropped).
import { LIFECYCLE_CODES, SEVERITY_RANK, type Severity } from "./codes.js";
import type { WireEvent } from "./event.js";

export const DEFAULT_WINDOW_MS = 10_000;
const MAX_KEYS = 10_000;
const FAILURE_RANK = SEVERITY_RANK.warning;

interface Window {
  start: number;
  repeats: number;
  firstTs: string;
  last: WireEvent | undefined;
}

/** The identity of a failure, or undefined for an event that is never coalesced. */
export function failureKey(event: WireEvent): string | undefined {
  if (LIFECYCLE_CODES.has(event.code) || (event.count ?? 1) !== 1) return undefined;
  if ((SEVERITY_RANK[event.severity as Severity] ?? 0) < FAILURE_RANK) return undefined;
  return JSON.stringify([event.server, event.userId, event.code, event.touchpoint, event.tool, event.severity]);
}

/** The emitter worker's coalescing stage, timed by `clock` (milliseconds, monotonic). */
export class Coalescer {
  private windows = new Map<string, Window>();
  /** Repeats held now, waiting for their follow-up. */
  held = 0;
  /** Windows holding repeats now: the follow-ups still to come. */
  followups = 0;
  /** Repeats folded into follow-ups (count > 1) so far. */
  coalesced = 0;

  constructor(
    readonly windowMs: number,
    private readonly clock: () => number,
    private readonly maxKeys: number = MAX_KEYS,
  ) {}

  /** The events to send now: non-failures, first occurrences, and follow-ups of windows that ended. */
  apply(events: WireEvent[]): WireEvent[] {
    const now = this.clock();
    const out: WireEvent[] = [];
    for (const event of events) {
      const key = failureKey(event);
      if (key === undefined) {
        out.push(event);
        continue;
      }
      const window = this.windows.get(key);
      if (window !== undefined && now - window.start < this.windowMs) {
        if (window.last === undefined) {
          window.firstTs = event.ts;
          this.followups += 1;
        }
        window.repeats += 1;
        window.last = event;
        this.held += 1;
        continue;
      }
      if (window !== undefined) {
        this.close(window, out); // ended: its repeats go before the new first occurrence
        this.windows.delete(key);
      }
      if (this.windows.size < this.maxKeys) this.windows.set(key, { start: now, repeats: 0, firstTs: "", last: undefined });
      out.push(event);
    }
    return out;
  }

  private close(window: Window, out: WireEvent[]): void {
    const event = window.last;
    if (event === undefined) return;
    if (window.repeats > 1) {
      event.count = window.repeats;
      event.firstTs = window.firstTs;
      event.lastTs = event.ts;
      this.coalesced += window.repeats;
    }
    out.push(event);
    this.held -= window.repeats;
    this.followups -= 1;
    window.last = undefined;
    window.repeats = 0;
  }

  /** Follow-ups of the windows that ended (all held repeats when `everything`), oldest window first. */
  release(everything = false): WireEvent[] {
    const out: WireEvent[] = [];
    if (!this.windows.size) return out;
    const now = this.clock();
    // A Map keeps insertion order and an ended window is deleted before its key opens again: the ended
    // windows come first.
    for (const [key, window] of this.windows) {
      const ended = now - window.start >= this.windowMs;
      if (!ended && !everything) break;
      this.close(window, out);
      if (ended) this.windows.delete(key);
    }
    return out;
  }

  /** Milliseconds until the oldest open window ends while any window holds repeats; else undefined. */
  nextDue(): number | undefined {
    if (!this.followups) return undefined;
    const oldest = this.windows.values().next().value as Window;
    return Math.max(0, oldest.start + this.windowMs - this.clock());
  }
}
