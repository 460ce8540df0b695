// One stylesheet for both custom elements (<mcp-diagnostics-drawer>, <mcp-doctor>) and the event rows the
// support page shows in the page itself: adopted by each shadow root and by the document.
//
// The colours come from the host page's custom properties (styles.css defines them, light and dark); each
// one is read once here, with the fallback an embedding page gets when it defines none. Rules for one
// element are scoped with :host(<tag>), so the document adopting this sheet only picks up the event rows.

const CSS = String.raw`
:root, :host {
  --c-font: var(--font, system-ui, sans-serif);
  --c-mono: var(--mono, ui-monospace, monospace);
  --c-text: var(--text, #1b1f24);
  --c-muted: var(--muted, #5b6472);
  --c-surface: var(--surface, #fff);
  --c-surface-2: var(--surface-2, #f0f2f5);
  --c-border: var(--border, #dde1e7);
  --c-accent: var(--accent, #2563eb);
  --c-accent-text: var(--accent-text, #fff);
  --c-focus: var(--focus, #2563eb);
  --c-shadow: var(--shadow, 0 8px 24px rgb(0 0 0 / 20%));
  --c-ok: var(--ok, #15803d);
  --c-info: var(--info, #1d4ed8);
  --c-warn: var(--warn, #a16207);
  --c-err: var(--err, #b91c1c);
  --c-err-bg: var(--err-bg, #fee2e2);
  --c-crit: var(--crit, #7e1d6a);
  --c-ok-bg: var(--ok-bg, #dcfce7);
  --c-info-bg: var(--info-bg, #dbeafe);
  --c-warn-bg: var(--warn-bg, #fef3c7);
  --c-crit-bg: var(--crit-bg, #fae8ff);
  --c-neutral-bg: var(--neutral-bg, #e5e7eb);
}
@media (prefers-color-scheme: dark) {
  :root, :host {
    --c-text: var(--text, #e6e9ee); --c-muted: var(--muted, #9aa4b2); --c-surface: var(--surface, #171b21);
    --c-surface-2: var(--surface-2, #1f242c); --c-border: var(--border, #2d333d); --c-accent: var(--accent, #60a5fa);
    --c-accent-text: var(--accent-text, #0b1220); --c-focus: var(--focus, #93c5fd); --c-ok: var(--ok, #4ade80);
    --c-info: var(--info, #93c5fd); --c-warn: var(--warn, #fbbf24); --c-err: var(--err, #f87171);
    --c-err-bg: var(--err-bg, #3f1717); --c-crit: var(--crit, #f0abfc); --c-ok-bg: var(--ok-bg, #12301d);
    --c-info-bg: var(--info-bg, #172a45); --c-warn-bg: var(--warn-bg, #3a2c0b); --c-crit-bg: var(--crit-bg, #3b1640);
    --c-neutral-bg: var(--neutral-bg, #2a2f38);
  }
}

/* -- both elements ---------------------------------------------------------------------------------- */
/* The page's box-sizing does not reach into a shadow root: without this the 100vw drawer is 1px too wide. */
:host, :host *, :host *::before, :host *::after { box-sizing: border-box; }
:host { font: 15px/1.5 var(--c-font); color: var(--c-text); }
:host [hidden] { display: none !important; }
:host button, :host select, :host input, :host textarea {
  font: inherit; color: var(--c-text); background: var(--c-surface); border: 1px solid var(--c-border);
  border-radius: 8px; padding: 5px 10px; min-width: 0;
}
:host select, :host input, :host textarea { font-weight: 400; }
:host button { cursor: pointer; }
:host button:hover { background: var(--c-surface-2); }
:host button.primary { background: var(--c-accent); color: var(--c-accent-text); border-color: var(--c-accent); font-weight: 600; }
:host button:disabled { opacity: .6; cursor: progress; }
:host :focus-visible { outline: 2px solid var(--c-focus); outline-offset: 2px; }
:host label { display: grid; gap: 2px; font-size: 12px; color: var(--c-muted); font-weight: 600; }
:host small { color: var(--c-muted); font-weight: 400; }
:host .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }

/* -- event rows: the drawer's timeline and the support page ----------------------------------------- */
ol.events { list-style: none; margin: 0; padding: 0; }
li.row { border-bottom: 1px solid var(--c-border); padding: 12px 0 12px 14px; position: relative; }
li.row:last-child { border-bottom: 0; }
li.row::before { content: ""; position: absolute; left: 0; top: 14px; bottom: 14px; width: 4px; border-radius: 4px; background: var(--c-muted); }
li.sev-critical::before { background: var(--c-crit); }
li.sev-error::before { background: var(--c-err); }
li.sev-warning::before { background: var(--c-warn); }
li.sev-info::before { background: var(--c-info); }
li.row .line { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; }
li.row .sev { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: .03em; }
li.sev-critical .sev { color: var(--c-crit); }
li.sev-error .sev { color: var(--c-err); }
li.sev-warning .sev { color: var(--c-warn); }
li.sev-info .sev { color: var(--c-info); }
li.row code { font-family: var(--c-mono); font-size: 12.5px; overflow-wrap: anywhere; }
li.row .server { overflow-wrap: anywhere; }
li.row time { margin-left: auto; color: var(--c-muted); font-size: 13px; }
li.row .msg { margin: 4px 0; overflow-wrap: anywhere; }
li.row .meta { color: var(--c-muted); font-size: 13px; overflow-wrap: anywhere; }
li.row .repeats { font-size: 13px; margin: 2px 0 4px; }
li.row .repeats time { margin-left: 0; font-size: inherit; }
li.row .debug { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 6px; font-size: 13px; color: var(--c-muted); }
li.row .debug code { color: var(--c-text); background: var(--c-surface-2); padding: 1px 6px; border-radius: 6px; word-break: break-all; }
li.row button.copy, li.row button.guide { font: inherit; font-size: 12px; padding: 2px 8px; cursor: pointer; color: var(--c-text); background: var(--c-surface); border: 1px solid var(--c-border); border-radius: 8px; }
li.row button.copy.done { color: var(--c-ok); border-color: var(--c-ok); }
li.row details { margin-top: 6px; font-size: 13px; }
li.row summary { cursor: pointer; color: var(--c-accent); }
li.row pre { white-space: pre-wrap; word-break: break-word; background: var(--c-surface-2); padding: 8px 10px; border-radius: 8px; margin: 6px 0 0; font-family: var(--c-mono); font-size: 12px; }
li.row .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
li.row .kept, li.problem .kept { color: var(--c-ok); font-size: 12px; }
li.row.fresh { animation: arrive 1.6s ease-out; }
@keyframes arrive { from { background: var(--c-info-bg); } to { background: transparent; } }

/* -- state badges: the drawer's header (the page has its own in styles.css) -------------------------- */
:host .badge { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; font-weight: 600; padding: 2px 9px;
  border-radius: 999px; white-space: nowrap; background: var(--c-neutral-bg); color: var(--c-muted); }
:host .badge::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
:host .badge.connected { background: var(--c-ok-bg); color: var(--c-ok); }
:host .badge.degraded, :host .badge.needs_auth, :host .badge.auth_expired { background: var(--c-warn-bg); color: var(--c-warn); }
:host .badge.unreachable, :host .badge.misconfigured, :host .badge.failing { background: var(--c-err-bg); color: var(--c-err); }

/* -- charts (charts.js) ------------------------------------------------------------------------------ */
svg.spark { display: block; color: var(--c-muted); overflow: visible; }
li.sev-critical svg.spark { color: var(--c-crit); }
li.sev-error svg.spark { color: var(--c-err); }
li.sev-warning svg.spark { color: var(--c-warn); }
figure.chart { margin: 0; }
figure.chart svg { display: block; width: 100%; height: 86px; }
figure.chart rect.bar:hover { opacity: .8; }
figure.chart figcaption { display: flex; align-items: center; gap: 8px; font-size: 12px; color: var(--c-muted); margin-top: 4px; }
figure.chart figcaption .legend { flex: 1; display: flex; flex-wrap: wrap; justify-content: center; gap: 4px 10px; }
figure.chart .key i { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
table.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }

/* -- problems (problems.js): the drawer's first section ---------------------------------------------- */
ol.problems { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px; }
li.problem { border: 1px solid var(--c-border); border-left-width: 4px; border-radius: 10px; padding: 10px 12px; background: var(--c-surface); }
li.problem.sev-critical { border-left-color: var(--c-crit); }
li.problem.sev-error { border-left-color: var(--c-err); }
li.problem.sev-warning { border-left-color: var(--c-warn); }
li.problem.focused { box-shadow: 0 0 0 2px var(--c-accent); }
li.problem .line { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; }
li.problem .sev { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: .03em; }
li.problem.sev-critical .sev { color: var(--c-crit); }
li.problem.sev-error .sev { color: var(--c-err); }
li.problem.sev-warning .sev { color: var(--c-warn); }
li.problem .title { overflow-wrap: anywhere; }
li.problem code { font-family: var(--c-mono); font-size: 12px; overflow-wrap: anywhere; }
li.problem .trend { margin-left: auto; }
li.problem p { margin: 4px 0 0; font-size: 13px; overflow-wrap: anywhere; }
li.problem .facts strong { font-variant-numeric: tabular-nums; }
li.problem .meta { color: var(--c-muted); }
li.problem .debug { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 6px; font-size: 13px; color: var(--c-muted); }
li.problem .debug code { color: var(--c-text); background: var(--c-surface-2); padding: 1px 6px; border-radius: 6px; word-break: break-all; }
li.problem .actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
li.problem button { font-size: 12.5px; padding: 3px 9px; }
li.problem button.occurrences[aria-pressed="true"] { border-color: var(--c-accent); color: var(--c-accent); }
li.problem .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }

/* -- <mcp-diagnostics-drawer> ----------------------------------------------------------------------- */
:host(mcp-diagnostics-drawer) { position: fixed; inset: 0; z-index: 50; pointer-events: none; }
:host(mcp-diagnostics-drawer[open]) { pointer-events: auto; }
:host(mcp-diagnostics-drawer) .scrim { position: absolute; inset: 0; background: rgb(0 0 0 / 35%); opacity: 0; transition: opacity .2s; }
:host(mcp-diagnostics-drawer[open]) .scrim { opacity: 1; }
:host(mcp-diagnostics-drawer) .panel {
  position: absolute; top: 0; right: 0; height: 100%; width: min(560px, 100vw); background: var(--c-surface);
  border-left: 1px solid var(--c-border); box-shadow: var(--c-shadow);
  transform: translateX(100%); transition: transform .22s ease; display: flex; flex-direction: column;
}
:host(mcp-diagnostics-drawer[open]) .panel { transform: none; }
:host(mcp-diagnostics-drawer) header { display: flex; align-items: flex-start; gap: 8px; padding: 16px 18px 10px; border-bottom: 1px solid var(--c-border); }
:host(mcp-diagnostics-drawer) header .heading { flex: 1; min-width: 0; }
:host(mcp-diagnostics-drawer) header h2 { margin: 0; font-size: 18px; overflow-wrap: anywhere; }
:host(mcp-diagnostics-drawer) header p { margin: 4px 0 0; color: var(--c-muted); font-size: 13px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
:host(mcp-diagnostics-drawer) .live { font-size: 12px; }
:host(mcp-diagnostics-drawer) .live[data-live="live"]::before { content: "●"; color: var(--c-ok); margin-right: 4px; }
:host(mcp-diagnostics-drawer) .live[data-live="reconnecting"]::before, :host(mcp-diagnostics-drawer) .live[data-live="polling"]::before { content: "●"; color: var(--c-warn); margin-right: 4px; }
:host(mcp-diagnostics-drawer) .recheck-button, :host(mcp-diagnostics-drawer) .close { flex: none; }
:host(mcp-diagnostics-drawer) p.recheck { margin: 0; padding: 8px 18px; font-size: 13px; border-bottom: 1px solid var(--c-border); overflow-wrap: anywhere; }
:host(mcp-diagnostics-drawer) p.recheck.ok { background: var(--c-ok-bg); color: var(--c-text); }
:host(mcp-diagnostics-drawer) p.recheck.error { background: var(--c-err-bg); color: var(--c-text); }
:host(mcp-diagnostics-drawer) p.recheck code { font-family: var(--c-mono); font-size: 12px; }
:host(mcp-diagnostics-drawer) p.recheck .meta { color: var(--c-muted); display: block; font-size: 12px; }
:host(mcp-diagnostics-drawer) .body h3 { font-size: 14px; margin: 16px 0 8px; display: flex; align-items: baseline; gap: 8px; }
:host(mcp-diagnostics-drawer) .body h3 .count { color: var(--c-muted); font-weight: 400; font-size: 12px; }
:host(mcp-diagnostics-drawer) .chart-slot { min-height: 120px; }
:host(mcp-diagnostics-drawer) .ok-line { color: var(--c-muted); margin: 0; font-size: 14px; }
:host(mcp-diagnostics-drawer) .filters .chip { border-radius: 999px; font-size: 12.5px; padding: 3px 10px; background: var(--c-info-bg); }
:host(mcp-diagnostics-drawer) .filters { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 8px; padding: 10px 18px; border-bottom: 1px solid var(--c-border); }
:host(mcp-diagnostics-drawer) .filters .clear { border: 0; background: none; color: var(--c-accent); padding: 5px 4px; text-decoration: underline; }
:host(mcp-diagnostics-drawer) .body { overflow-y: auto; flex: 1; padding: 6px 18px 24px; }
:host(mcp-diagnostics-drawer) .state { color: var(--c-muted); padding: 28px 4px; text-align: center; }
:host(mcp-diagnostics-drawer) .state.error { color: var(--c-err); }
:host(mcp-diagnostics-drawer) .state strong { color: var(--c-text); }
:host(mcp-diagnostics-drawer) .state button { margin-top: 10px; }
:host(mcp-diagnostics-drawer) .more { display: block; margin: 14px auto 0; }
@media (max-width: 480px) {
  :host(mcp-diagnostics-drawer) .filters { padding: 8px 12px; }
  :host(mcp-diagnostics-drawer) .filters label { flex: 1 1 40%; }
  :host(mcp-diagnostics-drawer) .body { padding: 4px 12px 20px; }
  :host(mcp-diagnostics-drawer) header { padding: 12px 12px 8px; flex-wrap: wrap; }
  :host(mcp-diagnostics-drawer) header .heading { flex-basis: 100%; order: -1; }
  :host(mcp-diagnostics-drawer) .close { margin-left: auto; }
  :host(mcp-diagnostics-drawer) p.recheck { padding: 8px 12px; }
  /* the legend on a row of its own under the chart, the two ends above it: no key wraps alone */
  figure.chart figcaption { flex-wrap: wrap; justify-content: space-between; }
  figure.chart figcaption .legend { order: 1; flex-basis: 100%; }
  li.problem .trend { margin-left: 0; flex-basis: 100%; }
}

/* -- <mcp-doctor> ----------------------------------------------------------------------------------- */
:host(mcp-doctor) { display: block; }
:host(mcp-doctor) form { display: grid; gap: 10px; }
:host(mcp-doctor) .fields { display: grid; gap: 10px; grid-template-columns: minmax(0, 1fr) auto; }
:host(mcp-doctor) label { gap: 4px; font-size: 13px; }
:host(mcp-doctor) input, :host(mcp-doctor) select, :host(mcp-doctor) textarea { padding: 7px 10px; }
:host(mcp-doctor) textarea { font-family: var(--c-mono); font-size: 13px; min-height: 56px; resize: vertical; }
:host(mcp-doctor) ol { list-style: none; margin: 14px 0 0; padding: 0; border: 1px solid var(--c-border); border-radius: 10px; }
:host(mcp-doctor) li { border-top: 1px solid var(--c-border); padding: 8px 12px; }
:host(mcp-doctor) li:first-child { border-top: 0; }
:host(mcp-doctor) .line { display: flex; align-items: baseline; gap: 10px; }
:host(mcp-doctor) .mark { width: 1.4em; text-align: center; font-weight: 700; }
:host(mcp-doctor) .name { font-weight: 600; min-width: 9em; }
:host(mcp-doctor) .ms { margin-left: auto; color: var(--c-muted); font-size: 13px; font-variant-numeric: tabular-nums; }
:host(mcp-doctor) .summary { margin: 2px 0 0 2.4em; color: var(--c-muted); font-size: 14px; }
:host(mcp-doctor) li.ok .mark { color: var(--c-ok); }
:host(mcp-doctor) li.warn .mark { color: var(--c-warn); }
:host(mcp-doctor) li.fail { background: var(--c-err-bg); }
:host(mcp-doctor) li.fail .mark, :host(mcp-doctor) li.fail .name { color: var(--c-err); }
:host(mcp-doctor) li.fail .summary { color: var(--c-text); }
:host(mcp-doctor) li.skipped, :host(mcp-doctor) li.pending { color: var(--c-muted); }
:host(mcp-doctor) li.running .mark { animation: pulse 1s infinite; }
@keyframes pulse { 50% { opacity: .3; } }
:host(mcp-doctor) details { margin: 6px 0 0 2.4em; font-size: 13px; }
:host(mcp-doctor) pre { white-space: pre-wrap; word-break: break-word; background: var(--c-surface-2); padding: 8px 10px; border-radius: 8px; font-family: var(--c-mono); font-size: 12px; }
:host(mcp-doctor) .verdict { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
:host(mcp-doctor) .verdict code { background: var(--c-surface-2); padding: 1px 6px; border-radius: 6px; font-family: var(--c-mono); font-size: 12.5px; word-break: break-all; }
:host(mcp-doctor) .error { color: var(--c-err); margin: 10px 0 0; }
@media (prefers-reduced-motion: reduce) { :host *, li.row { animation: none !important; transition: none !important; } }
`;

export const elementStyles = new CSSStyleSheet();
elementStyles.replaceSync(CSS);

/** Give `root` (a shadow root, or the document for the support page's rows) the shared sheet, once. */
export function adoptElementStyles(root) {
  if (!root.adoptedStyleSheets.includes(elementStyles)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, elementStyles];
}
