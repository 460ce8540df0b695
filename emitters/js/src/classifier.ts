// Classification: turn an MCP SDK failure (v1 or v2), a Node or undici error and what the hooks saw into a
// catalog code: the same codes as the Python classifier for the same failure.
import {
  type Thrown,
  clip,
  describeError,
  errorChain,
  errorName,
  errorNames,
  errorText,
  jsonrpcError,
  prop,
} from "./chain.js";
import { type Action, type Severity, LIMITS, codeInfo } from "./codes.js";
import { Redactor } from "./redact.js";

/** What a fetch-level hook saw for the HTTP exchange most relevant to a failure. */
export interface HttpObservation {
  status?: number;
  contentType?: string;
  wwwAuthenticate?: string;
  proxyAuthenticate?: string;
  location?: string;
  retryAfter?: string;
  method?: string;
  url?: string;
  viaProxy?: boolean;
  bodySnippet?: string;
  /** An event stream that ended before it carried any event. */
  streamCut?: boolean;
}

/** A failure's catalog code with everything an event needs; `messageSafe` never holds error text. */
export interface Classification {
  code: string;
  severity: Severity;
  retryable: boolean;
  messageSafe: string;
  detail: string;
  action: Action;
  httpStatus?: number;
  attrs: Record<string, string | number | boolean>;
}

/** What the caller knows besides the error itself. */
export interface ClassifyOptions {
  touchpoint?: string;
  transport?: string;
  server?: string;
  http?: HttpObservation;
  sessionEstablished?: boolean;
  proxyInUse?: boolean;
  stderrTail?: string;
  redactor?: Redactor;
}

interface Verdict {
  code: string;
  signal: string;
  source?: Thrown;
  retryable?: boolean;
}

interface Facts {
  chain: Thrown[];
  touchpoint?: string;
  transport?: string;
  established: boolean;
  proxy: boolean;
  stderrTail?: string;
  http?: HttpObservation;
}

const MAX_DESCRIBED = 12;
const MAX_STDERR = 1500;
const MAX_BODY = 200;
const DEFAULT_REDACTOR = new Redactor();

const OAUTH_NAMES = new Set([
  "OAuthError", "OAuthClientFlowError", "RegistrationRejectedError", "IssuerMismatchError",
  "AuthorizationServerMismatchError", "InsecureTokenEndpointError", "InvalidGrantError", "InvalidClientError",
  "UnauthorizedClientError", "InvalidClientMetadataError", "AccessDeniedError",
]);
// OAuth errors that say the token is missing, expired or too narrow: the user must (re)authenticate.
const AUTH_NAMES = new Set(["UnauthorizedError", "InsufficientScopeError", "InvalidTokenError"]);
const TIMEOUT_CODES = new Set([
  "ETIMEDOUT", "ESOCKETTIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT",
  "REQUEST_TIMEOUT", "ERR_OPERATION_TIMED_OUT",
]);
const TIMEOUT_NAMES = new Set(["TimeoutError", "OAuthTimeoutError", "ConnectTimeoutError", "HeadersTimeoutError"]);
const RPC_TIMEOUTS = new Set([-32001, 408]);
const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA", "ENODATA"]);
const TLS_CODE = /^(?:CERT_|ERR_TLS_|ERR_SSL_|ERR_OSSL_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$)/;
const SPAWN_CODES = new Set(["ENOENT", "EACCES", "EPERM", "ENOEXEC", "ENOTDIR", "EISDIR"]);
const REFUSED_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN"]);
const RESET_CODES = new Set(["ECONNRESET", "ECONNABORTED", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "ERR_STREAM_PREMATURE_CLOSE"]);
const DNS_TEXT = /getaddrinfo|ENOTFOUND|EAI_AGAIN|name or service not known|nodename nor servname/i;
const REFUSED_TEXT = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/;
const TLS_TEXT = /certificate|SSL routines|self[- ]signed|CERT_|ERR_TLS_|wrong version number/i;
const CHALLENGE = /(?:^|,)\s*(?:bearer|dpop)\b/i;
const MCP_TYPES = ["application/json", "text/event-stream"];
const OAUTH_ENDPOINT = /\/(?:token|register|authorize)$/;
const OAUTH_URL = /\/\.well-known\/(?:oauth-protected-resource|oauth-authorization-server|openid-configuration)/;
// Messages the SDKs write themselves; any other message on a JSON-RPC error came from the server.
const SDK_MESSAGES = ["server returned an error response", "not found", "session terminated", "connection closed"];

