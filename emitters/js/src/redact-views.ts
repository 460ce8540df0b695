// How text is read for matching: rules match the text as it is, then the text decoded one layer at a time
// (percent-escapes `%3D`, ASCII only; JSON and Python string escapes `\"`, `\u0022`, `\x22`, `\n`; HTML
// character references `&quot;`, `&#34;`). A port of mcpdiag.emitters.redact_views: each layer is a `View`
// that maps its positions back to the text it came from, so a secret found in a decoded layer is replaced in
// the original text and the escapes around it stay as they were.
import { isAlnumChar } from "./redact-py.js";

/** Layers decoded at most: a URL encoded twice inside JSON inside a JSON string is four. */
export const MAX_DEPTH = 4;
/** A text holding none of these has nothing to decode. */
export const ESCAPE_MARKERS = ["%", "\\", "&"] as const;

const ESCAPE_TEXT =
  String.raw`%[0-7][0-9A-Fa-f]` +
  String.raw`|\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|["\\/'bfnrt])` +
  String.raw`|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|quot|apos|amp|lt|gt);`;
// Split on escapes, keeping them: the text between escapes and the escapes alternate.
const SPLIT = new RegExp(`(${ESCAPE_TEXT})`);
const SIMPLE: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", "'": "'", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const ENTITIES: Record<string, string> = { quot: '"', apos: "'", amp: "&", lt: "<", gt: ">" };
const NESTING = "%\\&#;";

/** The character of a code point. A surrogate stands alone in Python's decoded text (`\ud835\udc29` is two
 * characters, neither a letter), but two would pair into one letter in a JavaScript string: each becomes
 * U+FFFD, which no rule tells from a lone surrogate (no word, space, digit or letter either). */
function fromCode(code: number): string {
  return code >= 0xd800 && code <= 0xdfff ? "\ufffd" : String.fromCodePoint(code);
}

/** The character an escape stands for, or null when it stands for none (a code point past Unicode). */
function charOf(escape: string): string | null {
  const head = escape[0];
  if (head === "%") return String.fromCharCode(parseInt(escape.slice(1), 16));
  if (head === "\\") {
    const kind = escape[1];
    if (kind === "u" || kind === "x") return fromCode(parseInt(escape.slice(2), 16));
    return SIMPLE[kind];
  }
  const name = escape.slice(1, -1);
  if (name[0] !== "#") return ENTITIES[name];
  const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  return code <= 0x10ffff ? fromCode(code) : null;
}

/** A text decoded one layer from its parent (the original text when `parent` is null). */
export class View {
  readonly text: string;
  readonly parent: View | null;
  /** The characters decoding produced: anything this text holds that its parent does not holds one. */
  readonly chars: ReadonlySet<string>;
  /** Whether another layer may hide below (a decoded character can start or complete an escape). */
  readonly nested: boolean;
  private readonly parts: string[];
  private readonly decoded: (string | null)[];
  private starts: number[] | null = null;
  private shifts: number[] = [];

  constructor(text: string, parts: string[], decoded: (string | null)[], parent: View | null, chars: Set<string>, nested: boolean) {
    this.text = text;
    this.parts = parts;
    this.decoded = decoded;
    this.parent = parent;
    this.chars = chars;
    this.nested = nested;
  }

  /** The position in the parent's text of position `pos` of this text. */
  up(pos: number): number {
    if (this.starts === null) this.build();
    const starts = this.starts as number[];
    // bisect_left: how many decoded escapes start before `pos`.
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] < pos) lo = mid + 1;
      else hi = mid;
    }
    return pos + (lo ? this.shifts[lo - 1] : 0);
  }

  /** The position in the original text of position `pos` of this text. */
  origin(pos: number): number {
    let view: View | null = this;
    while (view !== null) {
      pos = view.up(pos);
      view = view.parent;
    }
    return pos;
  }

  private build(): void {
    // Where each decoded escape sits in `text`, and how many code units longer the parent is after it.
    const { parts, decoded } = this;
    const starts: number[] = [];
    const shifts = this.shifts;
    let length = 0;
    let shift = 0;
    for (let index = 0; index + 1 < parts.length; index += 2) {
      length += parts[index].length;
      const escape = parts[index + 1];
      const char = decoded[index >> 1];
      if (char !== null) {
        starts.push(length);
        shift += escape.length - char.length;
        shifts.push(shift);
        length += char.length;
      } else {
        length += escape.length;
      }
    }
    this.starts = starts;
  }
}

