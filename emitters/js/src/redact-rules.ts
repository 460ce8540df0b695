// The rules that find secrets in text by their format (provider tokens, PEM keys, URLs, auth schemes, command
// lines, name/value pairs). A port of mcpdiag.emitters.redact_rules: a rule reports edits instead of
// rewriting the text, and where two overlap the engine keeps the edit of the rule listed first.
//
// Every pattern is linear: a literal or a short character set first, bounded runs, a value matched after its
// key is judged, no nested repetition over the same characters. Python's possessive runs (`x*+`) become
// `(?=(x*))\1` here (a lookahead is atomic in JavaScript), which also keeps their meaning exactly.
import { KEY_MARKERS, isSecretKey, namesSecret } from "./redact-keys.js";
import { SPACE, WORD, WORD_END, ci, cpLength, isDigits } from "./redact-py.js";

/** [start, end, replacement, rule, quote start, quote end]: a `"` in the replacement stands for the text's own
 * quote at [quote start, quote end) (-1 when there is none), so JSON inside a JSON string stays valid. */
export type Edit = [number, number, string, string, number, number];

export interface Rule {
  readonly name: string;
  /** Lowercase literals one of which every match holds: the rule runs only on texts holding one. */
  readonly gate: readonly string[];
  /** Append this rule's edits of `text` (lowercased as `low`) to `out`, in order and not overlapping. */
  edits(text: string, low: string, present: ReadonlySet<string>, out: Edit[]): void;
}

export const PLACEHOLDER_FULL = /^\[REDACTED:[a-z_]+\]$/;
export const SCHEMES = ci("bearer|basic|digest|token|negotiate|ntlm|dpop|aws4-hmac-sha256|sharedaccesssignature");
// The value after an optional auth scheme is already a placeholder: what makes redaction idempotent.
const REDACTED_AHEAD = new RegExp(String.raw`[ \t]*(?:${SCHEMES}[ \t]+)?\[REDACTED:`, "uy");
const SCHEME_PREFIX = new RegExp(String.raw`${SCHEMES}[ \t]+`, "uy");
const QUERY_NAMES = new Set(["key", "code", "sig"]);
const TOKEN_MARKS = /[0-9_~+/=]/;

let atoms = 0;
/** Python's possessive `x` (a run that never gives back): an atomic group through a lookahead. */
export function atomic(pattern: string): string {
  const name = `a${atoms++}`;
  return `(?=(?<${name}>${pattern}))\\k<${name}>`;
}

/** Whether the value at `pos` is already a placeholder (after an optional auth scheme). */
export function redactedAhead(text: string, pos: number): boolean {
  REDACTED_AHEAD.lastIndex = pos;
  return REDACTED_AHEAD.test(text);
}

/** The length of a leading auth scheme and its spaces in `value` (`Bearer `), or 0. */
export function schemeEnd(value: string): number {
  SCHEME_PREFIX.lastIndex = 0;
  const match = SCHEME_PREFIX.exec(value);
  return match ? match[0].length : 0;
}

/** Prose after "Bearer" is letters ("the Bearer scheme"); tokens carry digits or symbols, or are long. */
function looksLikeToken(value: string): boolean {
  const length = cpLength(value);
  return length >= 8 && (length >= 20 || TOKEN_MARKS.test(value));
}

/** Real Basic credentials are base64("user:password"); "Basic authentication" does not decode to that. */
function isBasicCredential(value: string): boolean {
  // Python's strict b64decode of the value padded to a multiple of 4: data of 4n characters takes any
  // padding, 4n+2 and 4n+3 exactly theirs, 4n+1 none.
  const data = value.replace(/=+$/, "");
  const padding = value.length - data.length + ((4 - (value.length % 4)) % 4);
  const rest = data.length % 4;
  if (rest === 1 || (rest !== 0 && padding !== 4 - rest)) return false;
  return value.length >= 8 && Buffer.from(data, "base64").includes(0x3a);
}

type Groups = Record<string, string | undefined>;
type Accept = (groups: Groups) => boolean;

class RegexRule implements Rule {
  constructor(
    readonly name: string,
    readonly gate: readonly string[],
    private readonly head: RegExp,
    private readonly tail: RegExp | null,
    private readonly accept: Accept | null,
    private readonly scheme: boolean,
    /** For a head whose body can hold its own start: where a match can start, what a failed candidate shares
     * with every later one inside it, and the head anchored (see `next`). Null for most rules. */
    readonly byRun: { lead: RegExp; run: RegExp; anchored: RegExp } | null = null,
  ) {}