const codeOf = (e: unknown): string | undefined => {
  const code = prop(e, "code");
  return typeof code === "string" ? code : undefined;
};
const has = (e: Thrown, names: Set<string>): boolean => [...errorNames(e)].some((n) => names.has(n));

function first(f: Facts, test: (e: Thrown) => unknown): Thrown | undefined {
  return f.chain.find((e) => test(e));
}

function hit(code: string, signal: string, source: Thrown | undefined, retryable?: boolean): Verdict | undefined {
  return source === undefined ? undefined : { code, signal, source, retryable };
}

function isTimeout(e: Thrown): boolean {
  if (has(e, TIMEOUT_NAMES) || TIMEOUT_CODES.has(codeOf(e) ?? "")) return true;
  const rpc = jsonrpcError(e);
  return rpc !== undefined && RPC_TIMEOUTS.has(rpc[0]);
}

/** A dropped connection: the process died (stdio), a stream was cut mid-session, or nobody answered. */
function cut(f: Facts, source: Thrown | undefined, signal: string): Verdict | undefined {
  if (f.transport === "stdio") return hit("MCP_PROCESS_EXITED", signal, source);
  return hit(f.established || f.proxy ? "MCP_PROXY_SSE_ISSUE" : "MCP_CONNECTION_REFUSED", signal, source);
}

function oauthRule(f: Facts): Verdict | undefined {
  const failure = first(f, (e) => has(e, OAUTH_NAMES) && !has(e, AUTH_NAMES));
  const timeout = f.touchpoint === "oauth" || failure ? first(f, isTimeout) : undefined;
  const endpoint =
    f.touchpoint === "oauth" && f.http?.status !== undefined && f.http.status >= 400 && OAUTH_URL.test(f.http.url ?? "")
      ? f.chain[0]
      : undefined;
  return (
    hit("MCP_OAUTH_TIMEOUT", "oauth timeout", timeout) ??
    hit("MCP_OAUTH_FAILED", "oauth", failure) ??
    hit("MCP_OAUTH_FAILED", "oauth endpoint", endpoint)
  );
}

/** Whether `err` is a failure of the OAuth flow itself (discovery, registration, token exchange). */
export function isOAuthFailure(err: unknown, http?: HttpObservation): boolean {
  if (http?.url && http.status !== undefined && http.status >= 400 && (OAUTH_URL.test(http.url) || OAUTH_ENDPOINT.test(http.url))) return true;
  return errorChain(err).some((e) => has(e, OAUTH_NAMES) && !has(e, AUTH_NAMES));
}

function spawnRule(f: Facts): Verdict | undefined {
  if (f.transport !== "stdio" || f.established || (f.touchpoint !== undefined && f.touchpoint !== "connect")) return undefined;
  return hit("MCP_STDIO_SPAWN_FAILED", "stdio spawn", first(f, (e) => SPAWN_CODES.has(codeOf(e) ?? "")));
}

function dnsRule(f: Facts): Verdict | undefined {
  const e = first(f, (x) => DNS_CODES.has(codeOf(x) ?? "") || prop(x, "syscall") === "getaddrinfo");
  // EAI_AGAIN is "temporary failure in name resolution": the resolver failed, not the name.
  return hit("MCP_DNS_FAILURE", "dns", e, e && codeOf(e) === "EAI_AGAIN" ? true : undefined);
}

function tlsRule(f: Facts): Verdict | undefined {
  const e = first(f, (x) => TLS_CODE.test(codeOf(x) ?? "") || String(prop(x, "library") ?? "").includes("SSL"));
  return hit("MCP_TLS_ERROR", "tls", e);
}

