// The Overview page (support and admins): every server's failures over the last 24 h or 7 days as a
// server × time heatmap, the top problems across the fleet, users affected, and the incidents a bundle's
// analysis would find (dominant code, onset, spikes), computed live by GET /api/overview. Each server links
// to its drawer. It refreshes itself every few seconds while shown (the API answers users 403, and the page
// is not in their navigation).

import { session } from "../api.js";
import { bucketLabel, heatmap, sparkline } from "../charts.js";
import { timeTag } from "../events.js";
import { ACTION_LABELS, SEVERITY_LABELS, plural } from "../format.js";
import { html, nothing, render } from "../templates.js";
import { errorBox, setTitle } from "./common.js";

const REFRESH_MS = 10000;
// A window from any minute touches one hour more than it lasts: hourly cells over a day, 6-hour cells over a week.
const WINDOWS = { "24h": { label: "Last 24 hours", ms: 864e5, buckets: 25 }, "7d": { label: "Last 7 days", ms: 6048e5, buckets: 29 } };
const QUIET_SHOWN = 12;

function percent(share) {
  return `${Math.round(share * 100)} %`;
}

function tiles(data) {
  const failing = data.servers.filter((s) => s.failures);
  const failures = failing.reduce((sum, s) => sum + s.failures, 0);
  const tools = data.servers.reduce((sum, s) => sum + (s.toolErrors || 0), 0);
  return html`<div class="tiles">
    <div class="tile" data-tile="failures"><strong>${failures.toLocaleString()}</strong><span>failures${tools ? html` (and ${plural(tools, "tool error")})` : nothing}</span></div>
    <div class="tile" data-tile="servers"><strong>${failing.length}</strong><span>of ${plural(data.servers.length, "server")} failing</span></div>
    <div class="tile" data-tile="users"><strong>${data.usersAffected}</strong><span>users affected</span></div>
    <div class="tile" data-tile="incidents"><strong>${data.incidents.length}</strong><span>${data.incidents.length === 1 ? "incident" : "incidents"}</span></div>
  </div>`;
}

function openButton(open, server, text = server) {
  return html`<button type="button" class="link" data-open=${server} aria-label="Diagnostics for ${server}"
    @click=${(e) => open(server, e.currentTarget)}>${text}</button>`;
}

function incidents(data, open) {
  if (!data.incidents.length) return html`<p class="ok-line">No incidents: no server failed in this window.</p>`;
  return html`<ol class="incidents plain-list">${data.incidents.map((i) => html`<li class="incident" data-server=${i.server} data-code=${i.code}>
    <div class="incident-head">${openButton(open, i.server)}<span class="badge sev-error">${i.title}</span>
      <code>${i.code}</code></div>
    <p><strong>${percent(i.share)}</strong> of its failures (${plural(i.count, "time")}) · since ${timeTag(i.onset)}
      ${i.spikes.length ? html` · <span class="spikes" data-spikes=${i.spikes.length}>${plural(i.spikes.length, "spike")}, first at ${bucketLabel(i.spikes[0], data.bucketSeconds)}</span>` : nothing}</p>
    <p class="meta">${i.action && i.action !== "none" ? html`Action: ${ACTION_LABELS[i.action] || i.action} · ` : nothing}Latest Debug ID <code>${i.latestDebugId}</code></p>
  </li>`)}</ol>`;
}

function topProblems(data, open) {
  if (!data.topProblems.length) return html`<p class="ok-line">No problems in this window.</p>`;
  return html`<div class="table-scroll"><table class="problems-table">
    <thead><tr><th scope="col">Server</th><th scope="col">Problem</th><th scope="col">Count</th><th scope="col">Users</th>
      <th scope="col">Trend</th><th scope="col">Last seen</th></tr></thead>
    <tbody>${data.topProblems.map((p) => html`<tr data-fingerprint=${p.fingerprint}>
      <td>${openButton(open, p.server)}</td>
      <td><span class="sev-text sev-${p.severity}">${SEVERITY_LABELS[p.severity]}</span> ${p.title}<br><code>${p.code}</code>${p.tool ? html` · tool ${p.tool}` : nothing}</td>
      <td class="num" data-label="Count">${p.count.toLocaleString()}</td>
      <td class="num" data-label="Users">${p.usersAffected || (p.serverWide ? "" : "0")}${p.serverWide ? html`<span class="meta" title="Some occurrences affected everyone (server-wide)">${p.usersAffected ? " + everyone" : "everyone"}</span>` : nothing}</td>
      <td class="trend sev-${p.severity}">${sparkline(p.trend, { label: `${p.code} per bucket`, width: 72 })}</td>
      <td class="last" data-label="Last seen">${timeTag(p.lastSeen)}</td></tr>`)}</tbody></table></div>`;
}