  edits(text: string, _low: string, _present: ReadonlySet<string>, out: Edit[]): void {
    let match = this.next(text, 0);
    while (match !== null) {
      let pos = Math.max(match.index + match[0].length, match.index + 1);
      const edit = this.edit(text, match);
      if (edit !== null) {
        out.push(edit);
        pos = Math.max(pos, edit[1]);
      }
      if (pos > text.length) break;
      match = this.next(text, pos);
    }
  }

  /** The first match of the head from `pos`: a search, or for a rule with `byRun`, candidate by candidate, a
   * failed one passing over the rest of its run: each later candidate inside it would read the same run to
   * its end and fail as it did (a search tries each again: `eyJ_` repeated was quadratic). */
  private next(text: string, pos: number): RegExpExecArray | null {
    if (this.byRun === null) {
      this.head.lastIndex = pos;
      return this.head.exec(text);
    }
    const { lead, run, anchored } = this.byRun;
    lead.lastIndex = pos;
    for (let candidate = lead.exec(text); candidate !== null; candidate = lead.exec(text)) {
      anchored.lastIndex = candidate.index;
      const head = anchored.exec(text);
      if (head !== null) return head;
      run.lastIndex = candidate.index;
      run.exec(text);
      lead.lastIndex = Math.max(run.lastIndex, candidate.index + 1);
    }
    return null;
  }

  private edit(text: string, head: RegExpExecArray): Edit | null {
    // The head is judged before its value is read: a rejected name never costs a scan of what follows it.
    if (this.accept !== null && !this.accept((head.groups ?? {}) as Groups)) return null;
    let start: number;
    let end: number;
    if (this.tail !== null) {
      this.tail.lastIndex = head.index + head[0].length;
      const value = this.tail.exec(text);
      if (value === null) return null;
      [start, end] = [value.index, value.index + value[0].length];
    } else {
      const spans = head.indices?.groups;
      if (spans?.value) [start, end] = spans.value;
      else [start, end] = [spans?.pre ? spans.pre[1] : head.index, head.index + head[0].length];
    }
    if (this.scheme) start += schemeEnd(text.slice(start, end));
    return [start, end, `[REDACTED:${this.name}]`, this.name, -1, -1];
  }
}

function rule(
  name: string,
  gate: readonly string[],
  head: string,
  options: { tail?: string; accept?: Accept; scheme?: boolean; lead?: string; run?: string } = {},
): RegexRule {
  const tail = options.tail ? new RegExp(options.tail, "uy") : null;
  const byRun =
    options.lead !== undefined && options.run !== undefined
      ? { lead: new RegExp(options.lead, "gu"), run: new RegExp(options.run, "uy"), anchored: new RegExp(head, "yud") }
      : null;
  return new RegexRule(name, gate, new RegExp(head, "gud"), tail, options.accept ?? null, options.scheme ?? false, byRun);
}

const W = WORD;
const NOT_REDACTED = String.raw`(?!\[REDACTED:)`;