/** Node's fetch turns a 407 (no proxy configured) into a spec "network error": a TypeError("fetch failed")
 * whose cause is a bare Error, no message, no code. undici's ProxyAgent says "Proxy response (407) …". */
function isBareNetworkError(e: Thrown): boolean {
  if (!(errorNames(e).has("TypeError") && errorText(e) === "fetch failed")) return false;
  const cause = prop(e, "cause");
  return errorName(cause) === "Error" && !errorText(cause) && prop(cause, "code") === undefined;
}

function socketRule(f: Facts): Verdict | undefined {
  return (
    hit("MCP_PROXY_SSE_ISSUE", "proxy error", first(f, (e) => errorNames(e).has("ProxyError") || /^Proxy response \(\d+\)/.test(errorText(e)))) ??
    hit("MCP_PROXY_SSE_ISSUE", "network error", first(f, isBareNetworkError)) ??
    hit(f.proxy ? "MCP_PROXY_SSE_ISSUE" : "MCP_CONNECTION_REFUSED", "refused", first(f, (e) => REFUSED_CODES.has(codeOf(e) ?? ""))) ??
    cut(f, first(f, (e) => RESET_CODES.has(codeOf(e) ?? "")), "connection reset")
  );
}

function origin(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return undefined;
  }
}

function serverJsonrpcError(f: Facts): boolean {
  return f.chain.some((e) => {
    const rpc = jsonrpcError(e);
    return rpc !== undefined && !SDK_MESSAGES.some((m) => rpc[1].toLowerCase().startsWith(m));
  });
}

const STATUS_CODES: Record<number, string> = {
  401: "MCP_AUTH_REQUIRED",
  407: "MCP_PROXY_SSE_ISSUE",
  421: "MCP_DOMAIN_NOT_ALLOWED",
  429: "MCP_RATE_LIMITED",
  502: "MCP_PROXY_SSE_ISSUE",
  504: "MCP_PROXY_SSE_ISSUE",
};

function httpCode(f: Facts, h: HttpObservation, status: number): string | undefined {
  const ctype = (h.contentType ?? "").toLowerCase();
  const html = ctype.includes("text/html");
  if (status === 403) return CHALLENGE.test(h.wwwAuthenticate ?? "") ? "MCP_AUTH_REQUIRED" : "MCP_DOMAIN_NOT_ALLOWED";
  if (status === 404) {
    // A spec-correct server may answer an unknown method with 404 and a JSON-RPC error body.
    if (ctype.startsWith("application/json") && serverJsonrpcError(f)) return undefined;
    return f.established ? "MCP_SESSION_EXPIRED" : "MCP_ENDPOINT_NOT_FOUND";
  }
  if (status === 405 && !f.established && (h.method ?? "POST").toUpperCase() === "POST") return "MCP_ENDPOINT_NOT_FOUND";
  if (STATUS_CODES[status]) return STATUS_CODES[status];
  if (status >= 500) return html && (h.viaProxy || f.proxy) ? "MCP_PROXY_SSE_ISSUE" : "MCP_SERVER_ERROR";
  if (status >= 300 && status < 400 && h.location) {
    const target = origin(new URL(h.location, h.url ?? "http://invalid/").href);
    return target !== origin(h.url ?? "") ? "MCP_PROXY_SSE_ISSUE" : undefined;
  }
  if (status >= 200 && status < 300) {
    // A login page, a proxy's notice or a buffered stream cut short: not what an MCP server sends.
    if (html || h.streamCut) return "MCP_PROXY_SSE_ISSUE";
    if (ctype && !MCP_TYPES.some((t) => ctype.startsWith(t))) return "MCP_PROXY_SSE_ISSUE";
  }
  return undefined;
}

function httpRule(f: Facts): Verdict | undefined {
  const h = f.http;
  if (h?.status === undefined) return undefined;
  const code = httpCode(f, h, h.status);
  if (code === undefined) return undefined;
  const retryable = h.retryAfter && (h.status === 429 || h.status === 503) ? true : undefined;
  return { code, signal: `http ${h.status}`, source: first(f, (e) => statusOf(e) !== undefined), retryable };
}

