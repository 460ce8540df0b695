// The `assignment` rule: a value that a secret-looking name introduces, in every shape text gives it:
// `password=…`, `"clientSecret": "…"`, `{'token': […]}`, `--password x`, `-token=…`, `Authorization: …` (to the
// end of the line), `<password>…</password>`. A port of mcpdiag.emitters.redact_assign: candidates are found
// from the secret words themselves (`KEY_MARKERS`, as plain substrings), each widened to the name it belongs
// to; the name is judged first and only then is its value read, so names that are not secrets (`passport=`
// repeated) cost one look each and never a rescan of what follows them.
import {
  HEADERS,
  KEY_MARKERS,
  isSecretKey,
  isSecretTextName,
  needsEquals,
  normalizeKey,
} from "./redact-keys.js";
import { SPACE, WORD, asciiLower, cpLength, hasAlnum, isAlpha, pyStrip, rstrip, withinCodePoints } from "./redact-py.js";
import { type Edit, atomic, redactedAhead, schemeEnd } from "./redact-rules.js";

export const NAME = "assignment";
const PLACEHOLDER = `[REDACTED:${NAME}]`;
export const GATE: readonly string[] = KEY_MARKERS;

const MAX_NAME = 128;
const MAX_ELEMENTS = 64;
const MAX_XML_VALUE = 4096;
const TRAILING = ".,;:!?)]}`";
const NULLISH = new Set(["null", "none", "true", "false", "nil"]);
const WORD_CHAR = /[A-Za-z0-9_.-]/;

const NAME_END = /[A-Za-z0-9_.-]*/y;
const SEPARATOR = /[ \t]*([:=])[ \t]*/y;
const NEXT_PAIR = /[ \t]*:/y;
const STRING_CHAR = String.raw`(?:\\[^\n]|(?!\k<q>)[^\\\r\n])`;
const QUOTED = new RegExp(String.raw`(?<q>["'])${atomic(`${STRING_CHAR}+`)}\k<q>`, "uy");
const BARE = new RegExp(`[^${SPACE},;&"']+`, "uy");
// A shared access signature (`sv=…&ss=…&sig=…`) is one value up to the `;` of its connection string.
const BARE_SIGNATURE = new RegExp(`[^${SPACE},;"']+`, "uy");
const LINE = new RegExp(`[^${SPACE}](?:[^\\r\\n]*[^${SPACE}])?`, "uy");
const SPACES = /[ \t\r\n]*/y;
const ELEMENT = new RegExp(String.raw`(?<q>["'])${atomic(`${STRING_CHAR}*`)}\k<q>|(?<bare>[^${SPACE},\[\]{}"']+)`, "uy");
const FLAG_VALUE = new RegExp(
  String.raw`[ \t]+(?:"(?<dq>[^"\r\n]+)"|'(?<sq>[^'\r\n]+)'|(?<bare>[^${SPACE}"'-][^${SPACE}"']*))`,
  "uyd",
);
const XML_OPEN = /(?:[ \t][^<>]{0,256})?>/uy;
const XML_PREFIX = new RegExp(`^<[A-Za-z_][${WORD}.-]*:$`, "u");

function matchAt(pattern: RegExp, text: string, pos: number): RegExpExecArray | null {
  pattern.lastIndex = pos;
  return pattern.exec(text);
}

function after(pattern: RegExp, text: string, pos: number): number {
  const match = matchAt(pattern, text, pos);
  return match ? pos + match[0].length : pos;
}

/** Append the assignment edits of `text` (lowercased as `low`) to `out`, in order, not overlapping. */
export function edits(text: string, low: string, present: ReadonlySet<string>, out: Edit[]): void {
  // Lowercasing changed some lengths (`İ`): find the ASCII words in a form that keeps positions.
  if (low.length !== text.length) low = asciiLower(text);
  const names: [number, number][] = [];
  for (const marker of KEY_MARKERS) {
    if (!present.has(marker)) continue;
    let pos = 0;
    for (let found = low.indexOf(marker, pos); found !== -1; found = low.indexOf(marker, pos)) {
      let start = found;
      const floor = Math.max(0, found - MAX_NAME);
      while (start > floor && WORD_CHAR.test(text[start - 1])) start--;
      const end = after(NAME_END, text, found);
      names.push([start, end]);
      // Past the marker even when no name character is there (`\u212aey` lowercases to `key`, but the Kelvin
      // sign is no name character): Python stays at `end` there and never finishes (reported).
      pos = Math.max(end, found + 1);
    }
  }
  names.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let done = 0;
  let last: [number, number] | null = null;
  for (const name of names) {
    if (last !== null && last[0] === name[0] && last[1] === name[1]) continue;
    last = name;
    if (name[0] < done) continue;
    const found = judge(text, name[0], name[1]);
    if (found !== null && found.length) {
      out.push(...found);
      done = found[found.length - 1][1];
    }
  }
}

