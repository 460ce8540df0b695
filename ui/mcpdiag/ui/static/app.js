// The mcpdiag web UI: sign-in (dev mode), server cards, support search, admin bundle download.

import { ApiClient, ApiError, adoptFragmentToken, session } from "./api.js";
import "./drawer.js";
import "./doctor.js";
import { ACTION_LABELS, absoluteTime, copyText, esc, timeAgo } from "./format.js";
import { mountTransfer } from "./transfer.js";

const view = document.getElementById("view");
const drawer = document.getElementById("drawer");
const state = { me: null, catalog: {}, client: null };

// -- theme ---------------------------------------------------------------------------------------

const THEME_KEY = "mcpdiag.theme";
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const toggle = document.getElementById("theme-toggle");
  toggle.setAttribute("aria-label", theme === "dark" ? "Switch to light theme" : "Switch to dark theme");
  toggle.setAttribute("aria-pressed", String(theme === "dark"));
}
const prefersDark = matchMedia("(prefers-color-scheme: dark)");
applyTheme(localStorage.getItem(THEME_KEY) || (prefersDark.matches ? "dark" : "light"));
prefersDark.addEventListener("change", (e) => { if (!localStorage.getItem(THEME_KEY)) applyTheme(e.matches ? "dark" : "light"); });
document.getElementById("theme-toggle").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

// -- helpers -------------------------------------------------------------------------------------

function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 2200);
}

function render(html, title) {
  view.innerHTML = html;
  document.title = `${title} · mcpdiag`;
}

function errorBox(error) {
  const message = error instanceof ApiError ? error.message : "Something went wrong loading this page.";
  return `<p class="message error" role="alert">${esc(message)}</p>`;
}

function setNav(route) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === route) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// -- sign-in -------------------------------------------------------------------------------------

async function signIn() {
  setNav("");
  let users;
  try {
    users = await new ApiClient().get("/api/dev/users");
  } catch {
    render(`<section class="panel signin"><h1>Sign in required</h1>
      <p class="lede">Open diagnostics from your chat app: it signs you in. (Administrators: the page accepts a
      bearer token as <code>#token=…</code>.)</p></section>`, "Sign in");
    return;
  }
  render(`<section class="panel signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to the demo</h1>
      <p class="lede">Development mode: pick who you want to be. Each role sees a different slice of the diagnostics.</p>
      <div class="choices">${users.users.map((u) => `
        <button type="button" class="button choice" data-user="${esc(u.userId)}">
          <span><strong>${esc(u.label)}</strong><br><small>${esc(u.description)}</small></span>
          <span class="badge">${esc(u.role)}</span></button>`).join("")}</div></section>`, "Sign in");
  view.querySelectorAll("[data-user]").forEach((button) => button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const { token } = await new ApiClient().request("/api/dev/token", { method: "POST", body: { userId: button.dataset.user } });
      session.token = token;
      await start();
    } catch (error) {
      button.disabled = false;
      view.querySelector(".choices").insertAdjacentHTML("afterend", errorBox(error));
    }
  }));
}

// -- servers page --------------------------------------------------------------------------------

function actionButton(server, code, debugId) {
  const action = state.catalog[code]?.action;
  if (!action || action === "none" || !ACTION_LABELS[action]) return "";
  return `<button type="button" class="button small" data-action="${esc(action)}" data-server="${esc(server)}"
    data-debug-id="${esc(debugId || "")}">${ACTION_LABELS[action]}</button>`;
}

function card(server, status, summary) {
  const stateName = status.connectionState || "unknown";
  const last = status.lastError;
  const errors = summary ? summary.errorCount ?? 0 : null;
  const stateLabel = { connected: "Connected", connecting: "Connecting", disconnected: "Disconnected", error: "Error", unknown: "No data yet" }[stateName] || stateName;
  return `<article class="card" data-server="${esc(server)}" aria-labelledby="card-${esc(server)}">
    <div class="card-head"><h2 id="card-${esc(server)}">${esc(server)}</h2>
      <span class="badge ${esc(stateName)}" data-state="${esc(stateName)}">${stateLabel}</span></div>
    ${last ? `<div class="card-error" data-last-error="${esc(last.code)}">
        <p>${esc(last.message)}</p>
        <div class="card-foot"><span class="meta"><code>${esc(last.code)}</code> · <time datetime="${esc(last.at)}" title="${esc(absoluteTime(last.at))}">${esc(timeAgo(last.at))}</time></span>
        ${actionButton(server, last.code, last.traceId)}</div></div>`
      : `<p class="ok-line">${stateName === "unknown" ? "No diagnostics recorded for this server yet." : "No recent errors."}</p>`}
    <div class="card-foot">
      <span class="count" data-errors="${errors ?? ""}">${errors === null ? "" : `<strong>${errors}</strong> error${errors === 1 ? "" : "s"} in the last 24 h`}</span>
      <button type="button" class="button small" data-diagnostics="${esc(server)}" aria-label="Diagnostics for ${esc(server)}">Diagnostics</button>
    </div></article>`;
}

