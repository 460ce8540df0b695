// The read-only view of a support bundle (`mcpdiag open`, or a bundle an admin opened): the banner that names
// the bundle, its window and the host it came from, and the UI's clock set to the end of that window.

import { absoluteTime, clock } from "./format.js";
import { html, render } from "./templates.js";

const STYLE_ID = "mcpdiag-bundle-style";

/** The bundle pages' stylesheet (the banner, the admin page's drop zone), added once. */
export function addBundleStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const link = Object.assign(document.createElement("link"), {
    id: STYLE_ID, rel: "stylesheet", href: new URL("./bundle.css", import.meta.url).href,
  });
  document.head.append(link);
}

/** Show `bundle` (from /api/me) in a banner above the page, and count "now" from the end of its window. */
export function showBundle(bundle) {
  addBundleStyle();
  const end = Date.parse(bundle.windowTo || bundle.generatedAt);
  if (Number.isFinite(end)) clock.offset = end - Date.now();
  let bar = document.getElementById("bundle-banner");
  if (!bar) {
    bar = Object.assign(document.createElement("div"), { id: "bundle-banner", className: "bundle-banner" });
    bar.setAttribute("role", "note");
    bar.setAttribute("aria-label", "Support bundle");
    document.body.insertBefore(bar, document.getElementById("view"));
  }
  const skipped = bundle.skipped ? ` (${bundle.skipped.toLocaleString("en-US")} unreadable lines skipped)` : "";
  render(html`<strong>Support bundle</strong> <span class="bundle-name" data-bundle-name>${bundle.name}</span>
    <span>from <span data-bundle-host>${bundle.hostname || "an unnamed host"}</span></span>
    <span data-bundle-window>${absoluteTime(bundle.windowFrom)} – ${absoluteTime(bundle.windowTo)}</span>
    <span>${(bundle.loaded ?? bundle.events).toLocaleString("en-US")} events${skipped}</span>
    <span class="badge">read-only</span>`, bar);
}
