// The text engine of redaction: which rules run on a text, the edits they and the known secrets call for (in
// the text as written and in its decoded layers), and how the kept edits are applied. A port of
// mcpdiag.emitters.redact_engine; `Redactor.text` (in redact.ts) repeats one pass of it until nothing changes.
import * as assign from "./redact-assign.js";
import { CLI_RULES, type Edit, PAIR_RULES, type Rule, TOKEN_RULES, URL_RULES } from "./redact-rules.js";
import { CATALOG_DATA } from "./catalog-data.js";
import {
  BASE64_CHARS,
  BASE64_MIN,
  ESCAPE_MARKERS,
  MAX_DEPTH,
  type View,
  base64Runs,
  base64Text,
  decode,
} from "./redact-views.js";

const ASSIGNMENT: Rule = { name: assign.NAME, gate: assign.GATE, edits: assign.edits };

/** The tag of a text that may hold a run of base64 (not a literal: never in `GATE_LITERALS`). */
const BASE64_TAG = "ctx:base64";
const BASE64_GATE = /[a-z0-9+/]{16}|[a-z0-9_-]{16}/;
/** What base64 must say for the `encoded_secret` rule to read it (Python's `BASE64_WORDS`, via the catalog). */
const BASE64_WORDS: readonly string[] = CATALOG_DATA.redactionBase64Words;
const ENCODED = "encoded_secret";
/** How long the escape a run read as it is starts with the tail of is, after its backslash (`\\u0022`). */
const ESCAPE_TAILS: Record<string, number> = { u: 5, x: 3, U: 9 };

/** Set while text decoded from base64 is judged: the `encoded_secret` rule does not run there (base64 is
 * read one level deep, as Python's `_READING` says). */
let reading = false;

/** Control, format and separator characters (Python's categories C and Z), space, tab and line breaks aside. */
const NOT_TEXT = /[\p{C}\p{Z}]/u;
const BLANKS = new Set([" ", "\t", "\n", "\r"]);

/** Whether decoded base64 reads as text: at most a tenth of it is control, format or separator characters
 * (random bytes hold about a quarter, text none), as Python's `reads_as_text`. */
export function readsAsText(said: string): boolean {
  let odd = 0;
  let length = 0;
  for (const char of said) {
    length++;
    if (NOT_TEXT.test(char) && !BLANKS.has(char)) odd++;
  }
  return odd <= 0.1 * length;
}

/** Whether a run of base64 says one of `BASE64_WORDS` and holds a secret. Bytes that do not read as text (an
 * id, a hash, a compressed blob) say a word by chance (`PWD=` in one ULID of a million): there only a
 * provider's token format counts. */
function secretRun(run: string): boolean {
  const said = base64Text(run);
  if (!holdsAny(said, BASE64_WORDS)) return false;
  if (!readsAsText(said)) {
    return TOKEN_RULES.some((rule) => {
      const found: Edit[] = [];
      rule.edits(said, said.toLowerCase(), new Set(), found);
      return found.length > 0;
    });
  }
  reading = true;
  try {
    return holdsSecret(said);
  } finally {
    reading = false;
  }
}

/** The `encoded_secret` rule (Python's `_Encoded`): a run of base64 whose text, decoded, holds what any rule
 * would redact is replaced whole. A run is read from each of its first four characters and from where an
 * escape before it ends (`\\n`, `\\u0022`, `%3D`), which is also where its replacement starts. */
const ENCODED_RULE: Rule = {
  name: ENCODED,
  gate: [BASE64_TAG],
  edits(text: string, _low: string, _present: ReadonlySet<string>, out: Edit[]): void {
    if (reading) return;
    let done = 0;
    for (const [start, end] of base64Runs(text)) {
      if (start < done) continue; // the same characters as a run of the other alphabet, already replaced
      const before = start ? text[start - 1] : "";
      const tail = before === "\\" ? (ESCAPE_TAILS[text[start]] ?? 1) : before === "%" ? 2 : 0;
      const body = text.slice(start, end);
      const skips = [...new Set([0, 1, 2, 3, tail])];
      if (skips.some((skip) => body.length - skip >= BASE64_MIN && secretRun(body.slice(skip)))) {
        out.push([Math.min(start + tail, end), end, `[REDACTED:${ENCODED}]`, ENCODED, -1, -1]);
        done = end;
      }
    }
  },
};