// The "Test connection" panel: the doctor checks a server configuration layer by layer before it is saved.
function doctorPanel() {
  return `<details class="panel doctor-panel" id="doctor-panel">
    <summary><h2>Test connection</h2><span class="meta">Check a server's URL layer by layer before you add it.</span></summary>
    <mcp-doctor></mcp-doctor></details>`;
}

async function serversPage() {
  setNav("servers");
  render(`<h1>MCP servers</h1><p class="lede">Connection state and the last problem for each server you can use.</p>
    <div class="grid" aria-busy="true"><div class="skeleton"></div><div class="skeleton"></div><div class="skeleton"></div></div>`, "Servers");
  let statuses;
  try {
    statuses = (await state.client.get("/api/mcp/connection/status")).connectionStatus;
  } catch (error) {
    view.querySelector(".grid").outerHTML = errorBox(error);
    return;
  }
  const names = Object.keys(statuses).sort();
  const summaries = await Promise.all(names.map((name) =>
    state.client.get(`/api/mcp/${encodeURIComponent(name)}/summary`, { window: "24h" }).catch(() => null)));
  view.querySelector(".grid").insertAdjacentHTML("afterend", doctorPanel());
  const grid = view.querySelector(".grid");
  grid.removeAttribute("aria-busy");
  grid.innerHTML = names.length
    ? names.map((name, i) => card(name, statuses[name], summaries[i])).join("")
    : `<p class="message">You don't have access to any MCP server yet.</p>`;
}

view.addEventListener("click", (event) => {
  const diag = event.target.closest("[data-diagnostics]");
  if (diag) {
    drawer.setAttribute("token", session.token || "");
    drawer.open(diag.dataset.diagnostics, diag);
    return;
  }
  const action = event.target.closest("[data-action]");
  if (action) {
    const detail = { server: action.dataset.server, action: action.dataset.action, debugId: action.dataset.debugId || null };
    // A host app listens for this to open its own OAuth, edit or help dialog.
    const handled = !action.dispatchEvent(new CustomEvent("mcpdiag:action", { bubbles: true, composed: true, cancelable: true, detail }));
    if (!handled) toast(`${ACTION_LABELS[detail.action]}: ask the app that embeds mcpdiag to handle this.`);
  }
});

// -- support page --------------------------------------------------------------------------------

function eventRow(item) {
  return `<li class="row sev-${esc(item.severity)}" data-id="${esc(item.id)}">
    <div><span class="badge sev-${esc(item.severity)}">${esc(item.severity)}</span> <code>${esc(item.code)}</code> on <strong>${esc(item.server)}</strong>
      <time datetime="${esc(item.ts)}" title="${esc(absoluteTime(item.ts))}">${esc(timeAgo(item.ts))}</time></div>
    <p>${esc(item.messageSafe)}</p>
    <p class="meta">${esc(item.touchpoint)}${item.tool ? ` · tool ${esc(item.tool)}` : ""}${item.userId ? ` · user ${esc(item.userId)}` : " · server-wide"}
      · Debug ID <code>${esc(item.traceId)}</code></p>
    ${item.detail ? `<details><summary>Technical detail</summary><pre>${esc(item.detail)}</pre></details>` : ""}</li>`;
}

