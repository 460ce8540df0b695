// The servers page: a card per server (state, last failure, counts of the last day), the Diagnostics drawer
// behind each card, "Re-check" (the doctor against the server's endpoint), and the "Test connection" panel.
// A card shows only what /api/mcp/connection/status says for that server, so its parts come from the same
// facts and cannot contradict each other.

import { session } from "../api.js";
import { timeTag } from "../events.js";
import { ACTION_LABELS, plural, windowLabel } from "../format.js";
import { canRecheck, recheck, recheckHint, recheckVerdict, stateLabel } from "../recheck.js";
import { html, nothing, render } from "../templates.js";
import { openGuide } from "../guide.js";
import { errorBox, setTitle } from "./common.js";

const INSPECTION_WAIT_MS = 250;
const INSPECTION_TRIES = 12;

function actionButton(ctx, server, code, debugId) {
  const action = ctx.catalog[code]?.action;
  if (!action || action === "none" || !ACTION_LABELS[action]) return nothing;
  const click = (event) => {
    const detail = { server, action, debugId: debugId || null };
    // A host app listens for this to open its own OAuth, edit or help dialog.
    const button = event.currentTarget;
    const handled = !button.dispatchEvent(new CustomEvent("mcpdiag:action", { bubbles: true, composed: true, cancelable: true, detail }));
    if (handled) return;
    // Unhandled "Learn more": the guide that ships with mcpdiag, opened in the page.
    if (action === "docs") openGuide(code, { opener: button });
    else ctx.toast(`${ACTION_LABELS[action]}: ask the app that embeds mcpdiag to handle this.`);
  };
  return html`<button type="button" class="button small" data-action=${action} data-server=${server}
    data-code=${code} data-debug-id=${debugId || ""} @click=${click}>${ACTION_LABELS[action]}</button>`;
}

/** The code's troubleshooting guide (guide.js); a "Learn more" action already leads there. */
export function guideButton(ctx, code) {
  if (ctx.catalog[code]?.action === "docs") return nothing;
  return html`<button type="button" class="button small ghost" data-guide=${code} aria-label="Guide for ${code}"
    @click=${(event) => openGuide(code, { opener: event.currentTarget })}>Guide</button>`;
}

/** The last failure: the current problem (with its action), or history a later connection resolved. */
function lastFailure(ctx, server, state, last) {
  if (!last) {
    const line = state === "unknown" ? "No diagnostics recorded for this server yet." : "No connection failures recorded.";
    return html`<p class="ok-line">${line}</p>`;
  }
  const during = last.touchpoint === "tool_call" ? ` · during a call${last.tool ? ` to ${last.tool}` : ""}` : "";
  if (last.resolved) {
    const since = state === "idle" ? "Nothing wrong since the last failure" : "Connected again since the last failure";
    return html`<p class="card-history" data-last-error=${last.code}>${since}:
      <code>${last.code}</code>${during} · ${timeTag(last.at)}</p>`;
  }
  return html`<div class="card-error" data-last-error=${last.code}>
    <p>${last.message}</p>
    <div class="card-foot"><span class="meta"><code>${last.code}</code>${during} · ${timeTag(last.at)}</span>
      ${actionButton(ctx, server, last.code, last.traceId)}${guideButton(ctx, last.code)}</div></div>`;
}

/** The counts line: failures and tool errors of the window, or that there were none (or none new). */
function counts(status) {
  const recent = status.recent || {};
  const failures = recent.failureCount ?? 0;
  const tools = recent.toolErrorCount ?? 0;
  const span = `in the last ${windowLabel(recent.window || "24h")}`;
  let text;
  if (failures) text = html`<strong>${plural(failures, "failure")}</strong> ${span}${tools ? html`, <strong>${plural(tools, "tool error")}</strong>` : nothing}`;
  else if (tools) text = html`<strong>${plural(tools, "tool error")}</strong> ${span}`;
  else if ((status.state || "unknown") === "unknown" && !status.lastError) text = ""; // the card already says: no data
  else text = `${status.lastError && !status.lastError.resolved ? "No new failures" : "No failures"} ${span}`;
  return html`<span class="count" data-failures=${failures} data-tool-errors=${tools}>${text}</span>`;
}