function authRule(f: Facts): Verdict | undefined {
  return hit("MCP_AUTH_REQUIRED", "auth", first(f, (e) => has(e, AUTH_NAMES)));
}

function timeoutRule(f: Facts): Verdict | undefined {
  return hit("MCP_TIMEOUT", "timeout", first(f, isTimeout));
}

function transportRule(f: Facts): Verdict | undefined {
  const sse = first(f, (e) => errorNames(e).has("SseError"));
  if (sse) {
    const text = errorText(sse);
    if (prop(sse, "code") === 200 || /content type/i.test(text)) return hit("MCP_PROXY_SSE_ISSUE", "sse content type", sse);
    if (/redirect/i.test(text)) return hit("MCP_PROXY_SSE_ISSUE", "sse redirect", sse);
  }
  return (
    hit("MCP_ENDPOINT_NOT_FOUND", "bad url", first(f, (e) => codeOf(e) === "ERR_INVALID_URL" || /unknown scheme|invalid url/i.test(errorText(e)))) ??
    hit("MCP_PROXY_SSE_ISSUE", "redirect loop", first(f, (e) => /redirect count exceeded/i.test(errorText(e)))) ??
    cut(f, first(f, (e) => /^terminated$|other side closed|socket hang up/i.test(errorText(e))), "stream cut") ??
    (sse && prop(sse, "code") === undefined && !/fetch failed/i.test(errorText(sse)) ? cut(f, sse, "sse stream ended") : undefined)
  );
}

function jsonrpcCode(f: Facts, code: number, message: string): string {
  const msg = message.trim().toLowerCase();
  if (code === -32600 || code === 32600) {
    if (msg.startsWith("unexpected content type") || msg.startsWith("redirect")) return "MCP_PROXY_SSE_ISSUE";
    if (msg.startsWith("session terminated")) return f.established ? "MCP_SESSION_EXPIRED" : "MCP_ENDPOINT_NOT_FOUND";
  } else if (code === -32601 && msg === "not found") {
    return f.established ? "MCP_SESSION_EXPIRED" : "MCP_ENDPOINT_NOT_FOUND";
  } else if (code === -32700) {
    return f.touchpoint === "inspection" || f.transport === "stdio" ? "MCP_INSPECTION_FAILED" : "MCP_PROXY_SSE_ISSUE";
  } else if (code === -32000) {
    // The SDK's CONNECTION_CLOSED, and servers' own errors.
    if (msg.startsWith("sse stream") || msg.includes("reconnection attempts")) return "MCP_PROXY_SSE_ISSUE";
    if (msg.startsWith("connection closed")) {
      return f.stderrTail !== undefined || f.transport === "stdio" ? "MCP_PROCESS_EXITED" : "MCP_CONNECTION_REFUSED";
    }
    return f.touchpoint === "tool_call" ? "MCP_TOOL_ERROR" : "MCP_SERVER_ERROR";
  }
  if (f.touchpoint === "tool_call") return "MCP_TOOL_ERROR";
  return code === -32603 ? "MCP_SERVER_ERROR" : "MCP_INSPECTION_FAILED";
}

// v2's local SdkError codes, spelled like the JSON-RPC errors v1 (and Python) use for the same failure.
const SDK_ERROR_CODES: Record<string, [number, string]> = {
  CONNECTION_CLOSED: [-32000, "Connection closed"],
  CLIENT_HTTP_UNEXPECTED_CONTENT: [-32600, "Unexpected content type"],
  INVALID_RESULT: [-32602, "Invalid result"],
  ERA_NEGOTIATION_FAILED: [-32602, "Protocol version negotiation failed"],
  UNSUPPORTED_RESULT_TYPE: [-32602, "Unsupported result type"],
};

function rpcOf(e: Thrown): [number, string] | undefined {
  const rpc = jsonrpcError(e);
  if (rpc) return rpc;
  if (errorNames(e).has("SdkError")) return SDK_ERROR_CODES[codeOf(e) ?? ""];
  // v1's StreamableHTTPError(-1, "Unexpected content type: …").
  if (errorNames(e).has("StreamableHTTPError") && prop(e, "code") === -1) {
    return [-32600, errorText(e).replace(/^Streamable HTTP error:\s*/, "")];
  }
  return undefined;
}

