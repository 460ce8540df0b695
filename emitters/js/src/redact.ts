// Redaction: strip secrets from event text and fields before an event leaves the host.
// A port of mcpdiag.emitters.redact (Python); the shared vectors (test/redact.test.mjs) keep the two in step.
// Python's `\w` and `\b` are Unicode-aware, so they are spelled out with \p{L}\p{N}_ here (flag `u`).

const W = String.raw`\p{L}\p{N}_`;
const NOT_AFTER_WORD = `(?<![${W}])`;
const MIN_KNOWN_SECRET = 4;
const MAX_PASSES = 4;
const PLACEHOLDER_RE = /\[REDACTED:[a-z_]+\]/g;
const PLACEHOLDER_FULL = /^\[REDACTED:[a-z_]+\]$/;

// A key's last segment is secret when it equals or ends with a word, or is the word plus a short suffix.
const KEY_WORDS = [
  "password", "passwd", "pwd", "secret", "token", "apikey", "auth", "authorization", "credential",
  "cookie", "session", "signature", "privatekey", "accesskey",
];
// In free text "auth", "session" and "cookie" are ordinary words: unquoted pairs use only these.
const TEXT_WORDS = [
  "password", "passwd", "pwd", "secret", "token", "apikey", "authorization", "credential", "privatekey",
  "accesskey",
];
const KEY_PHRASES = new Set(["api_key", "private_key", "client_secret", "secret_key", "access_key"]);
const WORD_SUFFIXES = new Set(["s", "id", "key", "value"]);
const COUNTERS = new Set(["tokens", "sessions"]);
const CARRIERS = new Set([
  "header", "headers", "value", "val", "data", "str", "string", "raw", "b64", "base64", "encoded", "hex",
]);
const QUERY_NAMES = new Set(["key", "code", "sig"]);
const NULLISH = new Set(["null", "none", "true", "false", "nil"]);

function normalizeKey(key: string): string {
  return key
    .replace(/(?<=[a-z0-9])(?=[A-Z])/g, "_")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

function isSecretName(key: string, words: readonly string[]): boolean {
  const parts = normalizeKey(key).split("_");
  if (parts.length > 1 && CARRIERS.has(parts[parts.length - 1])) parts.pop();
  const last = parts[parts.length - 1];
  if (KEY_PHRASES.has(parts.slice(-2).join("_"))) return true;
  if (COUNTERS.has(last)) return false;
  return words.some((w) => last.endsWith(w) || (last.startsWith(w) && WORD_SUFFIXES.has(last.slice(w.length))));
}

function cached(fn: (key: string) => boolean): (key: string) => boolean {
  const cache = new Map<string, boolean>();
  return (key) => {
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = fn(key);
      if (cache.size >= 4096) cache.clear();
      cache.set(key, hit);
    }
    return hit;
  };
}

/** Whether a field name says its value is a secret (`password`, `X-Api-Key`, `clientSecret`, ...). */
export const isSecretKey = cached((key) => isSecretName(key, KEY_WORDS));
const isSecretTextName = cached((key) => isSecretName(key, TEXT_WORDS));

const TOKEN_MARKS = /[0-9_~+/=]/;

function looksLikeToken(value: string): boolean {
  return value.length >= 8 && (value.length >= 20 || TOKEN_MARKS.test(value));
}

const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isBasicCredential(value: string): boolean {
  const padded = value + "=".repeat((4 - (value.length % 4)) % 4);
  if (value.length < 8 || !STRICT_B64.test(padded)) return false;
  return Buffer.from(padded, "base64").includes(0x3a);
}

type Groups = Record<string, string | undefined>;
type Render = (match: RegExpExecArray, placeholder: string) => string | null;

function around(match: RegExpExecArray, placeholder: string): string {
  const g = (match.groups ?? {}) as Groups;
  return (g.pre ?? "") + placeholder + (g.post ?? "");
}

function when(accept: (g: Groups) => boolean): Render {
  return (match, placeholder) => (accept((match.groups ?? {}) as Groups) ? around(match, placeholder) : null);
}

function namedKey(g: Groups): boolean {
  return g.kq ? isSecretKey(g.key ?? "") : isSecretTextName(g.key ?? "");
}

const NEXT_PAIR = /[ \t]*:/y;

function quotedAssignment(match: RegExpExecArray, placeholder: string): string | null {
  const g = (match.groups ?? {}) as Groups;
  if (!namedKey(g)) return null;
  // 'token= "secret": "…"': a quoted secret key name followed by ':' starts the next pair, not a value.
  NEXT_PAIR.lastIndex = match.index + match[0].length;
  if (NEXT_PAIR.test(match.input) && isSecretKey(g.value ?? "")) return null;
  return around(match, placeholder);
}