/** The edits of the name at [start, end) (the whole run of name characters), or null. */
function judge(text: string, start: number, end: number): Edit[] | null {
  const word = text.slice(start, end);
  let key = word.replace(/^-+/, "");
  const dashes = word.length - key.length;
  key = rstrip(key, ".-");
  if (!key || !/[A-Za-z_]/.test(key[0]) || end - start >= MAX_NAME) return null;
  const keyStart = start + dashes;
  const keyEnd = keyStart + key.length;
  const before = start ? text[start - 1] : "";
  if ((before === "<" && !dashes) || (before === ":" && xmlPrefixed(text, start))) return xml(text, key, keyEnd);
  const quote = (before === '"' || before === "'") && !dashes && text.startsWith(before, keyEnd) ? before : "";
  if (before && WORD_CHAR.test(before)) return null;
  const separator = matchAt(SEPARATOR, text, keyEnd + quote.length);
  if (separator === null) return dashes && !quote ? flag(text, key, keyEnd) : null;
  const sep = separator[1];
  const header = !quote && !dashes && sep === ":" && HEADERS.has(key.toLowerCase());
  // After a slash, `name:` ends a URL path (`…/token: 400`); `name=` still assigns (`/r/password=…`).
  if (before === "/" && sep === ":" && !header) return null;
  if (!header && !(quote ? isSecretKey(key) : isSecretTextName(key))) return null;
  if (!quote && sep === ":" && needsEquals(key)) return null;
  const pos = separator.index + separator[0].length;
  if (redactedAhead(text, pos)) return null;
  if (header) {
    const line = matchAt(LINE, text, pos);
    if (line === null) return null;
    const lineEnd = pos + line[0].length;
    const valueStart = pos + schemeEnd(text.slice(pos, lineEnd));
    return valueStart < lineEnd ? [[valueStart, lineEnd, PLACEHOLDER, NAME, -1, -1]] : null;
  }
  const head = text[pos];
  if (head === "'" || head === '"') return quoted(text, pos);
  if (head === "[") return array(text, pos, quote, keyStart - 1);
  if (head === "{") return null; // an object: its own names speak for its values
  const bare = matchAt(normalizeKey(key).endsWith("signature") ? BARE_SIGNATURE : BARE, text, pos);
  if (bare === null) return null;
  let value = bare[0];
  let valueEnd = pos + value.length;
  if (quote) {
    // After a quoted name (JSON, a Python repr) a bracket closes the container rather than the value.
    valueEnd = pos + rstrip(value, ")]}").length;
    value = text.slice(pos, valueEnd);
  }
  if (!value || NULLISH.has(value.toLowerCase())) return null;
  return [bareEdit(pos, valueEnd, quote, keyStart - 1)];
}

function bareEdit(start: number, end: number, quote: string, quoteAt: number): Edit {
  // A quoted JSON name with a bare value (a number): a quoted placeholder keeps the JSON valid.
  if (quote === '"') return [start, end, `"${PLACEHOLDER}"`, NAME, quoteAt, quoteAt + 1];
  return [start, end, PLACEHOLDER, NAME, -1, -1];
}

function quoted(text: string, pos: number): Edit[] | null {
  const match = matchAt(QUOTED, text, pos);
  if (match === null || redactedAhead(text, pos + 1)) return null;
  const end = pos + match[0].length;
  // 'token= "secret": "…"': a quoted secret name followed by ':' starts the next pair, not a value.
  if (matchAt(NEXT_PAIR, text, end) !== null && isSecretKey(text.slice(pos + 1, end - 1))) return null;
  return [[pos + 1, end - 1, PLACEHOLDER, NAME, -1, -1]];
}

