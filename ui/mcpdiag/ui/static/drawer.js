// <mcp-diagnostics-drawer server="…" api-base="…" token="…">: the Diagnostics slide-over, embeddable in any
// host page. It reads /api/mcp/{server}/diagnostics with the caller's token; the API decides what is visible.
// Filters belong to one server: each server the drawer shows keeps its own, and an empty list says when
// the filters hide events instead of claiming that everything looks fine.

import { ApiClient, ApiError, session } from "./api.js";
import { adoptElementStyles } from "./element-styles.js";
import { eventNode, onCopyClick } from "./events.js";
import { RANGES, plural, rangeStart } from "./format.js";
import { html, nothing, render } from "./templates.js";

const REFRESH_MS = 15000;
const DEFAULT_FILTERS = Object.freeze({ severity: "", range: "24h", code: "", touchpoint: "" });
const SEVERITIES = [["", "All"], ["warning", "Warnings and up"], ["error", "Errors"]];
const TOUCHPOINTS = [["", "All"], ["connect", "Connect"], ["oauth", "Sign-in"], ["tool_call", "Tool calls"],
  ["transport", "Transport"], ["inspection", "Inspection"], ["lifecycle", "Lifecycle"]];

/** The range that clearing the filters shows: the selected one, or the default when that is narrower. */
function widerRange(range) {
  return RANGES[range].ms >= RANGES[DEFAULT_FILTERS.range].ms ? range : DEFAULT_FILTERS.range;
}

function isDefault(filters) {
  return Object.keys(DEFAULT_FILTERS).every((name) => filters[name] === DEFAULT_FILTERS[name]);
}

