// Small charts drawn as SVG by lit-html templates (no library, no canvas): a sparkline of a trend, the
// drawer's events per bucket stacked by severity, and the Overview's server × time heatmap. Colours are the
// page's custom properties, so light and dark follow the theme; each chart has a text alternative and a
// <title> per mark, so the numbers are readable without a mouse.

import { SEVERITY_LABELS } from "./format.js";
import { html, nothing, svg } from "./templates.js";

export const STACK = ["critical", "error", "warning", "info", "debug"];
const COLORS = { critical: "var(--c-crit)", error: "var(--c-err)", warning: "var(--c-warn)", info: "var(--c-info)", debug: "var(--c-muted)" };

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const hourOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const dayTime = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** "14:00" for hourly buckets, "Mar 3" for daily ones, "Mar 3, 14:00" in between. */
export function bucketLabel(iso, seconds) {
  const when = new Date(iso);
  if (seconds >= 86400) return day.format(when);
  return seconds <= 3600 ? clock.format(when) : dayTime.format(when);
}

/** A trend as a tiny line with its last point marked; `label` says what it counts, for screen readers. */
export function sparkline(values, { label = "trend", width = 96, height = 24 } = {}) {
  const points = values.length ? values : [0];
  const top = Math.max(1, ...points);
  const step = points.length > 1 ? (width - 4) / (points.length - 1) : 0;
  const at = (v, i) => [2 + i * step, height - 3 - (v / top) * (height - 6)];
  const line = points.map((v, i) => at(v, i).map((n) => n.toFixed(1)).join(",")).join(" ");
  const [lx, ly] = at(points[points.length - 1], points.length - 1);
  const total = points.reduce((a, b) => a + b, 0);
  return html`<svg class="spark" viewBox="0 0 ${width} ${height}" width=${width} height=${height} role="img"
      aria-label="${label}: ${points.join(", ")}" data-total=${total}>
    ${svg`<polyline points=${line} fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" />
      <circle cx=${lx.toFixed(1)} cy=${ly.toFixed(1)} r="2" fill="currentColor" />`}</svg>`;
}

/**
 * Occurrences per bucket stacked by severity: `bySeverity` is {severity: [n per bucket]}, `starts` the
 * buckets' starts. Each bar segment has a <title>; the table under it (visually hidden) is the same data.
 */
export function stackedBars(bySeverity, starts, seconds, { height = 86, caption = "Events" } = {}) {
  const n = starts.length || 1;
  const width = 520;
  const gap = n > 40 ? 1 : 2;
  const barW = Math.max(1, (width - gap * (n - 1)) / n);
  const totals = starts.map((_, i) => STACK.reduce((sum, s) => sum + (bySeverity[s]?.[i] || 0), 0));
  const top = Math.max(1, ...totals);
  const bars = starts.map((start, i) => {
    let y = height;
    const x = i * (barW + gap);
    return STACK.filter((s) => bySeverity[s]?.[i]).map((s) => {
      const value = bySeverity[s][i];
      const h = Math.max(1.5, (value / top) * (height - 4));
      y -= h;
      return svg`<rect class="bar sev-${s}" x=${x.toFixed(1)} y=${y.toFixed(1)} width=${barW.toFixed(1)} height=${h.toFixed(1)}
        fill=${COLORS[s]} data-severity=${s} data-bucket=${i} data-count=${value}><title>${bucketLabel(start, seconds)} · ${value} ${SEVERITY_LABELS[s] || s}</title></rect>`;
    });
  });
  const used = STACK.filter((s) => (bySeverity[s] || []).some(Boolean));
  const sum = totals.reduce((a, b) => a + b, 0);
  // Hourly bars over a day start and end at the same clock time: the ends then name their days too.
  const days = starts.length > 1 && new Date(starts[0]).toDateString() !== new Date(starts[starts.length - 1]).toDateString();
  const end = (iso) => (days && seconds < 86400 ? dayTime.format(new Date(iso)) : bucketLabel(iso, seconds));
  const first = starts.length ? end(starts[0]) : "";
  const last = starts.length ? end(starts[starts.length - 1]) : "";
  return html`<figure class="chart" data-total=${sum}>
    <svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="${caption}: ${sum} in all">
      ${svg`<line x1="0" y1=${height - 0.5} x2=${width} y2=${height - 0.5} stroke="var(--c-border)" />`}${bars}</svg>
    <figcaption><span class="axis">${first}</span>
      <span class="legend">${used.length ? used.map((s) => html`<span class="key"><i style="background:${COLORS[s]}"></i>${SEVERITY_LABELS[s]}</span>`) : "No events"}</span>
      <span class="axis">${last}</span></figcaption>
    <table class="sr"><caption>${caption}</caption><tr><th>From</th>${used.map((s) => html`<th>${SEVERITY_LABELS[s]}</th>`)}</tr>
      ${starts.map((start, i) => html`<tr><td>${bucketLabel(start, seconds)}</td>${used.map((s) => html`<td>${bySeverity[s]?.[i] || 0}</td>`)}</tr>`)}</table>
  </figure>`;
}

/** The heat of one cell: 0 (none) to 4, on a log scale so one storm does not wash out every other row. */
export function heat(value, top) {
  if (!value) return 0;
  return Math.min(4, 1 + Math.floor((Math.log(value) / Math.log(Math.max(2, top))) * 3.999));
}

/**
 * Rows of cells, one per bucket: `rows` = [{server, trend, failures}], `onOpen(server, button)` opens the
 * server's drawer. Each cell's <title> says server, time and count.
 */
export function heatmap(rows, starts, seconds, onOpen) {
  const top = Math.max(1, ...rows.flatMap((r) => r.trend));
  // Five labels spread over the row (the middle ones dropped on narrow screens: styles.css hides `.minor`),
  // laid out apart from the cells so that no label widens the grid.
  const label = (s) => (seconds <= 3600 ? hourOnly.format(new Date(s)) : bucketLabel(s, seconds));
  const picks = [...new Set([0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * (starts.length - 1))))];
  return html`<div class="heatmap" role="table" aria-label="Failures per server over time" style="--cols:${starts.length}">
    <div class="hm-row hm-head" role="row"><span class="hm-name" role="columnheader">Server</span>
      <span class="hm-ticks" aria-hidden="true">${picks.map((i, n) => html`<span class=${n % 2 ? "minor" : ""}>${label(starts[i])}</span>`)}</span>
      <span class="hm-total" role="columnheader">Failures</span></div>
    ${rows.map((row) => html`<div class="hm-row" role="row" data-server=${row.server}>
      <span class="hm-name" role="rowheader"><button type="button" class="link" data-open=${row.server}
        @click=${(e) => onOpen(row.server, e.currentTarget)} aria-label="Diagnostics for ${row.server}">${row.server}</button></span>
      <span class="hm-cells" role="presentation">${row.trend.map((v, i) => html`<span class="hm-cell" role="cell" data-heat=${heat(v, top)}
        data-count=${v} title="${row.server} · ${bucketLabel(starts[i], seconds)} · ${v} failure${v === 1 ? "" : "s"}"><span class="sr">${v}</span></span>`)}</span>
      <span class="hm-total" role="cell">${row.failures}</span></div>`)}
  </div>`;
}
