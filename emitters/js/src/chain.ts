// The error chain behind an MCP failure: walking it, naming its members, describing them for `detail`.
// Only names and duck-typed fields are read, never the classes: neither SDK line has to be imported, and
// both (and Node's own errors, and undici's) are recognised alike.

import { type Redactor, redactText } from "./redact.js";

export const MAX_CHAIN_DEPTH = 20;
export const MAX_CHAIN_LEN = 64;
const MAX_EXC_TEXT = 300;

/** A member of an error chain: anything thrown, read through duck typing only. */
export type Thrown = Record<string, unknown>;

function isObject(value: unknown): value is Thrown {
  return value !== null && (typeof value === "object" || typeof value === "function");
}

/** The names of the error's class, its prototype chain and its `name`. */
export function errorNames(e: unknown): Set<string> {
  const names = new Set<string>();
  if (!isObject(e)) return names;
  try {
    if (typeof e.name === "string") names.add(e.name);
    for (let proto = Object.getPrototypeOf(e), i = 0; proto && i < 10; proto = Object.getPrototypeOf(proto), i++) {
      const ctor = proto.constructor;
      if (typeof ctor === "function" && ctor.name) names.add(ctor.name);
    }
  } catch {
    // a hostile object: keep what was read
  }
  return names;
}

/** The most specific class name of `e` (the constructor's, else `name`). */
export function errorName(e: unknown): string {
  if (!isObject(e)) return typeof e;
  try {
    const ctor = Object.getPrototypeOf(e)?.constructor;
    const name = typeof ctor === "function" && ctor.name && ctor.name !== "Object" ? ctor.name : e.name;
    return typeof name === "string" && name ? name : "Error";
  } catch {
    return "Error";
  }
}

/** `String(e.message)` on one line; never throws. */
export function errorText(e: unknown): string {
  try {
    const message = isObject(e) ? e.message : e;
    return String(message ?? "").split(/\s+/).filter(Boolean).join(" ");
  } catch {
    return "<unprintable>";
  }
}

/** A string property of `e`, or undefined. */
export function prop(e: unknown, name: string): unknown {
  try {
    return isObject(e) ? e[name] : undefined;
  } catch {
    return undefined;
  }
}

/** Every error behind `e`, outermost first: `cause` chains followed, AggregateErrors flattened, each once. */
export function errorChain(e: unknown): Thrown[] {
  const chain: Thrown[] = [];
  const seen = new Set<unknown>();
  const visit = (x: unknown, depth: number): void => {
    if (!isObject(x) || depth > MAX_CHAIN_DEPTH || seen.has(x) || chain.length >= MAX_CHAIN_LEN) return;
    seen.add(x);
    const errors = prop(x, "errors");
    const names = errorNames(x);
    // An AggregateError (e.g. a happy-eyeballs connect to every address) is a group: its members are the errors.
    if (!(names.has("AggregateError") && Array.isArray(errors))) chain.push(x);
    for (const linked of [prop(x, "cause"), prop(x, "error"), prop(x, "suppressed"), prop(x, "reason")]) {
      if (linked instanceof Error || (isObject(linked) && typeof prop(linked, "message") === "string")) {
        visit(linked, depth + 1);
      }
    }
    if (Array.isArray(errors)) for (const sub of errors.slice(0, MAX_CHAIN_LEN)) visit(sub, depth + 1);
  };
  try {
    visit(e, 0);
  } catch {
    // keep what was collected
  }
  if (!chain.length && e !== undefined && e !== null && !isObject(e)) {
    chain.push({ name: "Thrown", message: String(e) });
  }
  return chain;
}

/** Where a cut through prose may fall: no secret holds one of these (a registered one may hold `!` or `@`). */
const WORD_ENDS = [" ", "\n", "\t", ",", ";"];
/** Characters a secret (token, key, base64) is made of: a cut inside a run of them may split a secret. */
/** The characters of a token's run (what a cut must not end inside), by char code. */
const TOKEN_CHARS = new Set(Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=%", (c) => c.charCodeAt(0)));

/**
 * The start of `text`, at most `limit` characters, redacted (by `redactor`, else the rules alone) and cut at
 * its last word end. Text is cut wherever pieces of it are put together first (an error's message, a tool's
 * error, a response body in `detail`). A cut can drop what makes a secret one: the name after a value
 * (`{"value": …, "name": "Authorization"}`), a closing quote, the rest of a secret holding a space. So a text
 * to cut is redacted whole first, and the cut, at a word end, never splits a placeholder or a word either.
 * A text without a word end in its first `limit` characters keeps nothing.
 */
export function wordCut(text: string, limit: number, redactor?: Redactor): string {
  if (text.length <= limit) return text;
  const whole = redactedForCut(text, limit, redactor);
  if (whole.length <= limit) return whole;
  const cut = whole.slice(0, limit);
  return cut.slice(0, Math.max(0, ...WORD_ENDS.map((end) => cut.lastIndexOf(end))));
}

/** `text` in at most `limit` characters, redacted and cut at a word end (`wordCut`), marked with an ellipsis
 * when cut. */
export function clip(text: string, limit: number, redactor?: Redactor): string {
  if (text.length <= limit) return text;
  const whole = redactedForCut(text, limit, redactor);
  return whole.length <= limit ? whole : wordCut(whole, limit - 1, redactor) + "…";
}

/** `text` redacted for a cut at `limit`: what lies far past the cut is cut first (`cutForRedaction`, four
 * times the limit), so that a huge text costs no more than its start. */
function redactedForCut(text: string, limit: number, redactor: Redactor | undefined): string {
  const bounded = cutForRedaction(text, 4 * limit);
  return redactor ? redactor.text(bounded) : redactText(bounded);
}

/**
 * At most about `limit` characters of `text` to redact, without the run of token characters a cut went
 * through (what is kept is whole, and the redactor judges it whole; it is cut to its final length after).
 */
export function cutForRedaction(text: string, limit: number): string {
  if (text.length <= limit) return text;
  // Back over the trailing run, one character at a time: a regex anchored at the end (`/[…]+$/`) retried
  // from every start of a long run and was quadratic (4 KB of `a` then `!`: 14 ms a string, 32 per event).
  let end = limit;
  while (end > 0 && TOKEN_CHARS.has(text.charCodeAt(end - 1))) end -= 1;
  return text.slice(0, end);
}

/** `(code, message)` of a JSON-RPC error: v1 `McpError`, v2 `ProtocolError`; undefined for anything else. */
export function jsonrpcError(e: unknown): [number, string] | undefined {
  const names = errorNames(e);
  if (!names.has("McpError") && !names.has("ProtocolError")) return undefined;
  const code = prop(e, "code");
  if (typeof code !== "number" || !Number.isInteger(code)) return undefined;
  // v1 writes "MCP error <code>: <message>"; the server's (or the SDK's) own message is after it.
  const text = errorText(e).replace(/^MCP error -?\d+:\s*/, "");
  return [code, text];
}

/** One line for `detail`: class name, Node/SDK codes, the message. */
export function describeError(e: unknown): string {
  const parts = [errorName(e)];
  const code = prop(e, "code");
  if (typeof code === "string" || typeof code === "number") parts.push(`[code ${code}]`);
  const status = prop(e, "status");
  if (typeof status === "number") parts.push(`[status ${status}]`);
  const syscall = prop(e, "syscall");
  if (typeof syscall === "string") parts.push(`[${syscall}]`);
  const text = clip(errorText(e), MAX_EXC_TEXT);
  return text ? `${parts.join(" ")}: ${text}` : `${parts.join(" ")} (no message)`;
}
