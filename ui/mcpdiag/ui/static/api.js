// The HTTP client every page and the drawer use: bearer token, JSON errors, no framework.

/** Where this UI's API lives: "" for the UI at /ui/, "/bundles/<id>" for the read-only view of a bundle an
 * admin opened (its UI at /bundles/<id>/ui/, its API beside it). Each keeps its own token. */
export const API_BASE = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const TOKEN_KEY = API_BASE ? `mcpdiag.token:${API_BASE}` : "mcpdiag.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Read a `#token=` fragment once into sessionStorage and drop it from the address bar. */
export function adoptFragmentToken() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  const rest = location.hash.replace(/(?:^#|&)token=[^&]+/, "").replace(/^&/, "");
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest.replace(/^#?/, "")}` : "#/servers"));
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiClient {
  constructor({ base = "", token = null } = {}) {
    this.base = base.replace(/\/$/, "");
    this.token = token;
  }

  url(path, params) {
    const url = new URL(this.base + path, location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value === undefined || value === null || value === "") continue;
      for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, item);
    }
    return url;
  }

  async request(path, { params, method = "GET", body, raw = false } = {}) {
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(this.url(path, params), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network_error", "The diagnostics service could not be reached. Check your connection and try again.");
    }
    if (!response.ok) {
      let code = `http_${response.status}`;
      let message = `The request failed (HTTP ${response.status}).`;
      try {
        const payload = await response.json();
        if (payload && payload.error) ({ code, message } = payload.error);
      } catch { /* not JSON: keep the generic message */ }
      if (response.status === 401 && this.token) {
        // The token stopped working (expired, or the service restarted with a new key): whoever shows the
        // session (the app's shell) signs the user out, instead of every page polling on with 401s.
        dispatchEvent(new CustomEvent("mcpdiag:unauthorized", { detail: { base: this.base, token: this.token, message } }));
      }
      throw new ApiError(response.status, code, message);
    }
    return raw ? response : response.json();
  }

  get(path, params) { return this.request(path, { params }); }

  /** Every server card the caller can see: the status listing, following its pages. */
  async allStatuses() {
    const statuses = {};
    let cursor = null;
    do {
      const page = await this.get("/api/mcp/connection/status", cursor ? { cursor } : undefined);
      Object.assign(statuses, page.connectionStatus);
      cursor = page.nextCursor || null;
    } while (cursor);
    return statuses;
  }
}