/** `text` with one layer of escapes decoded, or null when it holds none. */
export function decode(text: string, parent: View | null = null): View | null {
  const parts = text.split(SPLIT);
  if (parts.length === 1) return null;
  const decoded: (string | null)[] = [];
  const chars = new Set<string>();
  const pieces: string[] = [];
  for (let index = 0; index < parts.length; index++) {
    if (index % 2 === 0) {
      pieces.push(parts[index]);
      continue;
    }
    const char = charOf(parts[index]);
    decoded.push(char);
    if (char === null) pieces.push(parts[index]);
    else {
      chars.add(char);
      pieces.push(char);
    }
  }
  if (!chars.size) return null;
  // An escape left in the decoded text is made of decoded characters: `%`, `\` or `&` start one, a letter,
  // digit, `#` or `;` can complete one (`%3%44` is `%3D` once decoded).
  let nested = false;
  for (const char of chars) {
    if (NESTING.includes(char) || isAlnumChar(char)) {
      nested = true;
      break;
    }
  }
  return new View(pieces.join(""), parts, decoded, parent, chars, nested);
}

/** The shortest run of base64 read as such (12 bytes once decoded). */
export const BASE64_MIN = 16;
/** The characters a run of base64 is made of (lowercase): decoding one of them can make or join a run. */
export const BASE64_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789+/_-";
const ALPHABETS = ["A-Za-z0-9+/", "A-Za-z0-9_-"];
const BASE64_RUNS = ALPHABETS.map((a) => new RegExp(`(?<![${a}])[${a}]{${BASE64_MIN},}={0,2}`, "g"));
const BREAK = String.raw`\r?\n|\\r\\n|\\n`;
const NEXT_LINES = ALPHABETS.map((a) => new RegExp(`(?:${BREAK})([${a}]+={0,2})`, "y"));
const BREAKS = new RegExp(`${BREAK}|\\r|\\\\r`, "g");
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const UTF16 = new TextDecoder("utf-16le", { ignoreBOM: true });

/** The run at [start, end) of alphabet `index` with the lines it wraps onto (as Python's `wrapped`): while its
 * last line is whole groups of four, unpadded, a line break and more of the alphabet continue it. */
function wrapped(text: string, start: number, end: number, index: number): [number, number] {
  let line = start;
  while ((end - line) % 4 === 0 && text[end - 1] !== "=") {
    const next = NEXT_LINES[index];
    next.lastIndex = end;
    const more = next.exec(text);
    if (more === null) break;
    end = more.index + more[0].length;
    line = end - more[1].length;
  }
  return [start, end];
}

/** The spans of the runs of base64 in `text` (as Python's `base64_runs`): at least `BASE64_MIN` characters of
 * one alphabet, standard or URL-safe, that no character of that alphabet precedes, and the padding after
 * them. By start, the longer first (a run of one alphabet can overlap one of the other). */
export function base64Runs(text: string): [number, number][] {
  const seen = new Set<string>();
  const spans: [number, number][] = [];
  for (const [index, pattern] of BASE64_RUNS.entries()) {
    let covered = -1;
    for (const match of text.matchAll(pattern)) {
      // A line of a run found before (its lines are whole groups of four: that run's text holds this one's)
      // starts no run of its own: read through every line after it, each line of a wrapped blob cost as
      // much as the blob (Python's `wrapped_once`).
      if ((match.index as number) < covered) continue;
      const [start, end] = wrapped(text, match.index as number, (match.index as number) + match[0].length, index);
      covered = end;
      if (!seen.has(`${start},${end}`)) {
        seen.add(`${start},${end}`);
        spans.push([start, end]);
      }
    }
  }
  return spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
}

/** What a run of base64 (line breaks and all) says, as Python's `base64_text`: UTF-16 (little-endian) where
 * half its odd bytes or more are zero, else UTF-8, else one character per byte (Latin-1). A run of a length
 * no encoding has loses its last character. */
export function base64Text(run: string): string {
  let body = run.includes("\n") || run.includes("\\") || run.includes("\r") ? run.replace(BREAKS, "") : run;
  body = body.replace(/=+$/, "");
  if (body.includes("-") || body.includes("_")) body = body.replace(/-/g, "+").replace(/_/g, "/");
  if (body.length % 4 === 1) body = body.slice(0, -1);
  const binary = atob(body + "=".repeat((4 - (body.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  let zeros = 0;
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
    if (i % 2 === 1 && bytes[i] === 0) zeros++;
  }
  if (bytes.length >= 4 && 2 * zeros >= bytes.length >> 1) return UTF16.decode(bytes);
  try {
    return UTF8.decode(bytes);
  } catch {
    return binary; // Latin-1: one character per byte
  }
}

/** What base64 of any text holding `word` holds, whatever the offset of `word` in it (as Python's
 * `base64_forms`): for each of the three offsets, the characters that the bytes of `word` alone decide. */
export function base64Forms(word: string | Uint8Array): Set<string> {
  const data = typeof word === "string" ? new TextEncoder().encode(word) : word;
  const forms = new Set<string>();
  for (let offset = 0; offset < 3; offset++) {
    const bytes = new Uint8Array(offset + data.length + 2);
    bytes.set(data, offset);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    const encoded = btoa(binary);
    const first = Math.ceil((8 * offset) / 6);
    const last = Math.floor((8 * (offset + data.length)) / 6);
    if (last > first) forms.add(encoded.slice(first, last));
  }
  return forms;
}
