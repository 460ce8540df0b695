// The drawer's "problems first" section: the chart of the server's events per hour or day (stacked by
// severity, from /timeline) and its failures grouped by fingerprint (from /problems), each with its count,
// first and last seen, users affected, latest Debug ID, trend, action and guide, and its occurrences one
// click away.

import { stackedBars, sparkline } from "./charts.js";
import { timeTag } from "./events.js";
import { ACTION_LABELS, SEVERITY_LABELS, plural } from "./format.js";
import { html, nothing } from "./templates.js";

/** Buckets asked for the chart and the problems' trends of each time range: a window from any minute touches
 * one hour more than it lasts (25 for 24 h), so these give hourly bars over a day and 6-hour bars over a
 * week (the API makes no bucket past the window's end). */
export const BUCKETS = { "1h": { chart: 2, trend: 2 }, "24h": { chart: 25, trend: 13 }, "7d": { chart: 29, trend: 15 } };

function per(seconds) {
  if (seconds >= 86400) return "day";
  return seconds <= 3600 ? "hour" : `${Math.round(seconds / 3600)} hours`;
}

/** Whether a problem is what the drawer's filters (code, touchpoint, tool) narrow to. */
export function problemMatches(problem, { code, touchpoint, tool }) {
  return (!code || problem.code === code) && (!touchpoint || problem.touchpoint === touchpoint)
    && (!tool || problem.tool === tool);
}

/** The chart: events per hour/day over the range, stacked by severity. */
export function chartView(timeline) {
  if (!timeline) return html`<div class="chart-slot" aria-busy="true"></div>`;
  const caption = `Events per ${per(timeline.bucketSeconds)}`;
  return html`<section class="chart-slot" aria-label=${caption}>
    <h3>${caption}</h3>${stackedBars(timeline.bySeverity, timeline.bucketStarts, timeline.bucketSeconds, { caption })}</section>`;
}

function where(problem) {
  const parts = [problem.touchpoint.replace("_", " "), problem.tool ? `tool ${problem.tool}` : ""];
  return parts.filter(Boolean).join(" · ");
}

/**
 * One problem. `handlers`: `occurrences(problem)`, `action(problem, button)`, `guide(problem, button)`;
 * `focused` says it is the one the list is narrowed to.
 */
export function problemItem(problem, handlers, { seconds, focused = false } = {}) {
  const action = problem.action && problem.action !== "none" ? ACTION_LABELS[problem.action] : "";
  const who = problem.usersAffected
    ? plural(problem.usersAffected, "user") + (problem.serverWide ? " and everyone (server-wide)" : "")
    : problem.serverWide ? "everyone (server-wide)" : "no user named";
  return html`<li class="problem sev-${problem.severity} ${focused ? "focused" : ""}" data-fingerprint=${problem.fingerprint} data-code=${problem.code}>
    <div class="line"><span class="sev">${SEVERITY_LABELS[problem.severity] || problem.severity}</span>
      <strong class="title">${problem.title}</strong><code class="code">${problem.code}</code>
      <span class="trend">${sparkline(problem.trend, { label: `Occurrences per ${per(seconds)}` })}</span></div>
    <p class="facts"><strong class="count" data-count=${problem.count}>${plural(problem.count, "time")}</strong>
      · <span class="users" data-users=${problem.usersAffected}>${who}</span> · ${where(problem)}</p>
    <p class="meta">First ${timeTag(problem.firstSeen)} · last ${timeTag(problem.lastSeen)}</p>
    <div class="debug"><span>Latest Debug ID</span><code class="debug-id">${problem.latestDebugId}</code>
      <button type="button" class="copy" data-copy=${problem.latestDebugId} aria-label="Copy Debug ID ${problem.latestDebugId}">Copy</button>
      <span class="sr" aria-live="polite"></span><span class="kept"></span></div>
    <div class="actions">
      ${action ? html`<button type="button" class="act" data-action=${problem.action} @click=${(e) => handlers.action(problem, e.currentTarget)}>${action}</button>` : nothing}
      ${problem.action !== "docs" ? html`<button type="button" class="guide" data-guide=${problem.code} aria-label="Guide for ${problem.code}">Guide</button>` : nothing}
      <button type="button" class="occurrences" aria-pressed=${String(focused)} @click=${() => handlers.occurrences(problem)}
        aria-label="Occurrences of ${problem.code}${problem.tool ? ` in ${problem.tool}` : ""}">${focused ? "Showing its occurrences" : "Occurrences"}</button>
    </div></li>`;
}

/** The problems list, or what its absence means. */
export function problemsView(answer, filters, handlers, rangeLabel) {
  if (!answer) return html`<p class="state" aria-busy="true">Loading problems…</p>`;
  const shown = answer.items.filter((p) => problemMatches(p, filters));
  const focused = filters.code && filters.touchpoint ? shown.length === 1 : false;
  if (!answer.items.length) return html`<p class="ok-line" data-problems="0">No problems in the ${rangeLabel.toLowerCase()}.</p>`;
  if (!shown.length) return html`<p class="ok-line" data-problems="0">No problem matches these filters (${plural(answer.items.length, "problem")} in all).</p>`;
  return html`<ol class="problems" aria-label="Problems" data-problems=${shown.length}>
    ${shown.map((p) => problemItem(p, handlers, { seconds: answer.bucketSeconds, focused }))}</ol>`;
}