/** Re-check a card's server, then show its card again once the run's inspection is stored. */
async function recheckCard(ctx, server, status, paint) {
  const before = status.updatedAt;
  ctx.checks.set(server, { busy: true });
  paint();
  const result = await recheck(ctx.client, server, status.endpoint);
  for (let i = 0; i < INSPECTION_TRIES && !result.error; i += 1) {
    const fresh = (await ctx.client.allStatuses().catch(() => ({})))[server];
    if (ctx.signal.aborted) return;
    if (fresh && fresh.updatedAt !== before) {
      ctx.statuses[server] = fresh;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, INSPECTION_WAIT_MS));
  }
  ctx.checks.set(server, { result });
  if (!ctx.signal.aborted) paint();
}

function card(ctx, server, status, index, paint) {
  const state = status.state || "unknown";
  const open = (event) => {
    ctx.drawer.setAttribute("token", session.token || "");
    ctx.drawer.open(server, event.currentTarget);
  };
  const check = ctx.checks.get(server) || {};
  const hint = recheckHint(status.endpoint);
  return html`<article class="card" data-server=${server} aria-labelledby="card-${index}">
    <div class="card-head"><h2 id="card-${index}">${server}</h2>
      <span class="badge ${state}" data-state=${state} data-connection=${status.connectionState}>${stateLabel(state)}</span></div>
    ${lastFailure(ctx, server, state, status.lastError)}
    ${recheckVerdict(check.result)}
    <div class="card-foot">
      ${counts(status)}
      <span class="card-buttons">
        ${status.endpoint && !ctx.bundle ? html`<button type="button" class="button small ghost" data-recheck=${server}
          ?disabled=${!canRecheck(status.endpoint) || check.busy} title=${hint || `Test ${status.endpoint.address} now`}
          aria-label="Re-check ${server}" @click=${() => recheckCard(ctx, server, status, paint)}>${check.busy ? "Re-checking…" : "Re-check"}</button>` : nothing}
        <button type="button" class="button small" data-diagnostics=${server} aria-label="Diagnostics for ${server}"
          @click=${open}>Diagnostics</button></span>
    </div></article>`;
}

function page(grid, doctor) {
  return html`<h1>MCP servers</h1><p class="lede">Connection state and the last problem for each server you can use.</p>
    ${grid}
    ${doctor ? html`<details class="panel doctor-panel" id="doctor-panel">
      <summary><h2>Test connection</h2><span class="meta">Check a server's URL layer by layer before you add it.</span></summary>
      <mcp-doctor></mcp-doctor></details>` : nothing}`;
}

export async function show(ctx) {
  setTitle("Servers");
  render(page(html`<div class="grid" aria-busy="true"><div class="skeleton"></div><div class="skeleton"></div>
    <div class="skeleton"></div></div>`, false), ctx.view);
  let statuses;
  try {
    statuses = await ctx.client.allStatuses();
  } catch (error) {
    if (!ctx.signal.aborted) render(page(errorBox(error), false), ctx.view);
    return;
  }
  if (ctx.signal.aborted) return;
  const names = Object.keys(statuses).sort();
  const state = { ...ctx, statuses, checks: new Map() };
  const paint = () => {
    const grid = names.length
      ? html`<div class="grid">${names.map((name, i) => card(state, name, state.statuses[name], i, paint))}</div>`
      : html`<p class="message">You don't have access to any MCP server yet.</p>`;
    // A support bundle's view is read-only: no connection test from it.
    render(page(grid, !ctx.bundle), ctx.view);
  };
  paint();
}
