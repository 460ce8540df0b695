// <mcp-doctor api-base="…" token="…">: the "Test connection" panel. It posts a server configuration to
// POST /api/mcp/doctor and shows the ladder (dns → tcp → tls → http → mcp → oauth → tools) filling in step by
// step, the failing step opened with its summary and action, and the Debug ID to copy. A host app can put it
// in its create-server dialog. Headers are sent once and never kept (not in storage, not in the DOM after).

import { ApiClient, ApiError, session } from "./api.js";
import { ACTION_LABELS, copyText, esc } from "./format.js";
import { openGuide } from "./guide.js";

const STEPS = [
  ["dns", "Name lookup"], ["tcp", "Connection"], ["tls", "Secure connection"], ["http", "HTTP endpoint"],
  ["mcp", "MCP handshake"], ["oauth", "Sign-in"], ["tools", "Tools"],
];
const MARKS = { ok: "✓", fail: "✗", warn: "!", skipped: "–", pending: "…" };
const REVEAL_MS = 90;

const STYLE = `
:host { display: block; font: 15px/1.5 var(--font, system-ui, sans-serif); color: var(--text, #1b1f24); }
[hidden] { display: none !important; }
form { display: grid; gap: 10px; }
.row { display: grid; gap: 10px; grid-template-columns: minmax(0, 1fr) auto; }
label { display: grid; gap: 4px; font-size: 13px; color: var(--muted, #5b6472); font-weight: 600; }
input, select, textarea, button { font: inherit; color: var(--text, #1b1f24); background: var(--surface, #fff);
  border: 1px solid var(--border, #dde1e7); border-radius: 8px; padding: 7px 10px; min-width: 0; }
textarea { font-family: var(--mono, monospace); font-size: 13px; min-height: 56px; resize: vertical; }
button { cursor: pointer; }
button.primary { background: var(--accent, #2563eb); color: var(--accent-text, #fff); border-color: var(--accent, #2563eb); font-weight: 600; }
button:disabled { opacity: .6; cursor: progress; }
:focus-visible { outline: 2px solid var(--focus, #2563eb); outline-offset: 2px; }
small { color: var(--muted, #5b6472); font-weight: 400; }
ol { list-style: none; margin: 14px 0 0; padding: 0; border: 1px solid var(--border, #dde1e7); border-radius: 10px; }
li { border-top: 1px solid var(--border, #dde1e7); padding: 8px 12px; }
li:first-child { border-top: 0; }
.line { display: flex; align-items: baseline; gap: 10px; }
.mark { width: 1.4em; text-align: center; font-weight: 700; }
.name { font-weight: 600; min-width: 9em; }
.ms { margin-left: auto; color: var(--muted, #5b6472); font-size: 13px; font-variant-numeric: tabular-nums; }
.summary { margin: 2px 0 0 2.4em; color: var(--muted, #5b6472); font-size: 14px; }
li.ok .mark { color: var(--ok, #15803d); } li.warn .mark { color: var(--warn, #a16207); }
li.fail { background: var(--err-bg, #fee2e2); } li.fail .mark, li.fail .name { color: var(--err, #b91c1c); }
li.fail .summary { color: var(--text, #1b1f24); }
li.skipped, li.pending { color: var(--muted, #5b6472); }
li.running .mark { animation: pulse 1s infinite; }
@keyframes pulse { 50% { opacity: .3; } }
details { margin: 6px 0 0 2.4em; font-size: 13px; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--surface-2, #f0f2f5); padding: 8px 10px; border-radius: 8px; font-family: var(--mono, monospace); font-size: 12px; }
.verdict { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.verdict code { background: var(--surface-2, #f0f2f5); padding: 1px 6px; border-radius: 6px; font-family: var(--mono, monospace); font-size: 12.5px; word-break: break-all; }
.error { color: var(--err, #b91c1c); margin: 10px 0 0; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (prefers-reduced-motion: reduce) { * { animation: none !important; } }
`;

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
    this.shadowRoot.innerHTML = `<style>${STYLE}</style>
      <form novalidate aria-label="Test connection">
        <div class="row">
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
      <span class="sr" aria-live="polite"></span>`;
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
      const result = await this.client.request("/api/mcp/doctor", { method: "POST", body: { url, transport: this.form.transport.value, headers } });
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
    this.ladder.innerHTML = steps.map((step, index) => {
      const visible = index < shown;
      const status = visible ? step.status : index === shown ? "running" : "pending";
      const label = STEPS.find(([name]) => name === step.name)?.[1] || step.name;
      const ms = visible && step.durationMs != null ? `${Math.round(step.durationMs)} ms` : "";
      const open = status === "fail" ? " open" : "";
      return `<li class="${status === "running" ? "pending running" : esc(status)}" data-step="${esc(step.name)}" data-status="${esc(visible ? step.status : "pending")}">
        <div class="line"><span class="mark" aria-hidden="true">${MARKS[visible ? step.status : "pending"]}</span>
          <span class="name">${esc(label)} <small>${esc(step.name)}</small></span><span class="ms">${ms}</span></div>
        ${visible && step.summary ? `<p class="summary">${esc(step.summary)}</p>` : ""}
        ${visible && step.detail ? `<details${open}><summary>Technical detail</summary><pre>${esc(step.detail)}</pre></details>` : ""}</li>`;
    }).join("");
  }

  renderVerdict(result) {
    const action = result.action && result.action !== "none" ? ACTION_LABELS[result.action] : "";
    this.verdict.hidden = false;
    this.verdict.dataset.ok = String(result.ok);
    this.verdict.innerHTML = `${result.ok
        ? `<strong class="ok">Connection works.</strong>`
        : `<strong>Failed at ${esc(result.failedStep)}</strong> <code class="code">${esc(result.code)}</code>`}
      ${action ? `<button type="button" data-action="${esc(result.action)}">${esc(action)}</button>` : ""}
      ${result.code && result.action !== "docs" ? `<button type="button" data-guide="${esc(result.code)}">Guide</button>` : ""}
      <span>Debug ID <code class="debug-id">${esc(result.debugId)}</code></span>
      <button type="button" class="copy" data-copy="${esc(result.debugId)}" aria-label="Copy Debug ID">Copy Debug ID</button>`;
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
    const code = this.verdict.querySelector(".code")?.textContent || null;
    const guide = event.target.closest("button[data-guide]");
    if (guide) {
      openGuide(guide.dataset.guide, { base: this.getAttribute("api-base") || "", opener: guide });
      return;
    }
    const action = event.target.closest("button[data-action]");
    if (action) {
      // The host handles it (open its edit dialog, its sign-in, its docs), as for the server cards.
      const handled = !this.dispatchEvent(new CustomEvent("mcpdiag:action", { bubbles: true, composed: true, cancelable: true,
        detail: { server: null, action: action.dataset.action, debugId: this.verdict.querySelector(".debug-id")?.textContent || null } }));
      if (!handled && action.dataset.action === "docs" && code) {
        openGuide(code, { base: this.getAttribute("api-base") || "", opener: action });
      }
    }
  }
}

if (!customElements.get("mcp-doctor")) customElements.define("mcp-doctor", McpDoctor);