function bareAssignment(match: RegExpExecArray, placeholder: string): string | null {
  const g = (match.groups ?? {}) as Groups;
  let value = g.value ?? "";
  let rest = "";
  if (g.kq) {
    // After a quoted key (JSON, a Python repr) a bracket closes the container rather than the value.
    const end = value.replace(/[)\]}]+$/, "").length;
    rest = value.slice(end);
    value = value.slice(0, end);
  }
  if (!value || NULLISH.has(value.toLowerCase()) || !namedKey(g)) return null;
  return (g.pre ?? "") + (g.kq === '"' ? `"${placeholder}"` : placeholder) + rest;
}

/** `pattern` case-insensitive, as Python's `(?i:…)`: every literal letter becomes a two-letter class. */
function ci(pattern: string): string {
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
    const upper = c.toUpperCase();
    out += !inClass && lower !== upper ? `[${lower}${upper}]` : c;
  }
  return `(?:${out})`;
}

interface Rule {
  name: string;
  gate: readonly string[];
  refine: RegExp | null;
  pattern: RegExp;
  render: Render;
}

function rule(name: string, gate: readonly string[], pattern: string, render: Render = around, refine?: string): Rule {
  return { name, gate, refine: refine ? new RegExp(refine, "u") : null, pattern: new RegExp(pattern, "gu"), render };
}

function applyRule(r: Rule, text: string, lowered: string, present: Set<string>, counts: Record<string, number>): string {
  if (!r.gate.some((g) => present.has(g)) || (r.refine && !r.refine.test(lowered))) return text;
  const placeholder = `[REDACTED:${r.name}]`;
  let hits = 0;
  let pos = 0;
  let done = 0;
  const parts: string[] = [];
  for (;;) {
    r.pattern.lastIndex = pos;
    const match = r.pattern.exec(text);
    if (match === null) break;
    const out = r.render(match, placeholder);
    if (out === null) {
      // A rejected candidate may overlap a real one ('token= "secret": "…"'): resume inside it.
      pos = match.index + 1;
      if (pos > text.length) break;
      continue;
    }
    parts.push(text.slice(done, match.index), out);
    hits += 1;
    done = match.index + match[0].length;
    pos = Math.max(done, match.index + 1);
    if (pos > text.length) break;
  }
  if (!hits) return text;
  counts[r.name] = (counts[r.name] ?? 0) + hits;
  return parts.join("") + text.slice(done);
}