async function supportPage() {
  setNav("support");
  render(`<h1>Find a Debug ID</h1><p class="lede">Paste the Debug ID a user sent you (the full id or at least its first 8 characters).</p>
    <form class="search-bar" id="lookup" role="search">
      <label class="sr-label" for="debug-id" hidden>Debug ID</label>
      <input id="debug-id" name="debugId" placeholder="e.g. 4bf92f3577b34da6a3ce929d0e0e4736" autocomplete="off" aria-label="Debug ID" required minlength="8">
      <button class="button primary" type="submit">Search</button></form>
    <div id="lookup-result" aria-live="polite"></div>`, "Support");
  const form = view.querySelector("#lookup");
  const out = view.querySelector("#lookup-result");
  const initial = new URLSearchParams(location.hash.split("?")[1] || "").get("id");
  if (initial) form.debugId.value = initial;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = form.debugId.value.trim();
    if (id.length < 8) {
      out.innerHTML = `<p class="message warn" role="alert">Enter at least 8 characters of the Debug ID.</p>`;
      return;
    }
    out.innerHTML = `<p class="message">Searching…</p>`;
    try {
      const found = await state.client.get(`/api/diagnostics/${encodeURIComponent(id)}`);
      const events = found.events || found.items || [];
      const related = found.related || [];
      out.innerHTML = `<section class="panel stack" aria-label="Trace timeline">
          <h2>Trace <code>${esc(found.traceId || events[0]?.traceId || id)}</code></h2>
          <ol class="plain-list">${events.map(eventRow).join("")}</ol></section>
        <section class="panel stack" aria-label="Related events" style="margin-top:16px">
          <h2>Related events <span class="count">(same user and server, ±10 minutes)</span></h2>
          ${related.length ? `<ol class="plain-list">${related.map(eventRow).join("")}</ol>` : `<p class="ok-line">No related events.</p>`}</section>`;
    } catch (error) {
      if (error.status === 404) out.innerHTML = `<p class="message warn" role="alert" data-result="not-found">No event found for <code>${esc(id)}</code>. Check the id, or it may be older than the retention window.</p>`;
      else if (error.status === 409) out.innerHTML = `<p class="message warn" role="alert" data-result="ambiguous">${esc(error.message)} Enter more characters of the Debug ID.</p>`;
      else out.innerHTML = errorBox(error);
    }
  });
  if (initial) form.requestSubmit();
}

// -- admin bundle page ---------------------------------------------------------------------------

const CONTENTS = [
  ["MANIFEST.json", "scope, counts, SHA-256 of every file, retention coverage"],
  ["README.md", "what each file is and how it was sanitized"],
  ["summary.json", "counts by server, code, severity, touchpoint and hour"],
  ["analysis.md", "findings in plain words: dominant failures, onset, likely cause"],
  ["events/<server>.jsonl", "the sanitized events, oldest first"],
  ["redactions.json", "how many values each redaction rule removed"],
  ["version.json, system_info.json, settings.json", "versions, host facts, settings without secrets"],
];

function cliCommand(form) {
  const parts = ["mcpdiag bundle"];
  for (const option of form.server.selectedOptions) parts.push(`--server ${shellQuote(option.value)}`);
  if (form.range.value === "custom") {
    if (form.from.value) parts.push(`--from ${new Date(form.from.value).toISOString()}`);
    if (form.to.value) parts.push(`--to ${new Date(form.to.value).toISOString()}`);
  } else parts.push(`--since ${form.range.value}`);
  if (form.userId.value.trim()) parts.push(`--user ${shellQuote(form.userId.value.trim())}`);
  if (form.debugId.value.trim()) parts.push(`--debug-id ${shellQuote(form.debugId.value.trim())}`);
  if (form.severity.value) parts.push(`--severity ${form.severity.value}`);
  if (!form.includeDetail.checked) parts.push("--no-detail");
  return parts.join(" ");
}

