// <mcp-doctor api-base="…" token="…" [server="…"]>: the "Test connection" panel. It posts a server
// configuration to POST /api/mcp/doctor and shows the ladder (dns → tcp → tls → http → mcp → oauth → tools)
// filling in step by step, the failing step opened with its summary and action, and the Debug ID to copy. A
// host app can put it in its create-server dialog; with `server` (an existing server's name) the run is
// stored as that server's inspection, without it the run adds no server card. Headers are sent once and
// never kept (not in storage, not in the DOM after).

import { ApiClient, ApiError, session } from "./api.js";
import { adoptElementStyles } from "./element-styles.js";
import { ACTION_LABELS, copyText } from "./format.js";
import { openGuide } from "./guide.js";
import { html, nothing, render } from "./templates.js";

const STEPS = [
  ["dns", "Name lookup"], ["tcp", "Connection"], ["tls", "Secure connection"], ["http", "HTTP endpoint"],
  ["mcp", "MCP handshake"], ["oauth", "Sign-in"], ["tools", "Tools"],
];
const MARKS = { ok: "✓", fail: "✗", warn: "!", skipped: "–", pending: "…" };
const REVEAL_MS = 90;

/** Parse "Name: value" lines into an object; throws on a line without a colon. */
export function parseHeaders(text) {
  const headers = {};
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf(":");
    if (at < 1) throw new Error(`Header line ${index + 1} must look like "Name: value".`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

export class McpDoctor extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    adoptElementStyles(this.shadowRoot);
    render(html`
      <form novalidate aria-label="Test connection">
        <div class="fields">
          <label>Server URL <input name="url" type="url" required placeholder="https://mcp.example.com/mcp" autocomplete="off"></label>
          <label>Transport <select name="transport">
            <option value="streamable-http">Streamable HTTP</option><option value="sse">SSE (legacy)</option></select></label>
        </div>
        <label>Headers <small>(optional, one "Name: value" per line; sent for this test only, never stored)</small>
          <textarea name="headers" spellcheck="false" autocomplete="off" placeholder="Authorization: Bearer …"></textarea></label>
        <div><button class="primary" type="submit">Test connection</button></div>
      </form>
      <p class="error" role="alert" hidden></p>
      <ol class="ladder" aria-label="Connection test steps" hidden></ol>
      <div class="verdict" hidden></div>
      <span class="sr" aria-live="polite"></span>`, this.shadowRoot);
    const root = this.shadowRoot;
    this.form = root.querySelector("form");
    this.ladder = root.querySelector(".ladder");
    this.verdict = root.querySelector(".verdict");
    this.errorBox = root.querySelector(".error");
    this.live = root.querySelector(".sr");
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.run(); });
    this.verdict.addEventListener("click", (event) => this.onVerdictClick(event));
  }

  get client() {
    return new ApiClient({ base: this.getAttribute("api-base") || "", token: this.getAttribute("token") || session.token });
  }

  /** Prefill the form (a host's dialog calls this with the configuration being created). */
  configure({ url = "", transport = "streamable-http" } = {}) {
    this.form.url.value = url;
    this.form.transport.value = transport;
  }

  showError(text) {
    this.errorBox.textContent = text;
    this.errorBox.hidden = !text;
  }

  async run() {
    // A new test: the last one's ladder and verdict were about another input, whatever happens next.
    this.ladder.hidden = true;
    this.verdict.hidden = true;
    const url = this.form.url.value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) return this.showError("Enter the server URL, starting with https:// or http://.");
    let headers;
    try { headers = parseHeaders(this.form.headers.value); } catch (error) { return this.showError(error.message); }
    this.showError("");
    const button = this.form.querySelector("button");
    button.disabled = true;
    button.textContent = "Testing…";
    this.verdict.hidden = true;
    this.paint(STEPS.map(([name]) => ({ name, status: "pending", summary: "" })), 0);
    this.live.textContent = "Testing the connection…";
    try {
      const body = { url, transport: this.form.transport.value, headers };
      if (this.getAttribute("server")) body.server = this.getAttribute("server");
      const result = await this.client.request("/api/mcp/doctor", { method: "POST", body });
      await this.reveal(result);
      this.dispatchEvent(new CustomEvent("mcpdiag:doctor-result", { bubbles: true, composed: true, detail: result }));
    } catch (error) {
      this.ladder.hidden = true;
      this.showError(error instanceof ApiError ? error.message : "The connection test could not run.");
    } finally {
      button.disabled = false;
      button.textContent = "Test connection";
    }
  }

  /** Fill the ladder in one step at a time, so the eye follows the layers down to the first failure. */
  async reveal(result) {
    const reduced = matchMedia("(prefers-reduced-motion: reduce)").matches;
    for (let shown = 1; shown <= result.steps.length; shown += 1) {
      this.paint(result.steps, shown);
      if (!reduced && shown < result.steps.length) await new Promise((r) => setTimeout(r, REVEAL_MS));
    }
    this.ladder.dataset.done = "true";
    this.renderVerdict(result);
  }

  paint(steps, shown) {
    this.ladder.hidden = false;
    delete this.ladder.dataset.done;
    render(steps.map((step, index) => {
      const visible = index < shown;
      const status = visible ? step.status : index === shown ? "running" : "pending";
      const label = STEPS.find(([name]) => name === step.name)?.[1] || step.name;
      const ms = visible && step.durationMs != null ? `${Math.round(step.durationMs)} ms` : "";
      return html`<li class=${status === "running" ? "pending running" : status} data-step=${step.name} data-status=${visible ? step.status : "pending"}>
        <div class="line"><span class="mark" aria-hidden="true">${MARKS[visible ? step.status : "pending"]}</span>
          <span class="name">${label} <small>${step.name}</small></span><span class="ms">${ms}</span></div>
        ${visible && step.summary ? html`<p class="summary">${step.summary}</p>` : nothing}
        ${visible && step.detail ? html`<details ?open=${status === "fail"}><summary>Technical detail</summary><pre>${step.detail}</pre></details>` : nothing}</li>`;
    }), this.ladder);
  }

  renderVerdict(result) {
    const action = result.action && result.action !== "none" ? ACTION_LABELS[result.action] : "";
    this.verdict.hidden = false;
    this.verdict.dataset.ok = String(result.ok);
    render(html`${result.ok
        ? html`<strong class="ok">Connection works.</strong>`
        : html`<strong>Failed at ${result.failedStep}</strong> <code class="code">${result.code}</code>`}
      ${action ? html`<button type="button" data-action=${result.action}>${action}</button>` : nothing}
      ${result.code && result.action !== "docs" ? html`<button type="button" data-guide=${result.code}>Guide</button>` : nothing}
      <span>Debug ID <code class="debug-id">${result.debugId}</code></span>
      <button type="button" class="copy" data-copy=${result.debugId} aria-label="Copy Debug ID">Copy Debug ID</button>`, this.verdict);
    this.live.textContent = result.ok ? "Connection works." : `Failed at ${result.failedStep}.`;
  }

  async onVerdictClick(event) {
    const copy = event.target.closest("button.copy");
    if (copy) {
      const ok = await copyText(copy.dataset.copy);
      copy.textContent = ok ? "Copied" : "Copy failed";
      setTimeout(() => { copy.textContent = "Copy Debug ID"; }, 2000);
      return;
    }
    const base = this.getAttribute("api-base") || "";
    const code = this.verdict.querySelector(".code")?.textContent || null;
    const guide = event.target.closest("button[data-guide]");
    if (guide) {
      openGuide(guide.dataset.guide, { base, opener: guide });
      return;
    }
    const action = event.target.closest("button[data-action]");
    if (action) {
      // The host handles it (open its edit dialog, its sign-in, its docs), as for the server cards.
      const handled = !this.dispatchEvent(new CustomEvent("mcpdiag:action", { bubbles: true, composed: true, cancelable: true,
        detail: { server: null, action: action.dataset.action, debugId: this.verdict.querySelector(".debug-id")?.textContent || null } }));
      if (!handled && action.dataset.action === "docs" && code) openGuide(code, { base, opener: action });
    }
  }
}

if (!customElements.get("mcp-doctor")) customElements.define("mcp-doctor", McpDoctor);