// Order matters: specific formats first so each secret is counted under its own name, generic ones last.
const RULES: readonly Rule[] = [...TOKEN_RULES, ...URL_RULES, ...CLI_RULES, ...PAIR_RULES, ASSIGNMENT, ENCODED_RULE];

/** The rule names a placeholder can carry, in the order they apply (as Python's `RULE_NAMES`). */
export const RULE_NAMES: readonly string[] = ["known_secret", "secret_key", ...new Set(RULES.map((r) => r.name))];
const RANK = new Map(RULE_NAMES.map((name, rank) => [name, rank]));

/** Lowercase substrings of which every rule's match holds one, and so does every text that needs decoding: a
 * text whose lowercased form holds none of them (and no known secret) is never changed. Sorted as Python. */
export const GATE_LITERALS: readonly string[] = [
  ...new Set([...ESCAPE_MARKERS, ...RULES.flatMap((r) => r.gate).filter((l) => l !== BASE64_TAG)]),
].sort();
export const ESCAPES: ReadonlySet<string> = new Set(ESCAPE_MARKERS);

// `_` is in most texts (codes, snake_case): it gates the underscore tokens only when one may be there.
const UNDERSCORE_TOKENS = /_(?:(?<=gh[pousr]_)|(?<=github_pat_)|(?<=[sr]k_)(?=live_|test_)|(?<=whsec_))/;
// What can form each literal: its own characters; for `_`, those of the underscore tokens it stands for.
const FORMS = new Map([
  ...GATE_LITERALS.map((l): [string, string] => [l, l + (l === "_" ? "ghpousr_ithubatklivestwhc" : "")]),
  [BASE64_TAG, BASE64_CHARS],
]);

/** The gate literals that the lowercased text `low` holds. */
export function presentLiterals(low: string): Set<string> {
  const present = new Set<string>();
  for (const literal of GATE_LITERALS) if (low.includes(literal)) present.add(literal);
  if (present.has("_") && !UNDERSCORE_TOKENS.test(low)) present.delete("_");
  if (BASE64_GATE.test(low)) present.add(BASE64_TAG);
  return present;
}

/** Whether any rule would redact something in `text` (as it is or decoded; known secrets aside). */
function holdsSecret(text: string): boolean {
  const low = text.toLowerCase();
  const present = presentLiterals(low);
  if (!present.size) return false;
  if (ruleEdits(text, low, present, []).length) return true;
  return [...ESCAPES].some((e) => present.has(e)) && decodedEdits(text, present, []).length > 0;
}

/** `present` plus the literals that the decoded `chars` may have formed (a superset: rules then search). */
function withFormed(present: ReadonlySet<string>, chars: ReadonlySet<string>): Set<string> {
  const out = new Set(present);
  const lowered = new Set<string>();
  for (const char of chars) lowered.add(char.toLowerCase());
  for (const [literal, form] of FORMS) {
    if (out.has(literal)) continue;
    for (const char of lowered) {
      // Python tests each lowercased character (a one-character string) against the form's characters.
      if (char.length === 1 && form.includes(char)) {
        out.add(literal);
        break;
      }
    }
  }
  return out;
}

/** Whether `text` holds one of `needles`. */
export function holdsAny(text: string, needles: readonly string[]): boolean {
  for (const needle of needles) if (text.includes(needle)) return true;
  return false;
}

/** `kept` plus the edits of `added` that overlap none of it (both sorted, neither overlapping itself). */
function merge(kept: Edit[], added: Edit[]): Edit[] {
  if (!kept.length) return added;
  const out: Edit[] = [];
  let i = 0;
  for (const edit of added) {
    while (i < kept.length && kept[i][1] <= edit[0]) out.push(kept[i++]);
    if (i < kept.length && kept[i][0] < edit[1]) continue;
    out.push(edit);
  }
  for (; i < kept.length; i++) out.push(kept[i]);
  return out;
}