/** Every element of a list under a secret name: `"token": ["…", "…"]`. */
function array(text: string, pos: number, quote: string, quoteAt: number): Edit[] | null {
  const found: Edit[] = [];
  pos += 1;
  for (let n = 0; n < MAX_ELEMENTS; n++) {
    pos = after(SPACES, text, pos);
    const element = matchAt(ELEMENT, text, pos);
    if (element === null) break;
    const end = pos + element[0].length;
    const bare = element.groups?.bare;
    if (bare !== undefined) {
      if (!NULLISH.has(bare.toLowerCase()) && !redactedAhead(bare, 0)) found.push(bareEdit(pos, end, quote, quoteAt));
    } else {
      const value = text.slice(pos + 1, end - 1);
      if (value && !redactedAhead(value, 0)) found.push([pos + 1, end - 1, PLACEHOLDER, NAME, -1, -1]);
    }
    pos = after(SPACES, text, end);
    if (text[pos] !== ",") break;
    pos += 1;
  }
  return found.length ? found : null;
}

/** `--password x`, `-token "x"`: a flag naming a secret, its value after a space. */
function flag(text: string, key: string, keyEnd: number): Edit[] | null {
  if (!isSecretTextName(key)) return null;
  const match = matchAt(FLAG_VALUE, text, keyEnd);
  if (match === null) return null;
  const spans = match.indices?.groups ?? {};
  const group = (["dq", "sq", "bare"] as const).find((name) => match.groups?.[name] !== undefined) ?? "bare";
  let [start, end] = spans[group] as [number, number];
  // Punctuation that ends a sentence or a quote is not part of the value.
  if (group === "bare") end = start + rstrip(match.groups?.bare ?? "", TRAILING).length;
  const value = text.slice(start, end);
  // Prose after a flag is a word ("the --password flag"); a value has digits or symbols, or is long.
  if (redactedAhead(value, 0) || (group === "bare" && !flagValue(value))) return null;
  return [[start, end, PLACEHOLDER, NAME, -1, -1]];
}

function flagValue(value: string): boolean {
  const length = cpLength(value);
  return length >= 4 && hasAlnum(value) && (length >= 8 || !isAlpha(value));
}

function xmlPrefixed(text: string, start: number): boolean {
  // `text.rfind("<", start - 66, start)`, the window counted in code points, then the prefix `<ns:`.
  const from = Math.max(0, start - 2 * 66);
  const near = text.slice(from, start).lastIndexOf("<");
  const at = from + near;
  if (near === -1 || !withinCodePoints(text, at, start, 66)) return false;
  return XML_PREFIX.test(text.slice(at, start));
}

/** `text.find(sub, start, start + limit)`, the limit counted in code points, scanning a bounded window. */
function findWithin(text: string, sub: string, start: number, limit: number): number {
  const first = text.slice(start, start + limit);
  const near = first.indexOf(sub);
  if (near !== -1) return start + near;
  // Without astral characters the first `limit` code units are the first `limit` code points.
  if (!/[\ud800-\udbff]/.test(first)) return -1;
  const window = text.slice(start, start + 2 * limit);
  const at = window.indexOf(sub);
  return at !== -1 && withinCodePoints(window, 0, at + sub.length, limit) ? start + at : -1;
}

/** `<password>…</password>`, `<ns:token a="b">…</ns:token>`, `<apiKey><![CDATA[…]]></apiKey>`. */
function xml(text: string, key: string, keyEnd: number): Edit[] | null {
  if (!isSecretKey(key)) return null;
  const tag = matchAt(XML_OPEN, text, keyEnd);
  if (tag === null) return null;
  let start = keyEnd + tag[0].length;
  if (text[start - 2] === "/") return null;
  let end: number;
  if (text.startsWith("<![CDATA[", start)) {
    start += 9;
    end = findWithin(text, "]]>", start, MAX_XML_VALUE);
  } else {
    end = findWithin(text, "<", start, MAX_XML_VALUE);
    if (end !== -1 && !text.startsWith("</", end)) return null;
  }
  if (end === -1 || !pyStrip(text.slice(start, end)) || redactedAhead(text, start)) return null;
  return [[start, end, PLACEHOLDER, NAME, -1, -1]];
}