// Provider token formats: a literal first (so the engine skips to it), the boundary checked behind it.
export const TOKEN_RULES: readonly Rule[] = [
  rule(
    "private_key",
    ["-----begin"],
    String.raw`-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|$)`,
  ),
  rule("jwt", ["eyj"], String.raw`eyJ(?<![A-Za-z0-9]eyJ)${atomic("[A-Za-z0-9_-]{5,}")}(?:\.${atomic("[A-Za-z0-9_-]*")}){2,4}`, {
    lead: String.raw`eyJ(?<![A-Za-z0-9]eyJ)`,
    run: "[A-Za-z0-9_-]*",
  }),
  rule("aws_access_key_id", ["akia", "asia"], String.raw`A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])`),
  rule(
    "aws_secret_access_key",
    ["secret"],
    String.raw`(?<pre>${ci("aws")}(?<![A-Za-z0-9][Aa][Ww][Ss])[_-]?${ci("secret")}[_-]?${ci("access[_-]?")}?${ci("key")}` +
      String.raw`["']?[ \t]*[:=][ \t]*["']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])`,
  ),
  rule("github_token", ["_"], String.raw`g(?<![A-Za-z0-9]g)(?:h[pousr]_[A-Za-z0-9]{36,}|ithub_pat_[A-Za-z0-9_]{22,})`),
  rule("gitlab_token", ["glpat-"], String.raw`glpat-(?<![A-Za-z0-9]glpat-)[${W}-]{20,}`),
  rule("slack_token", ["xox", "xapp"], String.raw`x(?<![A-Za-z0-9]x)(?:ox[abposre]-|app-|oxe\.xox[bp]-)[A-Za-z0-9-]{10,}`),
  rule(
    "webhook_url",
    ["hook"],
    String.raw`(?<pre>${ci(
      String.raw`hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/` +
        String.raw`|\.webhook\.office\.com/webhookb2/|hooks\.zapier\.com/hooks/catch/`,
    )})${NOT_REDACTED}[^${SPACE}"'<>?#\\]{6,}`,
  ),
  rule("stripe_key", ["_"], String.raw`sk_(?:live|test)_(?<![A-Za-z0-9]sk_(?:live|test)_)[A-Za-z0-9]{16,}`),
  rule("stripe_key", ["_"], String.raw`rk_(?:live|test)_(?<![A-Za-z0-9]rk_(?:live|test)_)[A-Za-z0-9]{16,}`),
  rule("webhook_secret", ["_"], String.raw`whsec_(?<![A-Za-z0-9]whsec_)[A-Za-z0-9+/=]{16,}`),
  rule("google_api_key", ["aiza"], String.raw`AIza(?<![A-Za-z0-9]AIza)[A-Za-z0-9_-]{35,}`),
  rule("google_oauth_token", ["ya29."], String.raw`ya29\.(?<![A-Za-z0-9.]ya29\.)[${W}-]{20,}`),
  rule("anthropic_key", ["sk-"], String.raw`sk-ant-(?<![A-Za-z0-9]sk-ant-)[A-Za-z0-9_-]{20,}`),
  rule("openai_key", ["sk-"], String.raw`sk-(?<![A-Za-z0-9]sk-)[A-Za-z0-9_-]{20,}`),
];

// Credentials in URLs and auth schemes. A URL's scheme is checked behind its `://`.
export const URL_RULES: readonly Rule[] = [
  // The greedy value backtracks to the last "@" (at most 1024 characters): an unencoded "@" in the password.
  rule(
    "url_password",
    ["@"],
    String.raw`(?<pre>:\/\/(?<=[A-Za-z0-9+.-]:\/\/)[^${SPACE}/?#@:\[\]]{0,256}:)${NOT_REDACTED}[^${SPACE}/?#"'<>]{1,1024}(?=@)`,
  ),
  rule("url_userinfo", ["@"], String.raw`(?<pre>:\/\/(?<=[A-Za-z0-9+.-]:\/\/))[A-Za-z0-9._~%!$&'()*+,;=-]{16,1024}(?=@)`),
  rule(
    "bearer",
    ["bearer"],
    // `name="..."` is an auth-param (`Bearer resource_metadata="..."`), not a token; so is `name=` before a
    // placeholder, which a second pass must leave alone.
    String.raw`(?<pre>[Bb](?<![${W}][Bb])${ci("earer")}[ \t]+)(?<value>${atomic(`[${W}.~+/-]+`)}(?:=+(?!["']|\[REDACTED:))?)` +
      String.raw`(?![${W}.~+/=-])`,
    { accept: (g) => looksLikeToken(g.value ?? "") },
  ),
  rule(
    "basic",
    ["basic"],
    String.raw`(?<pre>[Bb](?<![${W}][Bb])${ci("asic")}[ \t]+)(?<value>${atomic("[A-Za-z0-9+/]+")}(?:=+(?!["']|\[REDACTED:))?)` +
      String.raw`(?![A-Za-z0-9+/=])`,
    { accept: (g) => isBasicCredential(g.value ?? "") },
  ),
  rule("query_param", [...KEY_MARKERS, "code="], String.raw`[?&#](?:amp;)?(?<name>[A-Za-z_]${atomic(`[${W}.-]*`)})=`, {
    tail: String.raw`${NOT_REDACTED}[^&#${SPACE}"'<>]+`,
    accept: (g) => {
      const name = g.name ?? "";
      return QUERY_NAMES.has(name.toLowerCase()) || isSecretKey(name);
    },
  }),
];

