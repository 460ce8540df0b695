// OAuth observation: the host's OAuthClientProvider (either SDK line), wrapped without changing what it does.

/** The user did not finish signing in (no authorization code came back) in time. */
export class OAuthTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`sign-in not completed within ${timeoutMs / 1000} s`);
    this.name = "OAuthTimeoutError";
  }
}

export type OAuthReport = (code: "MCP_OAUTH_STARTED" | "MCP_OAUTH_COMPLETED", fields: { detail?: string; durationMs?: number }) => void;

type Provider = Record<string | symbol, unknown>;

function endpointOf(url: unknown): string {
  try {
    const u = new URL(String(url));
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "?";
  }
}

/** Wraps the host's OAuth provider: the redirect reports MCP_OAUTH_STARTED, saved tokens report
 * MCP_OAUTH_COMPLETED (with how long the user took), and every client secret, code verifier and token is
 * handed to `registerSecret` as soon as it exists. `provider` is what the SDK's transport gets. */
export class ObservedOAuthProvider {
  readonly provider: unknown;
  /** When the current sign-in started (the redirect), if one is under way. */
  startedAt: number | undefined;
  /** The authorization URL of the last redirect. */
  authorizationUrl: URL | undefined;
  redirected = false;

  constructor(
    readonly inner: unknown,
    private readonly report: OAuthReport,
    private readonly registerSecret: (value: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    const target = inner as Provider;
    const hooks: Record<string, (...args: unknown[]) => unknown> = {
      redirectToAuthorization: (url) => {
        this.guard(() => {
          this.startedAt = this.now();
          this.redirected = true;
          this.authorizationUrl = url instanceof URL ? url : new URL(String(url));
          this.report("MCP_OAUTH_STARTED", { detail: `authorization endpoint ${endpointOf(url)}` });
        });
        return (target.redirectToAuthorization as (u: unknown) => unknown).call(target, url);
      },
      saveTokens: (tokens) => {
        this.guard(() => {
          this.noticeTokens(tokens);
          if (this.startedAt !== undefined && (tokens as Provider)?.access_token) {
            const took = this.now() - this.startedAt;
            this.startedAt = undefined;
            this.report("MCP_OAUTH_COMPLETED", { durationMs: Math.round(took * 10) / 10 });
          }
        });
        return (target.saveTokens as (t: unknown) => unknown).call(target, tokens);
      },
      saveClientInformation: (info) => {
        this.guard(() => this.noticeSecret((info as Provider)?.client_secret));
        return (target.saveClientInformation as (i: unknown) => unknown).call(target, info);
      },
      saveCodeVerifier: (verifier) => {
        this.guard(() => this.noticeSecret(verifier));
        return (target.saveCodeVerifier as (v: unknown) => unknown).call(target, verifier);
      },
    };
    this.provider = new Proxy(target, {
      get: (obj, key, receiver) => {
        const value = Reflect.get(obj, key, receiver === this.provider ? obj : receiver);
        if (typeof key === "string" && Object.hasOwn(hooks, key) && typeof value === "function") return hooks[key];
        if (typeof value !== "function") return value;
        // Bound to the host's object, so its private fields and `this` keep working.
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
          if (key === "tokens" || key === "clientInformation") {
            void Promise.resolve(result).then(
              (found) => this.guard(() => (key === "tokens" ? this.noticeTokens(found) : this.noticeSecret((found as Provider)?.client_secret))),
              () => {},
            );
          }
          return result;
        };
      },
    });
  }

  /** Register a value the host handed over (an authorization code) as a secret. */
  noticeSecret(value: unknown): void {
    if (typeof value === "string" && value) this.registerSecret(value);
  }

  private noticeTokens(tokens: unknown): void {
    for (const key of ["access_token", "refresh_token", "id_token"]) this.noticeSecret((tokens as Provider)?.[key]);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch {
      // reporting must never break the host's sign-in
    }
  }
}
