// Field names that say their value is a secret (`password`, `X-Api-Key`, `clientSecret`, ...), and the few
// shapes that name a secret with a value instead (name/value pairs, header lists). A port of
// mcpdiag.emitters.redact_keys: a name is judged by its last words (`clientSecret` → `client_secret`); it is
// secret when its last word equals or ends with a secret word, or is the word plus a short suffix, or when
// its last two words spell one (`passWord`, `api_key`). A bare prefix is not enough (`author`, `tokenizer`).
import { cpLength, cpTail, strip } from "./redact-py.js";

// Words whose values are credentials: a number under them is a secret too (a PIN, a numeric password).
const CREDENTIAL_WORDS = [
  "password", "passwd", "pwd", "passphrase", "passcode", "secret", "apikey", "credential", "privatekey",
  "accesskey",
];
// Words that name a kind of thing: their string values are secrets, a number under them is a count, and in
// free text they are ordinary words, so unquoted `name: value` pairs use the credential words and two more.
const CONTEXT_WORDS = ["token", "auth", "authorization", "cookie", "session", "signature"];
const KEY_WORDS = [...CREDENTIAL_WORDS, ...CONTEXT_WORDS];
const TEXT_WORDS = [...CREDENTIAL_WORDS, "token", "authorization", "signature"];
const EXACT_WORDS = new Set(["pass"]);
const KEY_PHRASES = new Set([
  "api_key", "private_key", "client_secret", "secret_key", "access_key", "account_key", "shared_key",
  "master_key", "signing_key", "encryption_key", "client_key", "app_key", "subscription_key",
  "shared_access_key", "sas_token", "auth_key",
]);
const WORD_SUFFIXES = new Set(["s", "id", "key", "value"]);
const COUNTERS = new Set(["tokens", "sessions"]);
const CARRIERS = new Set([
  "header", "headers", "value", "val", "data", "str", "string", "raw", "b64", "base64", "encoded", "hex",
]);
const MAX_CACHED = 256;

/** Lowercase pieces one of which every secret name holds: a text without any of them names no secret. */
export const KEY_MARKERS = ["pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "session", "sig"];

/** Header names whose whole value (up to the end of the line) is a credential, an auth scheme aside. */
export const HEADERS: ReadonlySet<string> = new Set([
  "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token",
  "x-access-token", "private-token", "x-amz-security-token", "x-goog-api-key",
]);
const PAIR_NAME_KEYS = new Set(["name", "key", "header", "field"]);
const PAIR_VALUE_KEYS = new Set(["value", "val"]);

const PLACEHOLDERS = /\[REDACTED:[a-z_]+\]/g;

/** `clientSecret`, `Client-Secret`, `CLIENT_SECRET` → `client_secret`. */
export function normalizeKey(key: string): string {
  const lowered = key.replace(/(?<=[a-z0-9])(?=[A-Z])/g, "_").toLowerCase();
  return strip(lowered.replace(/[^a-z0-9]+/g, "_"), "_");
}

function words(key: string): string[] {
  // A key redacted before (`[REDACTED:github_token]`) is named by what replaced it, not a secret word.
  if (key.includes("[REDACTED:")) key = key.replace(PLACEHOLDERS, " redacted ");
  // Only the last words decide: a long key is cut.
  const parts = normalizeKey(cpTail(key, MAX_CACHED)).split("_");
  if (parts.length > 1 && CARRIERS.has(parts[parts.length - 1])) parts.pop();
  return parts;
}

function secretWord(parts: string[], list: readonly string[]): string | null {
  const last = parts[parts.length - 1];
  if (KEY_PHRASES.has(parts.slice(-2).join("_")) || KEY_PHRASES.has(parts.slice(-3).join("_"))) return "credential";
  if (COUNTERS.has(last)) return null;
  if (EXACT_WORDS.has(last)) return "password";
  for (const word of list) {
    if (last.endsWith(word) || (last.startsWith(word) && WORD_SUFFIXES.has(last.slice(word.length)))) return word;
  }
  // Two words spelling one (`pass_word`, `api_keys`): exactly the word, or its plural.
  const joined = parts.slice(-2).join("");
  if (parts.length > 1 && (list.includes(joined) || (joined.endsWith("s") && list.includes(joined.slice(0, -1))))) {
    return joined.endsWith("s") ? joined.slice(0, -1) : joined;
  }
  return null;
}

function cached(list: readonly string[]): (key: string) => string | null {
  const cache = new Map<string, string | null>();
  return (key) => {
    if (key.length > MAX_CACHED) return secretWord(words(key), list);
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = secretWord(words(key), list);
      if (cache.size >= 4096) cache.clear();
      cache.set(key, hit);
    }
    return hit;
  };
}

const keyWord = cached(KEY_WORDS);
const textWord = cached(TEXT_WORDS);

/** Whether a field name says its value is a secret (`password`, `X-Api-Key`, `clientSecret`, ...). */
export function isSecretKey(key: string): boolean {
  return keyWord(key) !== null;
}

/** Whether an unquoted name in free text (`token: …`, `--password x`) introduces a secret. */
export function isSecretTextName(key: string): boolean {
  return textWord(key) !== null;
}

/** Whether a number under this (secret-looking) key is a count rather than a secret: a kind-of-thing word
 * (`oauth`, `session`, `token`) or the plural of any secret word (`passwords`, `api_keys`). */
export function isCountKey(key: string): boolean {
  const parts = words(key);
  const word = secretWord(parts, KEY_WORDS);
  if (word === null || CONTEXT_WORDS.includes(word)) return true;
  const last = parts[parts.length - 1];
  return last.endsWith("s") && !last.endsWith("ss");
}

/** Whether a free-text name introduces a secret only with `=` (`pass=`, `signature=`; not `pass: 12`). */
export function needsEquals(key: string): boolean {
  const parts = words(key);
  const last = parts[parts.length - 1];
  return EXACT_WORDS.has(last) || (last.endsWith("s") ? last.slice(0, -1) : last).endsWith("signature");
}

/** Whether `name` (of a header pair or a name/value pair) names a secret. */
export function namesSecret(name: string): boolean {
  return HEADERS.has(name.toLowerCase()) || isSecretKey(name);
}

/** For a small mapping shaped as a name/value pair whose name is a secret (`{"name": "Authorization",
 * "value": …}`): [the name, the key of its value]; else null. */
export function pairName(entries: readonly [string, unknown][]): [string, string] | null {
  if (entries.length < 2 || entries.length > 8) return null;
  let name: string | null = null;
  let valueKey: string | null = null;
  for (const [key, item] of entries) {
    const lowered = key.toLowerCase();
    if (PAIR_NAME_KEYS.has(lowered) && typeof item === "string" && cpLength(item) <= 128) name = item;
    else if (PAIR_VALUE_KEYS.has(lowered)) valueKey = key;
  }
  if (name === null || valueKey === null || !namesSecret(name)) return null;
  return [name, valueKey];
}
