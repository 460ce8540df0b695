// <mcp-diagnostics-drawer server="…" api-base="…" token="…">: the Diagnostics slide-over, embeddable in any
// host page. Problems first: a chart of the server's events over the range, its failures grouped into
// problems (count, first/last seen, users, latest Debug ID, trend, action, guide), then the events
// themselves, which a problem's "Occurrences" narrows to it. Live: new events arrive through the server's
// event stream (live.js), with polling when streaming cannot work. The API decides what is visible.
// Filters belong to one server: each server the drawer shows keeps its own, and an empty list says when
// the filters hide events instead of claiming that everything looks fine. `read-only`: nothing acts on the
// servers (no Re-check), as in a support bundle's view. `snapshot`: the events will not change (a bundle
// holds what it captured): nothing is streamed or polled, and the header says so.

import { ApiClient, ApiError, session } from "./api.js";
import { adoptElementStyles } from "./element-styles.js";
import { eventNode, onCopyClick } from "./events.js";
import { RANGES, rangeStart } from "./format.js";
import { openGuide } from "./guide.js";
import { LiveStream } from "./live.js";
import { BUCKETS, chartView, problemsView } from "./problems.js";
import { canRecheck, recheck, recheckHint, recheckVerdict, stateLabel } from "./recheck.js";
import { html, nothing, render } from "./templates.js";

const DEFAULT_FILTERS = Object.freeze({ severity: "", range: "24h", code: "", touchpoint: "", tool: "" });
const SEVERITIES = [["", "All"], ["warning", "Warnings and up"], ["error", "Errors"]];
const TOUCHPOINTS = [["", "All"], ["connect", "Connect"], ["oauth", "Sign-in"], ["tool_call", "Tool calls"],
  ["transport", "Transport"], ["inspection", "Inspection"], ["lifecycle", "Lifecycle"]];