const SCHEMES = ci("bearer|basic|digest|token|negotiate|ntlm|dpop|aws4-hmac-sha256");
// Every value pattern refuses a value that is already a placeholder: this is what makes redaction idempotent.
const GUARD = String.raw`(?![ \t]*(?:${SCHEMES}[ \t]+)?\[REDACTED:)`;
const MARKERS = ["pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "session", "signature"];
const HINT = `(?=[${W}.\\-]*?${ci(MARKERS.join("|"))})`;
const KEY_GATE = String.raw`(?:${MARKERS.join("|")})[^\s:=]*[ \t]*[:=]`;
const HEADERS = ci(
  "(?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token|x-access-token" +
    "|private-token|x-amz-security-token|x-goog-api-key",
);
// Python's possessive `[\w.-]*+`: an atomic group through a lookahead and a back-reference.
const KEY =
  `(?<kq>["']|(?<![${W}./\\-]))` + HINT + `(?<key>[A-Za-z_](?=(?<kt>[${W}.\\-]*))\\k<kt>)\\k<kq>[ \\t]*[:=][ \\t]*`;
const URL_START = `${NOT_AFTER_WORD}[A-Za-z][A-Za-z0-9+.\\-]*://`;

// Order matters: specific formats first so each secret is counted under its own name, generic ones last.
const RULES: readonly Rule[] = [
  rule(
    "private_key",
    ["-----begin"],
    String.raw`-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)`,
  ),
  rule("jwt", ["eyj"], String.raw`(?<![${W}\-])eyJ[A-Za-z0-9_\-]{5,}(?:\.[A-Za-z0-9_\-]*){2,4}`),
  rule("aws_access_key_id", ["akia", "asia"], String.raw`(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])`),
  rule(
    "aws_secret_access_key",
    ["aws"],
    String.raw`(?<pre>(?<![A-Za-z0-9])` +
      ci("aws[_\\-]?secret[_\\-]?(?:access[_\\-]?)?key") +
      String.raw`["']?[ \t]*[:=][ \t]*["']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])`,
  ),
  rule(
    "github_token",
    ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
    String.raw`(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`,
  ),
  rule("slack_token", ["xox"], String.raw`(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9\-]{10,}`),
  rule("stripe_key", ["k_live_", "k_test_"], String.raw`(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}`),
  rule("google_api_key", ["aiza"], String.raw`(?<![${W}\-])AIza[A-Za-z0-9_\-]{35,}`),
  rule("anthropic_key", ["sk-ant-"], String.raw`(?<![${W}\-])sk-ant-[A-Za-z0-9_\-]{20,}`),
  rule("openai_key", ["sk-"], String.raw`(?<![${W}\-])sk-[A-Za-z0-9_\-]{20,}`),
  // The greedy value backtracks to the last "@", so an unencoded "@" in the password is covered too.
  rule("url_password", ["@"], String.raw`(?<pre>${URL_START}[^\s/?#@:\[\]]*:)(?!\[REDACTED:)[^\s/?#"'<>]+(?=@)`),
  rule("url_userinfo", ["@"], String.raw`(?<pre>${URL_START})[A-Za-z0-9._~%!$&'()*+,;=\-]{16,}(?=@)`),
  rule(
    "bearer",
    ["bearer"],
    // `name="..."` is an auth-param (`Bearer resource_metadata="..."`), not a token.
    String.raw`(?<pre>${NOT_AFTER_WORD}${ci("bearer")}[ \t]+)(?<value>[${W}.~+/\-]+(?:=+(?!["']|\[REDACTED:))?)(?![${W}.~+/=\-])`,
    when((g) => looksLikeToken(g.value ?? "")),
  ),
  rule(
    "basic",
    ["basic"],
    String.raw`(?<pre>${NOT_AFTER_WORD}${ci("basic")}[ \t]+)(?<value>[A-Za-z0-9+/]+(?:=+(?!["']|\[REDACTED:))?)(?![A-Za-z0-9+/=])`,
    when((g) => isBasicCredential(g.value ?? "")),
  ),
  rule(
    "query_param",
    [...MARKERS, "sig=", "code="],
    String.raw`(?<pre>[?&](?:amp;)?(?=[${W}.\-]*?${ci([...MARKERS, "sig", "code"].join("|"))})` +
      String.raw`(?<name>[A-Za-z_](?=(?<nt>[${W}.\-]*))\k<nt>)=)${GUARD}[^&#\s"'<>]+`,
    when((g) => QUERY_NAMES.has((g.name ?? "").toLowerCase()) || isSecretKey(g.name ?? "")),
    "[?&]",
  ),
  rule(
    "assignment",
    ["authorization", "cookie", "api-key", "-token"],
    String.raw`(?<pre>(?<![${W}\-])${HEADERS}[ \t]*:[ \t]*(?:${SCHEMES}[ \t]+)?)${GUARD}\S(?:[^\r\n]*\S)?`,
    around,
    String.raw`(?:authorization|cookie|api-key|-token)[ \t]*:`,
  ),
  rule(
    "assignment",
    MARKERS,
    String.raw`(?<pre>${KEY}(?<q>["']))${GUARD}(?<value>(?:\\.|(?!\k<q>)[^\\\r\n])+)(?<post>\k<q>)`,
    quotedAssignment,
    KEY_GATE,
  ),
  rule("assignment", MARKERS, String.raw`(?<pre>${KEY})${GUARD}(?<value>[^\s,;&"']+)`, bareAssignment, KEY_GATE),
];

/** The rule names a placeholder can carry, in the order they apply (as Python's `RULE_NAMES`). */
export const RULE_NAMES: readonly string[] = ["known_secret", "secret_key", ...new Set(RULES.map((r) => r.name))];
const LITERALS: readonly string[] = [...new Set(RULES.flatMap((r) => r.gate))].sort();

/** Python's `urllib.parse.quote(s, safe="")`. */
function quote(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function presentLiterals(lowered: string): Set<string> {
  const present = new Set<string>();
  for (const literal of LITERALS) if (lowered.includes(literal)) present.add(literal);
  return present;
}

/** Redacts text and events; built once from the known secrets and reused. */
export class Redactor {
  private readonly needles: readonly string[];
  // Short texts repeat (catalog messages, tool names): their redaction is remembered, per redactor.
  private readonly memo = new Map<string, [string, Record<string, number>]>();

  constructor(knownSecrets: Iterable<string> = []) {
    const kept = new Set<string>();
    for (const s of knownSecrets) {
      const stripped = typeof s === "string" ? s.trim() : "";
      if (stripped.length >= MIN_KNOWN_SECRET) kept.add(stripped);
    }
    const needles = new Set<string>(kept);
    for (const s of kept) needles.add(quote(s));
    this.needles = [...needles].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Redact one string, adding how often each rule fired to `counts`. */
  text(input: string, counts: Record<string, number> = {}): string {
    if (input.length > 256) return this.redact(input, counts);
    let hit = this.memo.get(input);
    if (hit === undefined) {
      const fired: Record<string, number> = {};
      hit = [this.redact(input, fired), fired];
      if (this.memo.size >= 512) this.memo.clear();
      this.memo.set(input, hit);
    }
    for (const [name, n] of Object.entries(hit[1])) counts[name] = (counts[name] ?? 0) + n;
    return hit[0];
  }

  private redact(input: string, counts: Record<string, number>): string {
    let text = this.needles.length ? this.known(input, counts) : input;
    let lowered = text.toLowerCase();
    let present = presentLiterals(lowered);
    if (!present.size) return text;
    // Matches can overlap: a redaction may expose another one, so repeat until nothing changes.
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const before = text;
      for (const r of RULES) text = applyRule(r, text, lowered, present, counts);
      if (text === before) break;
      lowered = text.toLowerCase();
      present = presentLiterals(lowered);
    }
    return text;
  }

  /** A redacted deep copy of a plain object (an event's fields) and the count of redactions per rule. */
  event<T extends Record<string, unknown>>(event: T): [T, Record<string, number>] {
    const counts: Record<string, number> = {};
    return [this.mapping(event, counts) as T, counts];
  }

  /** Names of the rules that would fire on `text` (never the secret itself). */
  findLeaks(text: string): string[] {
    const counts: Record<string, number> = {};
    this.text(text, counts);
    return Object.keys(counts);
  }

  private known(text: string, counts: Record<string, number>): string {
    const spans: [number, number][] = [];
    for (const needle of this.needles) {
      for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
        spans.push([at, at + needle.length]);
      }
    }
    if (!spans.length) return text;
    let kept = spans;
    if (text.includes("[REDACTED:")) {
      // A secret that happens to spell part of a placeholder must not shred it on a second pass.
      const held = [...text.matchAll(PLACEHOLDER_RE)].map((m) => [m.index, m.index + m[0].length]);
      kept = spans.filter(([s, e]) => !held.some(([hs, he]) => s < he && hs < e));
    }
    kept.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const merged: [number, number][] = [];
    for (const [start, end] of kept) {
      const last = merged[merged.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    if (!merged.length) return text;
    let out = "";
    let cursor = 0;
    for (const [start, end] of merged) {
      out += text.slice(cursor, start) + "[REDACTED:known_secret]";
      cursor = end;
    }
    counts.known_secret = (counts.known_secret ?? 0) + merged.length;
    return out + text.slice(cursor);
  }

  private mapping(obj: Record<string, unknown>, counts: Record<string, number>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      out[key] = isSecretKey(key) ? this.secret(value, counts) : this.value(value, counts);
    }
    return out;
  }

  private value(value: unknown, counts: Record<string, number>): unknown {
    if (typeof value === "string") return this.text(value, counts);
    if (Array.isArray(value)) return value.map((item) => this.value(item, counts));
    if (value !== null && typeof value === "object") return this.mapping(value as Record<string, unknown>, counts);
    return value;
  }

  private secret(value: unknown, counts: Record<string, number>): unknown {
    if (value === null || value === undefined || typeof value === "boolean") return value;
    if (typeof value === "string" && (!value || PLACEHOLDER_FULL.test(value))) return value;
    const known = typeof value === "string" && this.needles.some((n) => value.includes(n));
    const name = known ? "known_secret" : "secret_key";
    counts[name] = (counts[name] ?? 0) + 1;
    return `[REDACTED:${name}]`;
  }
}

const DEFAULT = new Redactor();

/** Redact secrets in `text`, replacing each with `[REDACTED:<rule>]`. */
export function redactText(text: string, options: { knownSecrets?: Iterable<string> } = {}): string {
  const secrets = options.knownSecrets ? [...options.knownSecrets] : [];
  return (secrets.length ? new Redactor(secrets) : DEFAULT).text(text);
}

/** A redacted deep copy of `event` and how many redactions each rule made. */
export function redactEvent<T extends Record<string, unknown>>(
  event: T,
  options: { knownSecrets?: Iterable<string> } = {},
): [T, Record<string, number>] {
  const secrets = options.knownSecrets ? [...options.knownSecrets] : [];
  return (secrets.length ? new Redactor(secrets) : DEFAULT).event(event);
}