/** `kept` plus the edits of every rule that `present` lets run, where they overlap nothing kept before. */
export function ruleEdits(text: string, low: string, present: ReadonlySet<string>, kept: Edit[]): Edit[] {
  for (const rule of RULES) {
    if (!rule.gate.some((literal) => present.has(literal))) continue;
    const found: Edit[] = [];
    rule.edits(text, low, present, found);
    if (found.length) kept = merge(kept, found);
  }
  return kept;
}

function lift(view: View, edit: Edit): Edit {
  const [start, end, replacement, rule, qs, qe] = edit;
  const quote = qs >= 0 ? [view.origin(qs), view.origin(qe)] : [qs, qe];
  return [view.origin(start), view.origin(end), replacement, rule, quote[0], quote[1]];
}

/** `text` with `edits` (sorted, not overlapping) made, adding each rule's count to `counts`. */
export function applyEdits(text: string, edits: readonly Edit[], counts: Record<string, number>): string {
  const parts: string[] = [];
  const fired = new Map<string, number>();
  let pos = 0;
  for (const [start, end, replacement, rule, qs, qe] of edits) {
    // The quote as this text writes it (`"`, `\"`, `%22`): JSON inside a JSON string stays valid.
    parts.push(text.slice(pos, start), qs >= 0 ? replacement.split('"').join(text.slice(qs, qe)) : replacement);
    pos = end;
    fired.set(rule, (fired.get(rule) ?? 0) + 1);
  }
  parts.push(text.slice(pos));
  // Counted in the order the rules apply (`findLeaks` names them so), not in the order of the text.
  for (const rule of [...fired.keys()].sort((a, b) => (RANK.get(a) ?? 0) - (RANK.get(b) ?? 0))) {
    counts[rule] = (counts[rule] ?? 0) + (fired.get(rule) ?? 0);
  }
  return parts.join("");
}

/** The edits that the decoded layers of `text` (whose literals are `present`) call for, in `text`'s own
 * positions. */
export function decodedEdits(text: string, present: ReadonlySet<string>, needles: readonly string[]): Edit[] {
  let found: Edit[] = [];
  let view = decode(text);
  for (let depth = 0; depth < MAX_DEPTH && view !== null; depth++) {
    const layer = view.text;
    let edits = needles.length ? knownEdits(layer, needles) : [];
    // A literal the layer holds and its parent does not holds a decoded character: no rescan needed.
    present = withFormed(present, view.chars);
    if (present.size) edits = ruleEdits(layer, layer.toLowerCase(), present, edits);
    if (edits.length) {
      const current = view;
      found = merge(found, edits.map((edit) => lift(current, edit)));
    }
    if (!view.nested || ![...ESCAPES].some((e) => present.has(e))) break;
    view = decode(layer, view);
  }
  return found;
}

const PLACEHOLDERS = /\[REDACTED:[a-z_]+\]/g;

/** The spans of `text` that hold a known secret (overlapping ones merged, placeholders kept whole). */
export function knownEdits(text: string, needles: readonly string[]): Edit[] {
  const spans: [number, number][] = [];
  for (const needle of needles) {
    for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) spans.push([at, at + needle.length]);
  }
  if (!spans.length) return [];
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let merged: [number, number][] = [];
  for (const [start, end] of spans) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  if (text.includes("[REDACTED:")) {
    // A secret that happens to spell part of a placeholder must not shred it on a second pass.
    const held = [...text.matchAll(PLACEHOLDERS)].map((m) => [m.index as number, (m.index as number) + m[0].length]);
    const kept: [number, number][] = [];
    let i = 0;
    for (const [start, end] of merged) {
      while (i < held.length && held[i][1] <= start) i++;
      if (i === held.length || held[i][0] >= end) kept.push([start, end]);
    }
    merged = kept;
  }
  return merged.map(([start, end]) => [start, end, "[REDACTED:known_secret]", "known_secret", -1, -1]);
}
