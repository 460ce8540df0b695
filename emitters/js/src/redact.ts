// Redaction: strip secrets from event text and fields before an event leaves the host.
// A port of mcpdiag.emitters.redact (Python), kept in step by the shared vectors (test/redact.test.mjs):
// `Redactor.text` for a string and `Redactor.value`, the one walk over an event or any JSON-like value. The
// engine (redact-engine.ts) matches text as it is and as it reads once decoded (redact-views.ts), against the
// format rules (redact-rules.ts) and the names that introduce a secret (redact-assign.ts). The walk redacts
// keys like any other text, hides the value of a key that names a secret (redact-keys.ts; a count under a name
// such as `oauth` is data), and remembers the strings it found clean (bounded, never one that held a secret).
import {
  ESCAPES,
  GATE_LITERALS,
  RULE_NAMES,
  applyEdits,
  decodedEdits,
  holdsAny,
  knownEdits,
  presentLiterals,
  ruleEdits,
} from "./redact-engine.js";
import { isCountKey, isSecretKey, namesSecret, pairName } from "./redact-keys.js";
import { cpLength, pyStrip, quoteBytes, secretBytes } from "./redact-py.js";
import { base64Forms } from "./redact-views.js";
import { PLACEHOLDER_FULL, schemeEnd } from "./redact-rules.js";

export { GATE_LITERALS, RULE_NAMES, isSecretKey };

export const MIN_KNOWN_SECRET = 4;
/** Known secrets this long or longer are also looked for in base64 (as Python's `MIN_ENCODED_SECRET`). */
export const MIN_ENCODED_SECRET = 8;
/** How many clean strings a redactor remembers (then it forgets them all and starts over). */
export const CACHE_STRINGS = 8192;
/** Longer strings are rarely repeated: always scanned, never remembered. */
export const CACHE_CHARS = 1024;
const MAX_PASSES = 6;

type Counts = Record<string, number>;

/** Redacts text, events and any JSON-like value; built once from the known secrets and reused. */
export class Redactor {
  private readonly needles: readonly string[];
  // Strings the walk found clean: a repeated string costs a set lookup.
  private readonly clean = new Set<string>();