function jsonrpcRule(f: Facts): Verdict | undefined {
  for (const e of f.chain) {
    const rpc = rpcOf(e);
    if (rpc) return { code: jsonrpcCode(f, rpc[0], rpc[1]), signal: `jsonrpc ${rpc[0]}`, source: e };
  }
  return undefined;
}

function isInvalidMessage(e: Thrown): boolean {
  const names = errorNames(e);
  return names.has("ZodError") || names.has("$ZodError") || names.has("SyntaxError") || /protocol version/i.test(errorText(e));
}

function lateRule(f: Facts): Verdict | undefined {
  return (
    hit("MCP_INSPECTION_FAILED", "invalid message", first(f, isInvalidMessage)) ??
    hit("MCP_DNS_FAILURE", "dns (message)", first(f, (e) => DNS_TEXT.test(errorText(e)))) ??
    hit(f.proxy ? "MCP_PROXY_SSE_ISSUE" : "MCP_CONNECTION_REFUSED", "refused (message)", first(f, (e) => REFUSED_TEXT.test(errorText(e)))) ??
    hit("MCP_TLS_ERROR", "tls (message)", first(f, (e) => TLS_TEXT.test(errorText(e)))) ??
    hit("MCP_TIMEOUT", "aborted", first(f, (e) => errorNames(e).has("AbortError")))
  );
}

// Most specific first: the first rule that matches anywhere in the chain decides.
const RULES = [oauthRule, spawnRule, dnsRule, tlsRule, socketRule, httpRule, authRule, timeoutRule, transportRule, jsonrpcRule, lateRule];

function statusOf(e: Thrown): number | undefined {
  const names = errorNames(e);
  let status: unknown;
  if (names.has("SdkHttpError") || names.has("SdkError")) status = prop(e, "status") ?? (prop(e, "data") as Thrown | undefined)?.status;
  else if (names.has("StreamableHTTPError") || names.has("SseError")) status = prop(e, "code");
  else if (typeof prop(e, "status") === "number" && (names.has("HTTPError") || names.has("ResponseError"))) status = prop(e, "status");
  return typeof status === "number" && status >= 100 && status <= 599 && status !== 200 ? status : undefined;
}

/** What an SDK HTTP error says about the exchange, when no hook saw it. */
function observationFrom(e: Thrown, proxy: boolean): HttpObservation | undefined {
  const status = statusOf(e);
  if (status === undefined) return undefined;
  const text = errorText(e);
  // v1 puts the response body in the message: a page that starts like HTML is one.
  const html = /<(?:!doctype|html|body)\b/i.test(text);
  const data = prop(e, "data") as Thrown | undefined;
  const body = typeof data?.text === "string" ? data.text : "";
  return { status, contentType: html || /<(?:!doctype|html|body)\b/i.test(body) ? "text/html" : undefined, viaProxy: proxy };
}

function detailOf(f: Facts, v: Verdict, http: HttpObservation | undefined): string {
  const context = [["touchpoint", f.touchpoint], ["transport", f.transport]].filter(([, x]) => x).map(([k, x]) => `${k}=${x}`);
  if (f.established) context.push("session");
  if (f.proxy) context.push("proxy");
  const lines = [`${v.code} by ${v.signal}` + (context.length ? ` (${context.join(", ")})` : "")];
  for (const e of f.chain.slice(0, MAX_DESCRIBED)) lines.push(`  ${describeError(e)}`);
  if (f.chain.length > MAX_DESCRIBED) lines.push(`  … ${f.chain.length - MAX_DESCRIBED} more`);
  if (http) {
    const headers = [
      ["content-type", http.contentType], ["www-authenticate", http.wwwAuthenticate],
      ["proxy-authenticate", http.proxyAuthenticate], ["location", http.location], ["retry-after", http.retryAfter],
    ].filter(([, x]) => x);
    lines.push(
      `http: ${http.method ?? "?"} ${http.url ?? "?"} -> ${http.status ?? "no response"}` +
        headers.map(([k, x]) => `; ${k}: ${x}`).join("") +
        (http.streamCut ? "; stream ended before any event" : "") +
        (http.viaProxy ? "; via proxy" : ""),
    );
    if (http.bodySnippet) lines.push(`body: ${clip(http.bodySnippet, MAX_BODY).split(/\s+/).join(" ")}`);
  }
  if (f.stderrTail) lines.push("stderr (tail):", f.stderrTail.slice(-MAX_STDERR).trim());
  return lines.join("\n");
}