function shellQuote(value) {
  return /^[\w.@:-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

function bundleParams(form) {
  const params = { server: [...form.server.selectedOptions].map((o) => o.value), severity: form.severity.value || undefined,
    userId: form.userId.value.trim() || undefined, debugId: form.debugId.value.trim() || undefined,
    includeDetail: form.includeDetail.checked ? undefined : "false" };
  if (form.range.value === "custom") {
    params.from = form.from.value ? new Date(form.from.value).toISOString() : undefined;
    params.to = form.to.value ? new Date(form.to.value).toISOString() : undefined;
  } else {
    params.from = new Date(Date.now() - { "1h": 36e5, "24h": 864e5, "7d": 6048e5 }[form.range.value]).toISOString();
  }
  return params;
}

async function adminPage() {
  setNav("admin");
  let servers = [];
  try {
    servers = Object.keys((await state.client.get("/api/mcp/connection/status")).connectionStatus).sort();
  } catch { /* the form still works for all servers */ }
  render(`<h1>Support bundle</h1><p class="lede">A sanitized ZIP of stored diagnostics to attach to a support case.</p>
    <div class="two-col">
      <form class="panel form" id="bundle-form" aria-label="Bundle scope">
        <label>Servers <select name="server" multiple aria-describedby="servers-hint">
          ${servers.map((s) => `<option value="${esc(s)}">${esc(s)}</option>`).join("")}</select>
          <small id="servers-hint">None selected: every server.</small></label>
        <div class="form-row">
          <label>Time range <select name="range">
            <option value="1h">Last hour</option><option value="24h" selected>Last 24 hours</option>
            <option value="7d">Last 7 days</option><option value="custom">Custom…</option></select></label>
          <label>Minimum severity <select name="severity">
            <option value="">Everything</option><option value="warning">Warnings and up</option>
            <option value="error">Errors and up</option><option value="critical">Critical</option></select></label>
        </div>
        <div class="form-row" id="custom-range" hidden>
          <label>From <input type="datetime-local" name="from"></label>
          <label>To <input type="datetime-local" name="to"></label>
        </div>
        <div class="form-row">
          <label>User id <input name="userId" autocomplete="off" placeholder="all users"></label>
          <label>Debug ID <input name="debugId" autocomplete="off" placeholder="optional"></label>
        </div>
        <label class="checkbox"><input type="checkbox" name="includeDetail" checked> Include technical detail</label>
        <div><button class="button primary" type="submit" id="download">Download bundle</button></div>
        <div id="bundle-status" aria-live="polite"></div>
      </form>
      <aside class="stack">
        <section class="panel stack"><h2>What the bundle contains</h2>
          <ul class="contents">${CONTENTS.map(([f, d]) => `<li><code>${esc(f)}</code> — ${esc(d)}</li>`).join("")}</ul></section>
        <p class="notice"><strong>Review before sharing.</strong> Secrets are redacted and a leak scan blocks any bundle in
          which a known secret survives, but the events still name servers, users and tools.</p>
        <section class="panel stack"><h2>Same bundle from the command line</h2><pre class="cli" id="cli-command"></pre>
          <div><button type="button" class="button small" id="copy-cli">Copy command</button></div></section>
      </aside>
    </div>`, "Admin");
  const form = view.querySelector("#bundle-form");
  const update = () => {
    view.querySelector("#custom-range").hidden = form.range.value !== "custom";
    view.querySelector("#cli-command").textContent = cliCommand(form);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
  view.querySelector("#copy-cli").addEventListener("click", async () => toast((await copyText(cliCommand(form))) ? "Command copied" : "Copy failed"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("#download");
    const status = form.querySelector("#bundle-status");
    button.disabled = true;
    button.textContent = "Preparing bundle…";
    status.innerHTML = "";
    try {
      const response = await state.client.request("/api/admin/bundle", { params: bundleParams(form), raw: true });
      const blob = await response.blob();
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "mcpdiag-support.zip";
      const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      status.innerHTML = `<p class="message" data-downloaded="${esc(name)}">Downloaded <code>${esc(name)}</code> (${(blob.size / 1024).toFixed(1)} KiB).</p>`;
    } catch (error) {
      status.innerHTML = errorBox(error);
    } finally {
      button.disabled = false;
      button.textContent = "Download bundle";
    }
  });
  mountTransfer(view, state.client);
}

// -- routing -------------------------------------------------------------------------------------

const ROUTES = { servers: serversPage, support: supportPage, admin: adminPage };

async function route() {
  if (!state.me) return;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || "servers";
  const allowed = name === "servers" || (name === "support" && state.me.role !== "user") || (name === "admin" && state.me.role === "admin");
  await (allowed ? ROUTES[name] : serversPage)();
  view.focus({ preventScroll: true });
}

async function start() {
  state.client = new ApiClient({ token: session.token });
  try {
    state.me = await state.client.get("/api/me");
  } catch (error) {
    if (error.status === 401) session.token = null;
    state.me = null;
    await signIn();
    if (error.status !== 401) view.insertAdjacentHTML("afterbegin", errorBox(error));
    return;
  }
  try {
    state.catalog = (await state.client.get("/api/catalog")).codes;
  } catch { state.catalog = {}; }
  const chip = document.getElementById("user-chip");
  chip.textContent = `${state.me.userId} · ${state.me.role}`;
  chip.hidden = false;
  document.getElementById("sign-out").hidden = false;
  document.querySelectorAll("[data-staff]").forEach((el) => { el.hidden = state.me.role === "user"; });
  document.querySelectorAll("[data-admin]").forEach((el) => { el.hidden = state.me.role !== "admin"; });
  await route();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.token = null;
  state.me = null;
  document.getElementById("user-chip").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.querySelectorAll("[data-staff], [data-admin]").forEach((el) => { el.hidden = true; });
  signIn();
});
window.addEventListener("hashchange", route);
adoptFragmentToken();
if (session.token) start();
else signIn().then(() => { if (session.token) start(); });