// Credentials on command lines: `curl -u user:pass`, `mysql -pSECRET`, `sshpass -p`, openssl `pass:`.
export const CLI_RULES: readonly Rule[] = [
  rule(
    "cli_password",
    ["-u"],
    String.raw`-(?<![${W}-]-)(?:-user|-proxy-user|u|U)(?:[ \t]+|=)?(?<q>["']?)(?<user>${atomic(`[^${SPACE}:"'@]{0,256}`)}):` +
      String.raw`${NOT_REDACTED}(?<value>[^${SPACE}"']{1,1024})`,
    // `docker run -u 1000:1000` is a user and group, not a password.
    { accept: (g) => !(isDigits(g.user ?? "") && isDigits(g.value ?? "")) },
  ),
  rule(
    "cli_password",
    ["-p"],
    String.raw`m(?<![${W}-]m)(?:ysql|ariadb)(?:dump|admin|sh|import|check)?${WORD_END}[^\r\n]{0,512}?[ \t]-p` +
      String.raw`${NOT_REDACTED}(?<value>[^${SPACE}"'-][^${SPACE}"']{0,1023})`,
  ),
  rule(
    "cli_password",
    ["-p"],
    String.raw`sshpass(?<![${W}-]sshpass)[ \t]+-p[ \t]*["']?${NOT_REDACTED}(?<value>[^${SPACE}"']{1,1024})`,
  ),
  rule(
    "cli_password",
    ["pass"],
    String.raw`-pass(?<![${W}-]-pass)(?:in|out)?[ \t]+pass:${NOT_REDACTED}(?<value>[^${SPACE}"']{1,1024})`,
  ),
];

// Name/value pairs: HAR and Postman header lists, Kubernetes env, .NET `<add key= value=/>`, header tuples.
const NAME = String.raw`(?<n>[^"'\\\r\n<>]{1,128})`;
const string_ = (q: string): string => atomic(String.raw`(?:\\[^\n]|(?!\k<${q}>)[^\\\r\n])*`);
const NAME_KEYS = ci("name|key|header|field");
const VALUE_KEYS = ci("value|val");
const pairValue: Accept = (g) => namesSecret(g.n ?? "") && !redactedAhead(g.value ?? "", 0);
const PAIR = { accept: pairValue, scheme: true };

export const PAIR_RULES: readonly Rule[] = [
  rule(
    "assignment",
    KEY_MARKERS,
    String.raw`(?<nq>["'])${NAME_KEYS}\k<nq>[ \t]*:[ \t]*(?<q>["'])${NAME}\k<q>[ \t]*,` +
      String.raw`[ \t\r\n]*(?<vq>["'])${VALUE_KEYS}\k<vq>[ \t]*:[ \t]*(?<q2>["'])(?<value>${string_("q2")})\k<q2>`,
    PAIR,
  ),
  rule(
    "assignment",
    KEY_MARKERS,
    String.raw`(?<vq>["'])${VALUE_KEYS}\k<vq>[ \t]*:[ \t]*(?<q>["'])(?<value>${string_("q")})\k<q>` +
      String.raw`[ \t]*,[ \t\r\n]*(?<nq>["'])${NAME_KEYS}\k<nq>[ \t]*:[ \t]*(?<q2>["'])${NAME}\k<q2>`,
    PAIR,
  ),
  rule(
    "assignment",
    KEY_MARKERS,
    String.raw`=(?:(?<=[Nn][Aa][Mm][Ee]=)|(?<=[Kk][Ee][Yy]=))(?<q>["'])${NAME}\k<q>[ \t\r\n]+${ci("value")}=` +
      String.raw`(?<q2>["'])(?<value>${string_("q2")})\k<q2>`,
    PAIR,
  ),
  rule(
    "assignment",
    KEY_MARKERS,
    // Only in a list of pairs (or Python tuples): `["password", "email"]` alone is a list of names.
    String.raw`(?:\[|,)${atomic(String.raw`[ \t\r\n]*`)}[\[(][ \t]*(?<q>["'])${NAME}\k<q>[ \t]*,[ \t]*(?<q2>["'])` +
      String.raw`(?<value>${string_("q2")})\k<q2>[ \t]*[\])]`,
    PAIR,
  ),
];