function attrsOf(f: Facts, v: Verdict): Record<string, string | number | boolean> {
  const withCode = first(f, (e) => typeof prop(e, "code") === "string");
  const rpc = f.chain.map(jsonrpcError).find((r) => r !== undefined);
  const attrs: Record<string, string | number | boolean | undefined> = {
    signal: v.signal,
    exception: f.chain.length ? errorName(f.chain[0]) : undefined,
    signal_exception: v.source ? errorName(v.source) : undefined,
    error_code: withCode ? codeOf(withCode) : undefined,
    jsonrpc_code: rpc?.[0],
    content_type: f.http?.contentType,
    retry_after: f.http?.retryAfter,
  };
  return Object.fromEntries(Object.entries(attrs).filter(([, x]) => x !== undefined)) as Record<string, string | number | boolean>;
}

function messageSafe(code: string, server?: string): string {
  const message = codeInfo(code).message.replaceAll("{server}", server || "the server");
  return clip(server ? message : message[0].toUpperCase() + message.slice(1), LIMITS.maxMessageSafe);
}

/** A `Classification` for a code chosen without an error (e.g. an allow-list refusal). */
export function classificationFor(
  code: string,
  options: { server?: string; detail?: string; httpStatus?: number; attrs?: Record<string, string | number | boolean>; retryable?: boolean } = {},
): Classification {
  const info = codeInfo(code);
  return {
    code,
    severity: info.severity,
    retryable: options.retryable ?? info.retryable,
    messageSafe: messageSafe(code, options.server),
    detail: clip(options.detail ?? "", LIMITS.maxDetail),
    action: info.action,
    httpStatus: options.httpStatus,
    attrs: { ...(options.attrs ?? {}) },
  };
}

/** Classify an MCP failure (anything thrown) into a catalog code; never throws. */
export function classify(err: unknown, options: ClassifyOptions = {}): Classification {
  const redactor = options.redactor ?? DEFAULT_REDACTOR;
  try {
    const chain = errorChain(err);
    for (const e of chain) {
      const passed = prop(e, "classification") as Classification | undefined;
      if (passed && typeof passed.code === "string" && typeof passed.messageSafe === "string") return passed;
    }
    const proxy = options.proxyInUse ?? false;
    let observed = options.http?.status !== undefined ? options.http : undefined;
    for (const e of observed ? [] : chain) {
      observed = observationFrom(e, proxy);
      if (observed) break;
    }
    const facts: Facts = {
      chain,
      touchpoint: options.touchpoint,
      transport: options.transport,
      established: options.sessionEstablished ?? false,
      proxy,
      stderrTail: options.stderrTail,
      http: observed ?? (options.http?.streamCut ? options.http : undefined),
    };
    let verdict: Verdict | undefined;
    for (const r of RULES) if ((verdict = r(facts))) break;
    verdict ??= { code: "MCP_INTERNAL_ERROR", signal: "unclassified" };
    const attrs = attrsOf(facts, verdict);
    for (const [k, x] of Object.entries(attrs)) if (typeof x === "string") attrs[k] = redactor.text(x);
    return classificationFor(verdict.code, {
      server: options.server,
      detail: redactor.text(detailOf(facts, verdict, options.http ?? observed)),
      httpStatus: observed?.status,
      attrs,
      retryable: verdict.retryable,
    });
  } catch (failure) {
    // An SDK never breaks its host: report the classifier's own failure.
    return classificationFor("MCP_INTERNAL_ERROR", {
      server: options.server,
      detail: `classifier failed (${errorName(failure)}) on ${errorName(err)}`,
      attrs: { signal: "error" },
    });
  }
}
