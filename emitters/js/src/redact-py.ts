// Python's text semantics, for a redactor that must give the Python one's output byte for byte.
//
// Python's `re` on str patterns, `str.isalnum()` and friends are Unicode-aware in ways JavaScript's are not:
// `\s` holds \x1c-\x1f and \x85 (not \ufeff), `\w` is every letter and number, `\b` follows `\w`, and
// `(?i:s)` also matches `ſ`. The regex fragments here spell Python's classes out (patterns use flag `u`), and
// the predicates follow Python's definitions (its Unicode database is 14.0; Node's is newer, so a character
// assigned since can differ). Lengths and bounds that Python counts in characters are counted here in code
// points, where the difference can show (astral characters).

/** Python's `\s` (str patterns; also `str.isspace()`), as the inside of a character class. */
export const SPACE = String.raw`\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000`;
/** Python's `\w` (str patterns), as the inside of a character class. */
export const WORD = String.raw`\p{L}\p{N}_`;
/** Python's `\b` after a word character: the next character is not one (or the text ends). */
export const WORD_END = `(?![${WORD}])`;

const SPACE_RE = new RegExp(`[${SPACE}]`, "u");
const ALNUM_RE = /^[\p{L}\p{N}]$/u;
const ALPHA_RE = /^\p{L}+$/u;
// `str.isdigit()`: decimal digits and the characters whose numeric type is Digit (superscripts, circled).
const DIGITS_RE =
  /^[\p{Nd}\u{B2}-\u{B3}\u{B9}\u{1369}-\u{1371}\u{19DA}\u{2070}\u{2074}-\u{2079}\u{2080}-\u{2089}\u{2460}-\u{2468}\u{2474}-\u{247C}\u{2488}-\u{2490}\u{24EA}\u{24F5}-\u{24FD}\u{24FF}\u{2776}-\u{277E}\u{2780}-\u{2788}\u{278A}-\u{2792}\u{10A40}-\u{10A43}\u{10E60}-\u{10E68}\u{11052}-\u{1105A}\u{1F100}-\u{1F10A}]+$/u;

/** `char.isalnum()` for one character (a code point). */
export function isAlnumChar(char: string): boolean {
  return ALNUM_RE.test(char);
}

/** `value.isalpha()`: not empty, every character a letter. */
export function isAlpha(value: string): boolean {
  return ALPHA_RE.test(value);
}

/** `value.isdigit()`: not empty, every character a digit. */
export function isDigits(value: string): boolean {
  return DIGITS_RE.test(value);
}

/** `any(c.isalnum() for c in value)`. */
export function hasAlnum(value: string): boolean {
  return /[\p{L}\p{N}]/u.test(value);
}

/** `len(value)`: the length in code points. */
export function cpLength(value: string): number {
  let n = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n -= 1;
        i += 1;
      }
    }
  }
  return n;
}

/** Whether `text[start:end]` (code units) holds at most `limit` code points, counting only when it matters. */
export function withinCodePoints(text: string, start: number, end: number, limit: number): boolean {
  const units = end - start;
  if (units <= limit) return true;
  if (units > 2 * limit) return false;
  return cpLength(text.slice(start, end)) <= limit;
}

/** `value[-n:]`, counted in code points. */
export function cpTail(value: string, n: number): string {
  if (value.length <= n) return value;
  const points = Array.from(value);
  return points.length <= n ? value : points.slice(-n).join("");
}

/** `value.strip()`: Python's whitespace at both ends. */
export function pyStrip(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && SPACE_RE.test(value[start])) start++;
  while (end > start && SPACE_RE.test(value[end - 1])) end--;
  return value.slice(start, end);
}

/** `value.rstrip(chars)`. */
export function rstrip(value: string, chars: string): string {
  let end = value.length;
  while (end > 0 && chars.includes(value[end - 1])) end--;
  return value.slice(0, end);
}

/** `value.strip(chars)`. */
export function strip(value: string, chars: string): string {
  let start = 0;
  while (start < value.length && chars.includes(value[start])) start++;
  return rstrip(value.slice(start), chars);
}

/** `value.translate(ASCII upper → lower)`: lowercases ASCII letters only, so that positions stay put. */
export function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

// Python's case-insensitive match of an ASCII letter also takes these (sre's case equivalences).
const FOLDS: Record<string, string> = { i: "İı", k: "\u212a", s: "ſ" };

/** `(?i:pattern)` for a pattern of ASCII literals, groups and classes: every letter outside a class becomes a
 * class of its cases (and, for i, k and s, the non-ASCII letters Python also matches). */
export function ci(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      out += c + pattern[++i];
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    const lower = c.toLowerCase();
    if (!inClass && /[a-z]/.test(lower)) out += `[${lower}${lower.toUpperCase()}${FOLDS[lower] ?? ""}]`;
    else out += c;
  }
  return `(?:${out})`;
}

/** Python's `redact.secret_bytes`: the bytes a known secret stands for, which its percent-escapes and base64
 * encode. UTF-8, where a lone surrogate U+DC80..U+DCFF is the byte Python's `surrogateescape` read it from;
 * when any other lone surrogate is there, every lone surrogate is written as UTF-8 would write it were it
 * allowed (`surrogatepass`). */
export function secretBytes(value: string): Uint8Array {
  const points = [...value].map((ch) => ch.codePointAt(0) as number);
  const lone = (cp: number) => cp >= 0xd800 && cp <= 0xdfff;
  const escaped = points.every((cp) => !lone(cp) || (cp >= 0xdc80 && cp <= 0xdcff));
  const encoder = new TextEncoder();
  const out: number[] = [];
  for (const cp of points) {
    if (!lone(cp)) out.push(...encoder.encode(String.fromCodePoint(cp)));
    else if (escaped) out.push(cp - 0xdc00);
    else out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(out);
}

/** Python's `urllib.parse.quote(data, safe="")` of bytes: every byte but `A-Za-z0-9_.-~` as `%XX`. */
export function quoteBytes(data: Uint8Array): string {
  let out = "";
  for (const byte of data) {
    const c = String.fromCharCode(byte);
    out += /^[A-Za-z0-9_.~-]$/.test(c) ? c : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