const RANK = { debug: 0, info: 1, warning: 2, error: 3, critical: 4 };
const AGGREGATES_AFTER_MS = 400;
const LIVE_LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", polling: "Updating every 15 s",
  snapshot: "Snapshot: as the bundle captured it" };

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
    Object.assign(this, { items: [], cursor: null, loading: false, generation: 0, loaded: 0, codes: [], hiddenCount: 0,
      filtersByServer: new Map(), status: { text: "", error: false, empty: false }, opener: null, problems: null,
      timeline: null, card: null, liveState: "", stream: null, checking: false, verdict: null, aggregatesTimer: null,
      stale: false });
    this.update();
    const root = this.shadowRoot;
    this.panel = root.querySelector(".panel");
    this.list = root.querySelector("ol.timeline");
    const copy = (event) => onCopyClick(event, this.getAttribute("api-base") || "", { client: this.client });
    this.list.addEventListener("click", copy);
    root.querySelector(".problems-slot").addEventListener("click", copy);
    this.addEventListener("keydown", (event) => this.onKey(event));
  }

  get server() { return this.getAttribute("server"); }
  get client() {
    return new ApiClient({ base: this.getAttribute("api-base") || "", token: this.getAttribute("token") || session.token });
  }

  /** The filters of the server on screen (the defaults until they are changed for it). */
  get filters() { return this.filtersByServer.get(this.server) || DEFAULT_FILTERS; }

  setFilters(filters) {
    this.filtersByServer.set(this.server, Object.freeze({ ...DEFAULT_FILTERS, ...filters }));
    return this.load();
  }

  connectedCallback() {
    if (this.hasAttribute("open") && this.server) this.show();
  }

  disconnectedCallback() { this.stopLive(); }

  attributeChangedCallback(name, before, after) {
    if (before === after || !this.hasAttribute("open") || !this.panel) return;
    // A host switching the drawer to another server (or token) while it is open: that server, its filters.
    if (name === "server" || name === "token") this.show();
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
    this.panel.inert = false;
    this.verdict = null;
    this.load();
    this.startLive();
    requestAnimationFrame(() => this.shadowRoot.querySelector(".close").focus());
  }

  close() {
    if (!this.hasAttribute("open")) return;
    this.removeAttribute("open");
    this.stopLive();
    this.panel.inert = true; // sliding out: out of reach of focus and assistive tech at once
    setTimeout(() => { if (!this.hasAttribute("open")) this.panel.hidden = true; }, 250);
    this.dispatchEvent(new CustomEvent("mcpdiag:drawer-closed", { bubbles: true, composed: true }));
    if (this.opener && typeof this.opener.focus === "function") this.opener.focus();
  }

  // -- live ---------------------------------------------------------------------------------------------

  startLive() {
    this.stopLive();
    if (!this.server) return;
    if (this.hasAttribute("snapshot")) {
      this.liveState = "snapshot";
      this.update();
      return;
    }
    this.stream = new LiveStream({
      client: this.client,
      server: this.server,
      onEvent: (item) => this.onLiveEvent(item),
      onState: (state) => this.onLiveState(state),
      poll: () => { this.refresh(); this.refreshAggregates(); },
    });
    this.stream.start();
  }

  stopLive() {
    this.stream?.stop();
    this.stream = null;
    clearTimeout(this.aggregatesTimer);
    this.liveState = "";
  }

  onLiveState(state) {
    const caughtUp = state === "live" && this.liveState !== "live";
    this.liveState = state;
    this.update();
    // What arrived between the last listing and the stream's start: the listing again (rows are deduplicated).
    if (caughtUp) { this.refresh(); this.refreshAggregates(); }
  }

  /** Whether an event belongs in the listing the filters describe (not `matches`: that is Element's). */
  belongs(item) {
    const f = this.filters;
    return item.server === this.server && (!f.severity || RANK[item.severity] >= RANK[f.severity])
      && (!f.code || item.code === f.code) && (!f.touchpoint || item.touchpoint === f.touchpoint)
      && (!f.tool || item.tool === f.tool) && (!this.since || item.ts >= this.since);
  }

  onLiveEvent(item) {
    if (item.server !== this.server) return;
    clearTimeout(this.aggregatesTimer);
    this.aggregatesTimer = setTimeout(() => this.refreshAggregates(), AGGREGATES_AFTER_MS);
    // A listing in flight may have been read before this event was stored: ask again once it lands.
    if (this.loading) { this.stale = true; return; }
    if (!this.belongs(item) || this.items.some((known) => known.id === item.id)) return;
    this.insert([item]);
  }

  /** Put rows among the loaded ones in (ts, id) order, newest first; older than all loaded: the next page. */
  insert(fresh) {
    for (const item of fresh.sort((a, b) => (a.ts < b.ts ? 1 : -1))) {
      const at = this.items.findIndex((known) => known.ts < item.ts || (known.ts === item.ts && known.id < item.id));
      if (at < 0 && this.cursor) continue;
      const node = eventNode(item);
      node.classList.add("fresh");
      if (at < 0) { this.items.push(item); this.list.append(node); } else {
        this.items.splice(at, 0, item);
        this.list.children[at].before(node);
      }
    }
    this.status = this.items.length ? { text: "" } : this.status;
    this.update();
  }

  // -- loading ------------------------------------------------------------------------------------------

  /** Query parameters; a cursor only continues the query it came from, so pages share `since`. */
  params(cursor, since) {
    const { severity, code, touchpoint, tool } = this.filters;
    return { severity: severity || undefined, code: code || undefined, touchpoint: touchpoint || undefined,
      tool: tool || undefined, from: since, limit: 50, cursor: cursor || undefined };
  }

  path(what) { return `/api/mcp/${encodeURIComponent(this.server)}/${what}`; }

  aggregates(since) {
    const { range, severity } = this.filters;
    const buckets = BUCKETS[range];
    const minimum = RANK[severity] > RANK.warning ? severity : undefined;
    return Promise.all([
      this.client.get(this.path("problems"), { from: since, buckets: buckets.trend, severity: minimum }).catch(() => null),
      this.client.get(this.path("timeline"), { from: since, buckets: buckets.chart }).catch(() => null),
      // Counts over the range that clearing the filters would show: the code list and the "N hidden".
      this.client.get(this.path("summary"), { window: widerRange(range) }).catch(() => null),
    ]);
  }

  async load({ more = false } = {}) {
    if (!this.server || (more && (this.loading || !this.cursor))) return;
    // Every new listing (open, filter change, another server) supersedes the one in flight.
    const generation = more ? this.generation : ++this.generation;
    this.loading = true;
    if (!more) {
      this.stale = false; // whatever was asked for until now, this listing is read after it
      this.since = rangeStart(this.filters.range);
      Object.assign(this, { items: [], cursor: null, problems: null, timeline: null, card: null });
      this.list.replaceChildren();
      this.status = { text: "Loading diagnostics…" };
    }
    this.update();
    try {
      const filters = this.filters;
      const page = this.client.get(this.path("diagnostics"), this.params(more ? this.cursor : null, this.since));
      const extra = more ? Promise.resolve(null) : this.aggregates(this.since);
      const [answer, aggregates] = await Promise.all([page, extra]);
      if (generation !== this.generation) return;
      this.appendRows(answer.items);
      this.cursor = answer.nextCursor;
      if (aggregates) {
        const [problems, timeline, counts] = aggregates;
        Object.assign(this, { problems, timeline, card: counts });
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
        // A poll, a live event or the stream's start came while this was in flight: catch up now.
        if (this.stale) { this.stale = false; this.refresh(); this.refreshAggregates(); }
      }
    }
  }

  /** Put events that arrived since the first page among the loaded ones, without disturbing them. */
  async refresh() {
    if (!this.server) return;
    if (this.loading) { this.stale = true; return; }
    const generation = this.generation;
    try {
      const page = await this.client.get(this.path("diagnostics"), this.params(null, this.since));
      // A filter or the server changed while this was in flight: these rows belong to the old listing.
      if (generation !== this.generation) return;
      if (this.loading) { this.stale = true; return; } // a next page is loading: merge after it
      const known = new Set(this.items.map((item) => item.id));
      const fresh = page.items.filter((item) => !known.has(item.id));
      if (fresh.length) this.insert(fresh);
    } catch { /* keep what is shown; the next refresh tries again */ }
  }

  /** The chart, the problems and the card's state again (after live events, or a re-check). */
  async refreshAggregates() {
    if (!this.server) return;
    if (this.loading) { this.stale = true; return; }
    const generation = this.generation;
    const [problems, timeline, card] = await this.aggregates(this.since);
    if (generation !== this.generation) return;
    if (this.loading) { this.stale = true; return; }
    if (problems) this.problems = problems;
    if (timeline) this.timeline = timeline;
    if (card) { this.card = card; this.hiddenCount = card.total; }
    this.update();
  }

  appendRows(items) {
    this.items.push(...items);
    this.list.append(...items.map((item) => eventNode(item)));
  }

  // -- actions ------------------------------------------------------------------------------------------

  clearFilters() {
    return this.setFilters({ ...DEFAULT_FILTERS, range: widerRange(this.filters.range) });
  }

  onFilter(event) {
    if (!event.target.name) return;
    this.setFilters({ ...this.filters, [event.target.name]: event.target.value });
  }

  /** A problem's occurrences: the event list narrowed to its code, touchpoint and tool (or back again). */
  async occurrences(problem) {
    const f = this.filters;
    const same = f.code === problem.code && f.touchpoint === problem.touchpoint && f.tool === (problem.tool || "");
    await this.setFilters(same ? { ...f, code: "", touchpoint: "", tool: "" }
      : { ...f, code: problem.code, touchpoint: problem.touchpoint, tool: problem.tool || "" });
    if (!same) this.shadowRoot.querySelector("#events-title").scrollIntoView({ block: "start", behavior: "smooth" });
  }

  /** A problem's action: the host handles `mcpdiag:action` (its sign-in, its edit dialog); unhandled
   * "Learn more" opens the guide. */
  action(problem, button) {
    const detail = { server: this.server, action: problem.action, debugId: problem.latestDebugId };
    const handled = !this.dispatchEvent(new CustomEvent("mcpdiag:action", { bubbles: true, composed: true, cancelable: true, detail }));
    if (!handled && problem.action === "docs") openGuide(problem.code, { base: this.getAttribute("api-base") || "", opener: button });
  }

  async recheck() {
    const endpoint = this.card?.endpoint;
    if (!canRecheck(endpoint) || this.checking) return;
    const server = this.server;
    this.checking = true;
    this.verdict = null;
    this.update();
    const result = await recheck(this.client, server, endpoint);
    if (server !== this.server) return;
    this.checking = false;
    this.verdict = result;
    this.update();
    // The run's inspection event reaches the stream shortly; without a stream, ask again now.
    if (this.liveState !== "live") setTimeout(() => this.refreshAggregates(), 500);
  }

  // -- rendering ----------------------------------------------------------------------------------------

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

  headerView() {
    const state = this.card?.state;
    const endpoint = this.card?.endpoint;
    const hint = recheckHint(endpoint);
    return html`<header>
      <div class="heading"><h2 id="title">Diagnostics${this.server ? ` · ${this.server}` : ""}</h2>
        <p id="subtitle">${state ? html`<span class="badge ${state}" data-state=${state}>${stateLabel(state)}</span>` : nothing}
          <span class="live" data-live=${this.liveState || "off"}>${LIVE_LABELS[this.liveState] || ""}</span></p></div>
      <button type="button" class="recheck-button" ?disabled=${Boolean(hint) || this.checking} title=${hint || `Run the connection test against ${endpoint?.address}`}
        @click=${() => this.recheck()} ?hidden=${!this.card || this.hasAttribute("read-only")}>${this.checking ? "Re-checking…" : "Re-check"}</button>
      <button type="button" class="close" aria-label="Close diagnostics" @click=${() => this.close()}>Close</button>
    </header>`;
  }

  /** Render the drawer from its state (the event rows are kept as they are: see `appendRows`). */
  update() {
    const f = this.filters;
    const codes = [["", "All codes"], ...this.codes.map((c) => [c, c])];
    const ranges = Object.entries(RANGES).map(([value, { label }]) => [value, label]);
    const handlers = { occurrences: (p) => this.occurrences(p), action: (p, b) => this.action(p, b) };
    const label = RANGES[f.range].label;
    render(html`
      <div class="scrim" part="scrim" @click=${() => this.close()}></div>
      <section class="panel" role="dialog" aria-modal="true" aria-labelledby="title" hidden>
        ${this.headerView()}
        ${recheckVerdict(this.verdict)}
        <form class="filters" aria-label="Filters" @change=${(e) => this.onFilter(e)} @submit=${(e) => e.preventDefault()}>
          <label>Severity <select name="severity" aria-label="Minimum severity">${this.options(SEVERITIES, f.severity)}</select></label>
          <label>Time range <select name="range" aria-label="Time range">${this.options(ranges, f.range)}</select></label>
          <label>Code <select name="code" aria-label="Code">${this.options(codes, f.code)}</select></label>
          <label>Touchpoint <select name="touchpoint" aria-label="Touchpoint">${this.options(TOUCHPOINTS, f.touchpoint)}</select></label>
          ${f.tool ? html`<button type="button" class="chip" aria-label="Stop narrowing to tool ${f.tool}"
            @click=${() => this.setFilters({ ...f, tool: "" })}>tool ${f.tool} ×</button>` : nothing}
          ${isDefault(f) ? nothing : html`<button type="button" class="clear" @click=${() => this.clearFilters()}>Clear filters</button>`}
        </form>
        <div class="body" tabindex="-1">
          ${chartView(this.timeline)}
          <section class="problems-slot" aria-labelledby="problems-title">
            <h3 id="problems-title">Problems${this.problems ? html` <span class="count">${this.problems.items.length}</span>` : nothing}</h3>
            ${problemsView(this.problems, f, handlers, label)}</section>
          <h3 id="events-title">${f.code && f.touchpoint ? "Occurrences" : "Events"}<span class="count">newest first</span></h3>
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
