// The one event renderer: a diagnostic event as a timeline row, in the drawer and on the support page.
// Rows carry the Debug ID with a Copy button; `onCopyClick` is the one handler for those buttons (and for
// the problem rows'): with a client it also reports the Debug ID, so support finds it later ("kept until").
// A row that stands for coalesced repeats (`count` > 1) says how many times it happened, and when first and last.

import { SEVERITY_LABELS, absoluteTime, copyText, timeAgo } from "./format.js";
import { openGuide } from "./guide.js";
import { html, nothing, render } from "./templates.js";

/** Where an event happened, in words: "tool call · tool search · HTTP 502 · server-wide". */
function where(item, { user }) {
  const parts = [item.touchpoint?.replace("_", " "), item.tool ? `tool ${item.tool}` : "", item.httpStatus ? `HTTP ${item.httpStatus}` : ""];
  if (user) parts.push(item.userId ? `user ${item.userId}` : "server-wide");
  return parts.filter(Boolean).join(" · ");
}

/** A `<time>` showing "3 minutes ago", the absolute time as its tooltip. */
export function timeTag(iso) {
  return html`<time datetime=${iso} title=${absoluteTime(iso)}>${timeAgo(iso)}</time>`;
}

/** A coalesced event's occurrences: "Happened 40 times, first 19 minutes ago, last 10 minutes ago". */
function repeats(item) {
  if (!(item.count > 1)) return nothing;
  const span = item.firstTs && item.lastTs
    ? html`, first ${timeTag(item.firstTs)}, last ${timeTag(item.lastTs)}` : nothing;
  return html`<div class="repeats" data-count=${item.count}>Happened <strong>${item.count.toLocaleString()}</strong> times${span}</div>`;
}

/**
 * One event as an `<li class="row sev-…">`. Options: `server` names the server (the support page lists
 * several), `user` says whose event it is (or server-wide), `copy` adds the Copy button to the Debug ID
 * (the support page leaves it out: its search box is the page's "Debug ID" field). `detail` shows only when
 * the API sent it.
 */
export function eventItem(item, { server = false, user = false, copy = true } = {}) {
  return html`<li class="row sev-${item.severity}" data-id=${item.id}>
    <div class="line">
      <span class="sev">${SEVERITY_LABELS[item.severity] || item.severity}</span>
      <code class="code">${item.code}</code>
      <button type="button" class="guide" data-guide=${item.code} aria-label="Guide for ${item.code}">Guide</button>
      ${server ? html`<span>on <strong class="server">${item.server}</strong></span>` : nothing}
      ${timeTag(item.ts)}
    </div>
    <p class="msg">${item.messageSafe}</p>
    ${repeats(item)}
    <div class="meta">${where(item, { user })}</div>
    <div class="debug"><span>Debug ID</span><code class="debug-id">${item.traceId}</code>
      ${copy ? html`<button type="button" class="copy" data-copy=${item.traceId} aria-label="Copy Debug ID ${item.traceId}">Copy</button>
        <span class="sr" aria-live="polite"></span><span class="kept"></span>` : nothing}</div>
    ${item.detail ? html`<details><summary>Technical detail</summary><pre>${item.detail}</pre></details>` : nothing}
  </li>`;
}

/** The row as a detached element, for lists that grow at both ends (the drawer's refresh and paging). */
export function eventNode(item, options) {
  const fragment = document.createDocumentFragment();
  render(eventItem(item, options), fragment);
  return fragment.querySelector("li");
}

const keptDate = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** "Kept until Mar 3, 2027": what a report or a lookup promises. */
export function keptUntilText(iso) {
  return iso ? `Kept until ${keptDate.format(new Date(iso))}` : "";
}

/** Report a copied Debug ID (POST …/report) and say until when it is kept; quiet when it cannot be. */
async function report(client, id, kept) {
  try {
    const answer = await client.request(`/api/diagnostics/${encodeURIComponent(id)}/report`, { method: "POST" });
    kept.textContent = keptUntilText(answer.keptUntil);
    kept.title = "Support can look this Debug ID up until then";
    kept.dataset.keptUntil = answer.keptUntil;
  } catch { kept.textContent = ""; }
}

/** Click handler for a list of rows: opens a row's guide, or copies the Debug ID of the row whose Copy
 * button was pressed. `base` is the API base of an embedded drawer; with `client`, a copied Debug ID is
 * also reported, so it is kept for support past normal retention. */
export async function onCopyClick(event, base = "", { client = null } = {}) {
  const guide = event.target.closest("button.guide");
  if (guide) {
    openGuide(guide.dataset.guide, { base, opener: guide });
    return;
  }
  const button = event.target.closest("button.copy");
  if (!button) return;
  const ok = await copyText(button.dataset.copy);
  button.textContent = ok ? "Copied" : "Copy failed";
  button.classList.toggle("done", ok);
  const live = button.parentElement.querySelector(".sr");
  if (live) live.textContent = ok ? "Debug ID copied" : "";
  setTimeout(() => { button.textContent = "Copy"; button.classList.remove("done"); }, 2000);
  const kept = button.parentElement.querySelector(".kept");
  if (ok && client && kept) await report(client, button.dataset.copy, kept);
}
