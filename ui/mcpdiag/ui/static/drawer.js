// <mcp-diagnostics-drawer server="…" api-base="…" token="…">: the Diagnostics slide-over, embeddable in any
// host page. It reads /api/mcp/{server}/diagnostics with the caller's token; the API decides what is visible.

import { ApiClient, ApiError, session } from "./api.js";
import { SEVERITY_LABELS, absoluteTime, copyText, esc, timeAgo } from "./format.js";
import { openGuide } from "./guide.js";

const RANGES = { "1h": 36e5, "24h": 864e5, "7d": 6048e5 };
const REFRESH_MS = 15000;

const STYLE = `
[hidden] { display: none !important; }
:host { position: fixed; inset: 0; z-index: 50; pointer-events: none; font: 15px/1.5 var(--font, system-ui, sans-serif); color: var(--text, #1b1f24); }
:host([open]) { pointer-events: auto; }
.scrim { position: absolute; inset: 0; background: rgb(0 0 0 / 35%); opacity: 0; transition: opacity .2s; }
:host([open]) .scrim { opacity: 1; }
.panel { position: absolute; top: 0; right: 0; height: 100%; width: min(560px, 100vw); background: var(--surface, #fff);
  border-left: 1px solid var(--border, #dde1e7); box-shadow: var(--shadow, 0 8px 24px rgb(0 0 0 / 20%));
  transform: translateX(100%); transition: transform .22s ease; display: flex; flex-direction: column; }
:host([open]) .panel { transform: none; }
header { display: flex; align-items: flex-start; gap: 10px; padding: 16px 18px 10px; border-bottom: 1px solid var(--border, #dde1e7); }
header h2 { margin: 0; font-size: 18px; overflow-wrap: anywhere; }
header p { margin: 2px 0 0; color: var(--muted, #5b6472); font-size: 13px; }
.close { margin-left: auto; }
button, select { font: inherit; color: var(--text, #1b1f24); background: var(--surface, #fff); border: 1px solid var(--border, #dde1e7); border-radius: 8px; padding: 5px 10px; cursor: pointer; }
button:hover { background: var(--surface-2, #f0f2f5); }
:focus-visible { outline: 2px solid var(--focus, #2563eb); outline-offset: 2px; }
.filters { display: flex; flex-wrap: wrap; gap: 8px; padding: 10px 18px; border-bottom: 1px solid var(--border, #dde1e7); }
.filters label { display: grid; font-size: 12px; color: var(--muted, #5b6472); gap: 2px; font-weight: 600; }
.body { overflow-y: auto; flex: 1; padding: 6px 18px 24px; }
ol { list-style: none; margin: 0; padding: 0; }
li.row { border-bottom: 1px solid var(--border, #dde1e7); padding: 12px 0 12px 12px; position: relative; }
li.row::before { content: ""; position: absolute; left: 0; top: 14px; bottom: 14px; width: 4px; border-radius: 4px; background: var(--muted, #5b6472); }
li.sev-critical::before { background: var(--crit, #7e1d6a); }
li.sev-error::before { background: var(--err, #b91c1c); }
li.sev-warning::before { background: var(--warn, #a16207); }
li.sev-info::before { background: var(--info, #1d4ed8); }
.line { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.sev { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: .03em; }
.sev-critical .sev { color: var(--crit, #7e1d6a); } .sev-error .sev { color: var(--err, #b91c1c); }
.sev-warning .sev { color: var(--warn, #a16207); } .sev-info .sev { color: var(--info, #1d4ed8); }
code { font-family: var(--mono, ui-monospace, monospace); font-size: 12.5px; }
time { margin-left: auto; color: var(--muted, #5b6472); font-size: 13px; }
.msg { margin: 4px 0; }
.meta { color: var(--muted, #5b6472); font-size: 13px; }
.debug { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 6px; font-size: 13px; color: var(--muted, #5b6472); }
.debug code { color: var(--text, #1b1f24); background: var(--surface-2, #f0f2f5); padding: 1px 6px; border-radius: 6px; word-break: break-all; }
.copy, .guide { font-size: 12px; padding: 2px 8px; }
.copy.done { color: var(--ok, #15803d); border-color: var(--ok, #15803d); }
details { margin-top: 6px; font-size: 13px; }
summary { cursor: pointer; color: var(--accent, #2563eb); }
pre { white-space: pre-wrap; word-break: break-word; background: var(--surface-2, #f0f2f5); padding: 8px 10px; border-radius: 8px; margin: 6px 0 0; font-family: var(--mono, monospace); font-size: 12px; }
.state { color: var(--muted, #5b6472); padding: 28px 4px; text-align: center; }
.state.error { color: var(--err, #b91c1c); }
.more { display: block; margin: 14px auto 0; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;

export class DiagnosticsDrawer extends HTMLElement {
  static get observedAttributes() { return ["server", "token", "api-base"]; }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.items = [];
    this.cursor = null;
    this.loading = false;
    this.generation = 0;
    this.loaded = 0;
    this.filters = { severity: "", range: "24h", code: "" };
    this.timer = null;
    this.opener = null;
    this.shadowRoot.innerHTML = `<style>${STYLE}</style>
      <div class="scrim" part="scrim"></div>
      <section class="panel" role="dialog" aria-modal="true" aria-labelledby="title" hidden>
        <header>
          <div><h2 id="title">Diagnostics</h2><p id="subtitle">What went wrong, newest first</p></div>
          <button type="button" class="close" aria-label="Close diagnostics">Close</button>
        </header>
        <form class="filters" aria-label="Filters">
          <label>Severity <select name="severity" aria-label="Minimum severity">
            <option value="">All</option><option value="warning">Warnings and up</option><option value="error">Errors</option>
          </select></label>
          <label>Time range <select name="range" aria-label="Time range">
            <option value="1h">Last hour</option><option value="24h" selected>Last 24 hours</option><option value="7d">Last 7 days</option>
          </select></label>
          <label>Code <select name="code" aria-label="Code"><option value="">All codes</option></select></label>
        </form>
        <div class="body" tabindex="-1">
          <ol class="timeline" aria-label="Diagnostic events"></ol>
          <div class="state" role="status" aria-live="polite"></div>
          <button type="button" class="more" hidden>Load more</button>
        </div>
      </section>`;
    const root = this.shadowRoot;
    this.panel = root.querySelector(".panel");
    this.list = root.querySelector("ol");
    this.state = root.querySelector(".state");
    this.moreButton = root.querySelector(".more");
    root.querySelector(".scrim").addEventListener("click", () => this.close());
    root.querySelector(".close").addEventListener("click", () => this.close());
    this.moreButton.addEventListener("click", () => this.load({ more: true }));
    root.querySelector("form").addEventListener("change", (event) => {
      this.filters[event.target.name] = event.target.value;
      this.load();
    });
    this.list.addEventListener("click", (event) => this.onListClick(event));
    this.addEventListener("keydown", (event) => this.onKey(event));
  }

  get server() { return this.getAttribute("server"); }
  get client() {
    return new ApiClient({ base: this.getAttribute("api-base") || "", token: this.getAttribute("token") || session.token });
  }

  connectedCallback() {
    if (this.hasAttribute("open") && this.server) this.show();
  }

  disconnectedCallback() { this.stopRefresh(); }

  /** Open the drawer on `server`, remembering what had focus so it can be restored. */
  open(server, opener = document.activeElement) {
    if (server) this.setAttribute("server", server);
    this.opener = opener;
    this.setAttribute("open", "");
    this.show();
  }

  show() {
    this.panel.hidden = false;
    this.shadowRoot.getElementById("title").textContent = `Diagnostics · ${this.server}`;
    this.load();
    this.startRefresh();
    requestAnimationFrame(() => this.shadowRoot.querySelector(".close").focus());
  }

  close() {
    if (!this.hasAttribute("open")) return;
    this.removeAttribute("open");
    this.stopRefresh();
    setTimeout(() => { if (!this.hasAttribute("open")) this.panel.hidden = true; }, 250);
    this.dispatchEvent(new CustomEvent("mcpdiag:drawer-closed", { bubbles: true, composed: true }));
    if (this.opener && typeof this.opener.focus === "function") this.opener.focus();
  }

  startRefresh() {
    this.stopRefresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  stopRefresh() {
    clearInterval(this.timer);
    this.timer = null;
  }

  windowStart() {
    return new Date(Date.now() - RANGES[this.filters.range]).toISOString();
  }

  /** Query parameters; a cursor only continues the query it came from, so pages share `since`. */
  params(cursor, since) {
    return {
      severity: this.filters.severity || undefined,
      code: this.filters.code || undefined,
      from: since,
      limit: 50,
      cursor: cursor || undefined,
    };
  }

  async load({ more = false } = {}) {
    if (!this.server || (more && (this.loading || !this.cursor))) return;
    // Every new listing (open, filter change) supersedes the one in flight: its answer is dropped.
    const generation = more ? this.generation : ++this.generation;
    this.loading = true;
    if (!more) {
      this.since = this.windowStart();
      this.items = [];
      this.cursor = null;
      this.list.replaceChildren();
      this.setState("Loading diagnostics…");
    } else {
      this.moreButton.disabled = true;
      this.moreButton.textContent = "Loading…";
    }
    try {
      const page = await this.client.get(`/api/mcp/${encodeURIComponent(this.server)}/diagnostics`, this.params(more ? this.cursor : null, this.since));
      if (generation !== this.generation) return;
      this.items.push(...page.items);
      this.cursor = page.nextCursor;
      this.render(page.items);
      this.setState(this.items.length ? "" : "No diagnostics in this time range. Everything looks fine.");
    } catch (error) {
      if (generation !== this.generation) return;
      this.setState(error instanceof ApiError ? error.message : "Could not load diagnostics.", true);
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.loaded += 1;
        this.moreButton.disabled = false;
        this.moreButton.textContent = "Load more";
        this.moreButton.hidden = !this.cursor;
      }
    }
  }

  /** Put events that arrived since the first page on top, without disturbing what is loaded. */
  async refresh() {
    if (this.loading || !this.server) return;
    const generation = this.generation;
    try {
      const page = await this.client.get(`/api/mcp/${encodeURIComponent(this.server)}/diagnostics`, this.params(null, this.windowStart()));
      // A filter changed while this was in flight: these rows belong to the old listing.
      if (generation !== this.generation || this.loading) return;
      const known = new Set(this.items.map((item) => item.id));
      const fresh = page.items.filter((item) => !known.has(item.id));
      if (!fresh.length) return;
      this.items.unshift(...fresh);
      this.list.prepend(...fresh.map((item) => this.row(item)));
      this.setState("");
    } catch { /* keep what is shown; the next refresh tries again */ }
  }

  setState(text, isError = false) {
    this.state.textContent = text;
    this.state.classList.toggle("error", isError);
    this.state.hidden = !text;
  }

  render(items) {
    this.list.append(...items.map((item) => this.row(item)));
    const select = this.shadowRoot.querySelector('select[name="code"]');
    const codes = new Set([...select.options].map((o) => o.value));
    for (const item of items) {
      if (!codes.has(item.code)) {
        codes.add(item.code);
        select.append(new Option(item.code, item.code));
      }
    }
  }

  row(item) {
    const li = document.createElement("li");
    li.className = `row sev-${item.severity}`;
    li.dataset.id = item.id;
    const where = [item.touchpoint?.replace("_", " "), item.tool ? `tool ${item.tool}` : "", item.httpStatus ? `HTTP ${item.httpStatus}` : ""]
      .filter(Boolean).map(esc).join(" · ");
    li.innerHTML = `
      <div class="line">
        <span class="sev">${esc(SEVERITY_LABELS[item.severity] || item.severity)}</span>
        <code class="code">${esc(item.code)}</code>
        <button type="button" class="guide" data-guide="${esc(item.code)}" aria-label="Guide for ${esc(item.code)}">Guide</button>
        <time datetime="${esc(item.ts)}" title="${esc(absoluteTime(item.ts))}">${esc(timeAgo(item.ts))}</time>
      </div>
      <p class="msg">${esc(item.messageSafe)}</p>
      <div class="meta">${where}</div>
      <div class="debug"><span>Debug ID</span><code class="debug-id">${esc(item.traceId)}</code>
        <button type="button" class="copy" data-copy="${esc(item.traceId)}" aria-label="Copy Debug ID ${esc(item.traceId)}">Copy</button>
        <span class="sr" aria-live="polite"></span></div>
      ${item.detail ? `<details><summary>Technical detail</summary><pre>${esc(item.detail)}</pre></details>` : ""}`;
    return li;
  }

  async onListClick(event) {
    const guide = event.target.closest("button.guide");
    if (guide) {
      openGuide(guide.dataset.guide, { base: this.getAttribute("api-base") || "", opener: guide });
      return;
    }
    const button = event.target.closest("button.copy");
    if (!button) return;
    const ok = await copyText(button.dataset.copy);
    button.textContent = ok ? "Copied" : "Copy failed";
    button.classList.toggle("done", ok);
    button.nextElementSibling.textContent = ok ? "Debug ID copied" : "";
    setTimeout(() => { button.textContent = "Copy"; button.classList.remove("done"); }, 2000);
  }

  focusables() {
    return [...this.shadowRoot.querySelectorAll("button:not([hidden]):not([disabled]), select, summary, [tabindex='0']")]
      .filter((el) => el.offsetParent !== null || el === this.shadowRoot.activeElement);
  }

  onKey(event) {
    if (!this.hasAttribute("open")) return;
    if (event.key === "Escape") {
      event.preventDefault();
      this.close();
      return;
    }
    if (event.key !== "Tab") return;
    // Keep focus inside the dialog: wrap from the last control to the first and back.
    const items = this.focusables();
    if (!items.length) return;
    const current = this.shadowRoot.activeElement;
    const index = items.indexOf(current);
    if (event.shiftKey && index <= 0) {
      event.preventDefault();
      items[items.length - 1].focus();
    } else if (!event.shiftKey && (index === items.length - 1 || index === -1)) {
      event.preventDefault();
      items[0].focus();
    }
  }
}

if (!customElements.get("mcp-diagnostics-drawer")) customElements.define("mcp-diagnostics-drawer", DiagnosticsDrawer);