export class DiagnosticsDrawer extends HTMLElement {
  static get observedAttributes() { return ["server", "token", "api-base"]; }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    adoptElementStyles(this.shadowRoot);
    this.items = [];
    this.cursor = null;
    this.loading = false;
    this.generation = 0;
    this.loaded = 0;
    this.filtersByServer = new Map();
    this.codes = [];
    this.hiddenCount = 0;
    this.status = { text: "", error: false, empty: false };
    this.timer = null;
    this.opener = null;
    this.update();
    const root = this.shadowRoot;
    this.panel = root.querySelector(".panel");
    this.list = root.querySelector("ol");
    this.list.addEventListener("click", (event) => onCopyClick(event, this.getAttribute("api-base") || ""));
    this.addEventListener("keydown", (event) => this.onKey(event));
  }

  get server() { return this.getAttribute("server"); }
  get client() {
    return new ApiClient({ base: this.getAttribute("api-base") || "", token: this.getAttribute("token") || session.token });
  }

  /** The filters of the server on screen (the defaults until they are changed for it). */
  get filters() { return this.filtersByServer.get(this.server) || DEFAULT_FILTERS; }

  setFilters(filters) {
    this.filtersByServer.set(this.server, Object.freeze({ ...filters }));
    this.load();
  }

  connectedCallback() {
    if (this.hasAttribute("open") && this.server) this.show();
  }

  disconnectedCallback() { this.stopRefresh(); }

  attributeChangedCallback(name, before, after) {
    // A host switching the drawer to another server while it is open: that server, with its own filters.
    if (name === "server" && before !== after && this.hasAttribute("open") && this.panel) this.show();
  }

  /** Open the drawer on `server`, remembering what had focus so it can be restored. */
  open(server, opener = document.activeElement) {
    this.opener = opener;
    this.setAttribute("open", "");
    if (server && server !== this.server) this.setAttribute("server", server);
    else this.show();
  }

  show() {
    this.panel.hidden = false;
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

  /** Query parameters; a cursor only continues the query it came from, so pages share `since`. */
  params(cursor, since) {
    const { severity, code, touchpoint } = this.filters;
    return { severity: severity || undefined, code: code || undefined, touchpoint: touchpoint || undefined,
      from: since, limit: 50, cursor: cursor || undefined };
  }

  path(what) { return `/api/mcp/${encodeURIComponent(this.server)}/${what}`; }

  async load({ more = false } = {}) {
    if (!this.server || (more && (this.loading || !this.cursor))) return;
    // Every new listing (open, filter change, another server) supersedes the one in flight.
    const generation = more ? this.generation : ++this.generation;
    this.loading = true;
    if (!more) {
      this.since = rangeStart(this.filters.range);
      this.items = [];
      this.cursor = null;
      this.list.replaceChildren();
      this.status = { text: "Loading diagnostics…" };
    }
    this.update();
    try {
      const filters = this.filters;
      const page = this.client.get(this.path("diagnostics"), this.params(more ? this.cursor : null, this.since));
      // Counts over the range that clearing the filters would show: the code list and the "N hidden".
      const summary = more ? null : this.client.get(this.path("summary"), { window: widerRange(filters.range) }).catch(() => null);
      const [answer, counts] = await Promise.all([page, summary]);
      if (generation !== this.generation) return;
      this.append(answer.items);
      this.cursor = answer.nextCursor;
      if (!more) {
        this.codes = [...new Set([...Object.keys(counts?.byCode || {}), ...answer.items.map((i) => i.code), filters.code].filter(Boolean))].sort();
        this.hiddenCount = counts?.total || 0;
      }
      this.status = this.items.length ? { text: "" } : { empty: true };
    } catch (error) {
      if (generation !== this.generation) return;
      this.status = { text: error instanceof ApiError ? error.message : "Could not load diagnostics.", error: true };
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.loaded += 1;
        this.update();
      }
    }
  }

  /** Put events that arrived since the first page on top, without disturbing what is loaded. */
  async refresh() {
    if (this.loading || !this.server) return;
    const generation = this.generation;
    try {
      const page = await this.client.get(this.path("diagnostics"), this.params(null, rangeStart(this.filters.range)));
      // A filter or the server changed while this was in flight: these rows belong to the old listing.
      if (generation !== this.generation || this.loading) return;
      const known = new Set(this.items.map((item) => item.id));
      const fresh = page.items.filter((item) => !known.has(item.id));
      if (!fresh.length) return;
      this.items.unshift(...fresh);
      this.list.prepend(...fresh.map((item) => eventNode(item)));
      this.status = { text: "" };
      this.update();
    } catch { /* keep what is shown; the next refresh tries again */ }
  }

  append(items) {
    this.items.push(...items);
    this.list.append(...items.map((item) => eventNode(item)));
  }

  clearFilters() {
    this.setFilters({ ...DEFAULT_FILTERS, range: widerRange(this.filters.range) });
  }

  onFilter(event) {
    this.setFilters({ ...this.filters, [event.target.name]: event.target.value });
  }

  /** The line under the timeline: loading, an error, or why the list is empty. */
  stateView() {
    const { text, empty } = this.status;
    if (!empty) return text;
    if (this.hiddenCount > 0) {
      return html`No events match these filters — <strong>${this.hiddenCount}</strong> hidden.
        <br><button type="button" @click=${() => this.clearFilters()}>Clear filters</button>`;
    }
    return `No diagnostics in the ${RANGES[this.filters.range].label.toLowerCase()}. Everything looks fine.`;
  }

  options(pairs, selected) {
    return pairs.map(([value, label]) => html`<option value=${value} ?selected=${value === selected}>${label}</option>`);
  }

  /** Render the drawer from its state (the timeline rows are kept as they are: see `append`). */
  update() {
    const f = this.filters;
    const codes = [["", "All codes"], ...this.codes.map((c) => [c, c])];
    const ranges = Object.entries(RANGES).map(([value, { label }]) => [value, label]);
    render(html`
      <div class="scrim" part="scrim" @click=${() => this.close()}></div>
      <section class="panel" role="dialog" aria-modal="true" aria-labelledby="title" hidden>
        <header>
          <div><h2 id="title">Diagnostics${this.server ? ` · ${this.server}` : ""}</h2>
            <p id="subtitle">What went wrong, newest first</p></div>
          <button type="button" class="close" aria-label="Close diagnostics" @click=${() => this.close()}>Close</button>
        </header>
        <form class="filters" aria-label="Filters" @change=${(e) => this.onFilter(e)} @submit=${(e) => e.preventDefault()}>
          <label>Severity <select name="severity" aria-label="Minimum severity">${this.options(SEVERITIES, f.severity)}</select></label>
          <label>Time range <select name="range" aria-label="Time range">${this.options(ranges, f.range)}</select></label>
          <label>Code <select name="code" aria-label="Code">${this.options(codes, f.code)}</select></label>
          <label>Touchpoint <select name="touchpoint" aria-label="Touchpoint">${this.options(TOUCHPOINTS, f.touchpoint)}</select></label>
          ${isDefault(f) ? nothing : html`<button type="button" class="clear" @click=${() => this.clearFilters()}>Clear filters</button>`}
        </form>
        <div class="body" tabindex="-1">
          <ol class="events timeline" aria-label="Diagnostic events"></ol>
          <div class="state ${this.status.error ? "error" : ""}" role="status" aria-live="polite" ?hidden=${!this.status.text && !this.status.empty}>${this.stateView()}</div>
          <button type="button" class="more" ?hidden=${!this.cursor} ?disabled=${this.loading}
            @click=${() => this.load({ more: true })}>${this.loading && this.items.length ? "Loading…" : "Load more"}</button>
        </div>
      </section>`, this.shadowRoot);
    // A select's shown value is its property, not its options' attributes: set it after the options exist.
    for (const select of this.shadowRoot.querySelectorAll("form.filters select")) select.value = f[select.name];
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