function body(data, open, state) {
  const failing = data.servers.filter((s) => s.failures);
  const quiet = data.servers.filter((s) => !s.failures);
  return html`${tiles(data)}
    <section class="panel stack" aria-labelledby="heat-title"><div class="section-head"><h2 id="heat-title">Failures per server</h2>
      <span class="meta">${WINDOWS[state.window].label} · per ${data.bucketSeconds >= 86400 ? "day" : `${data.bucketSeconds / 3600} h`}</span></div>
      ${failing.length ? heatmap(failing, data.bucketStarts, data.bucketSeconds, open) : html`<p class="ok-line">No server failed in this window.</p>`}
      ${quiet.length ? html`<p class="meta quiet" data-quiet=${quiet.length}>No failures: ${quiet.slice(0, QUIET_SHOWN).map((s, i) => html`${i ? ", " : ""}${openButton(open, s.server)}${s.toolErrors ? ` (${plural(s.toolErrors, "tool error")})` : ""}`)}${quiet.length > QUIET_SHOWN ? ` and ${quiet.length - QUIET_SHOWN} more` : ""}</p>` : nothing}
    </section>
    <div class="two-col overview-cols">
      <section class="panel stack" aria-labelledby="top-title"><h2 id="top-title">Top problems</h2>${topProblems(data, open)}</section>
      <section class="panel stack" aria-labelledby="incidents-title"><h2 id="incidents-title">Incidents</h2>${incidents(data, open)}</section>
    </div>`;
}

export async function show(ctx) {
  setTitle("Overview");
  const state = { window: "24h", data: null, error: null, updated: null };
  const open = (server, opener) => {
    ctx.drawer.setAttribute("token", session.token || "");
    ctx.drawer.open(server, opener);
  };
  const paint = () => render(html`<div class="page-head"><div><h1>Overview</h1>
      <p class="lede">Every server's failures, the problems hitting most people, and what started when.</p></div>
      <div class="segmented" role="group" aria-label="Window">${Object.entries(WINDOWS).map(([key, w]) => html`<button type="button"
        class="button small ${state.window === key ? "primary" : ""}" aria-pressed=${String(state.window === key)} data-window=${key}
        @click=${() => { state.window = key; state.data = null; paint(); load(); }}>${w.label}</button>`)}</div></div>
    <p class="meta updated" aria-live="polite" data-updated=${state.updated || ""}>${state.updated ? html`Updated ${timeTag(state.updated)} · refreshes every ${REFRESH_MS / 1000} s` : "Loading…"}</p>
    ${state.error ? errorBox(state.error) : nothing}
    ${state.data ? body(state.data, open, state) : html`<div class="skeleton"></div>`}`, ctx.view);
  // One request at a time; asked again while one is out (a refresh, another window), the page asks once
  // more when it lands, so the answer shown is never older than the last ask.
  let inFlight = null;
  let again = false;
  const load = async () => {
    if (inFlight) { again = true; return inFlight; }
    const window = state.window;
    inFlight = (async () => {
      try {
        const from = new Date(Date.now() - WINDOWS[window].ms).toISOString();
        const data = await ctx.client.get("/api/overview", { from, buckets: WINDOWS[window].buckets });
        if (!ctx.signal.aborted && window === state.window) {
          Object.assign(state, { data, error: null, updated: new Date().toISOString() });
        }
      } catch (error) {
        if (!ctx.signal.aborted) state.error = error;
      } finally {
        inFlight = null;
      }
      if (ctx.signal.aborted) return;
      paint();
      if (again) { again = false; await load(); }
    })();
    return inFlight;
  };
  paint();
  await load();
  const timer = setInterval(() => { if (ctx.signal.aborted) clearInterval(timer); else load(); }, REFRESH_MS);
  ctx.signal.addEventListener("abort", () => clearInterval(timer));
}