  constructor(knownSecrets: Iterable<string> = []) {
    const kept = new Set<string>();
    for (const s of knownSecrets) {
      if (typeof s !== "string") continue;
      const stripped = pyStrip(s);
      if (cpLength(stripped) >= MIN_KNOWN_SECRET) kept.add(stripped);
    }
    const needles = new Set<string>(kept);
    for (const s of kept) {
      const data = secretBytes(s);
      needles.add(quoteBytes(data));
      // In base64 too (standard and URL-safe), when long enough.
      if (cpLength(s) >= MIN_ENCODED_SECRET) {
        for (const form of base64Forms(data)) needles.add(form).add(form.replace(/\+/g, "-").replace(/\//g, "_"));
      }
    }
    this.needles = [...needles].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Redact one string, adding how often each rule fired to `counts`. */
  text(input: string, counts: Counts = {}): string {
    // Substring tests on the lowercased text: most texts hold none of the literals (nor a known secret).
    let text = input;
    let low = text.toLowerCase();
    let present = presentLiterals(low);
    const needles = this.needles;
    if (!present.size && !(needles.length && holdsAny(text, needles))) return text;
    // Matches can overlap or expose one another ('token= "secret": "…"'): repeat until nothing changes,
    // which is also what makes a second call a no-op.
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      let edits = needles.length ? knownEdits(text, needles) : [];
      if (present.size) edits = ruleEdits(text, low, present, edits);
      if (!edits.length && [...ESCAPES].some((e) => present.has(e))) edits = decodedEdits(text, present, needles);
      if (!edits.length) break;
      text = applyEdits(text, edits, counts);
      low = text.toLowerCase();
      present = presentLiterals(low);
    }
    return text;
  }

  /** Whether `text` could hold something to redact: false guarantees `text(text)` returns it as is. */
  mightContainSecret(text: string): boolean {
    return holdsAny(text, this.needles) || presentLiterals(text.toLowerCase()).size > 0;
  }

  /** Names of the rules that would fire on `text` (never the secret itself). */
  findLeaks(text: string): string[] {
    const counts: Counts = {};
    this.text(text, counts);
    return Object.keys(counts);
  }

  /** A redacted deep copy of a plain object (an event's fields) and the count of redactions per rule. */
  event<T extends Record<string, unknown>>(event: T): [T, Counts] {
    const counts: Counts = {};
    return [this.mapping(event, counts) as T, counts];
  }

  /** A redacted copy of any JSON-like value (strings, objects, arrays; keys included), adding how often each
   * rule fired to `counts`; other values are returned as they are. */
  value(value: unknown, counts: Counts = {}): unknown {
    if (typeof value === "string") return this.string(value, counts);
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) return this.sequence(value, counts);
    return this.mapping(value as Record<string, unknown>, counts);
  }

  /** `text(text, counts)`, answered from memory for a string already found clean. */
  string(text: string, counts: Counts): string {
    const clean = this.clean;
    if (clean.has(text)) return text;
    const fired: Counts = {};
    const redacted = this.text(text, fired);
    const rules = Object.keys(fired);
    if (rules.length) {
      for (const rule of rules) counts[rule] = (counts[rule] ?? 0) + fired[rule];
      return redacted;
    }
    if (text.length <= CACHE_CHARS) {
      if (clean.size >= CACHE_STRINGS) clean.clear();
      clean.add(text);
    }
    return text;
  }

  /** The first rule that would fire anywhere in `value` (keys included), or null when the walk leaves it. */
  firstLeak(value: unknown): string | null {
    const counts: Counts = {};
    this.value(value, counts);
    return Object.keys(counts)[0] ?? null;
  }

  /** Whether the walk leaves `value` exactly as it is. */
  isClean(value: unknown): boolean {
    return this.firstLeak(value) === null;
  }

  /** The strings this redactor currently remembers as clean. */
  remembered(): ReadonlySet<string> {
    return new Set(this.clean);
  }

  private mapping(mapping: Record<string, unknown>, counts: Counts): Record<string, unknown> {
    const entries = Object.entries(mapping);
    const pair = pairName(entries);
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      let redacted: unknown;
      if (isSecretKey(key)) redacted = this.secret(key, item, counts);
      else if (pair !== null && key === pair[1]) redacted = this.named(pair[0], item, counts);
      else redacted = this.value(item, counts);
      let name = this.string(key, counts);
      if (Object.hasOwn(out, name)) {
        // Two keys redacted alike (two tokens): both values stay, the later key gets a number.
        let n = 2;
        while (Object.hasOwn(out, `${name} #${n}`)) n++;
        name = `${name} #${n}`;
      }
      // `__proto__` is a key like any other here, not the object's prototype.
      Object.defineProperty(out, name, { value: redacted, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  private sequence(items: unknown[], counts: Counts): unknown[] {
    // A list of [name, value] pairs is a header list (`[["Authorization", "Bearer …"], …]`).
    const pairs = items.length > 0 && items.every((item) => Array.isArray(item) && item.length === 2 && typeof item[0] === "string");
    return items.map((item) => {
      if (pairs) {
        const [name, value] = item as [string, unknown];
        if (cpLength(name) <= 128 && namesSecret(name)) return [this.string(name, counts), this.named(name, value, counts)];
      }
      return this.value(item, counts);
    });
  }

  /** The value a name/value pair names as a secret: its auth scheme stays (`Bearer [REDACTED:…]`). */
  private named(name: string, item: unknown, counts: Counts): unknown {
    if (typeof item !== "string") return this.secret(name, item, counts);
    const redacted = this.string(item, counts);
    const skip = schemeEnd(redacted);
    const rest = redacted.slice(skip);
    if (!rest || PLACEHOLDER_FULL.test(rest)) return redacted;
    return redacted.slice(0, skip) + this.placeholder(item, counts);
  }

  /** What stays of a value under a key that names a secret: nothing, a flag, a count, a placeholder. */
  private secret(key: string, item: unknown, counts: Counts): unknown {
    if (item === null || item === undefined || typeof item === "boolean") return item;
    if (typeof item === "string" && (!item || PLACEHOLDER_FULL.test(item))) return item;
    if ((typeof item === "number" || typeof item === "bigint") && isCountKey(key)) return item;
    return this.placeholder(item, counts);
  }

  private placeholder(item: unknown, counts: Counts): string {
    const known = typeof item === "string" && this.needles.some((needle) => item.includes(needle));
    const rule = known ? "known_secret" : "secret_key";
    counts[rule] = (counts[rule] ?? 0) + 1;
    return `[REDACTED:${rule}]`;
  }
}

const DEFAULT = new Redactor();

function redactorFor(knownSecrets: Iterable<string> | undefined): Redactor {
  const secrets = knownSecrets ? [...knownSecrets] : [];
  return secrets.length ? new Redactor(secrets) : DEFAULT;
}

/** Redact secrets in `text`, replacing each with `[REDACTED:<rule>]`. */
export function redactText(text: string, options: { knownSecrets?: Iterable<string> } = {}): string {
  return redactorFor(options.knownSecrets).text(text);
}

/** A redacted deep copy of `event` and how many redactions each rule made. */
export function redactEvent<T extends Record<string, unknown>>(
  event: T,
  options: { knownSecrets?: Iterable<string> } = {},
): [T, Record<string, number>] {
  return redactorFor(options.knownSecrets).event(event);
}

/** Names of the rules that would fire on `text`, in the order they apply; never the secret itself. */
export function findLeaks(text: string, options: { knownSecrets?: Iterable<string> } = {}): string[] {
  return redactorFor(options.knownSecrets).findLeaks(text);
}
