// The support page: find a Debug ID, see every event of its trace and the user's events around it.

import { adoptElementStyles } from "../element-styles.js";
import { eventItem, keptUntilText } from "../events.js";
import { html, nothing, render } from "../templates.js";
import { errorBox, setTitle } from "./common.js";

const ROW = { server: true, user: true, copy: false };

function results(found, id) {
  const events = found.items || [];
  const related = found.related || [];
  return html`<section class="panel stack" aria-label="Trace timeline">
      <h2>Trace <code>${found.traceId || events[0]?.traceId || id}</code></h2>
      ${found.keptUntil ? html`<p class="kept-line" data-kept-until=${found.keptUntil}>${keptUntilText(found.keptUntil)}: looking a
        Debug ID up keeps its trace for support past normal retention.</p>` : nothing}
      <ol class="events plain-list">${events.map((e) => eventItem(e, ROW))}</ol></section>
    <section class="panel stack" aria-label="Related events" style="margin-top:16px">
      <h2>Related events <span class="count">(same user and server, ±10 minutes)</span></h2>
      ${related.length ? html`<ol class="events plain-list">${related.map((e) => eventItem(e, ROW))}</ol>` : html`<p class="ok-line">No related events.</p>`}</section>`;
}

function failure(error, id) {
  if (error.status === 404) {
    return html`<p class="message warn" role="alert" data-result="not-found">No event found for <code>${id}</code>.
      Check the id, or it may be older than the retention window.</p>`;
  }
  if (error.status === 409) {
    return html`<p class="message warn" role="alert" data-result="ambiguous">${error.message} Enter more characters of the Debug ID.</p>`;
  }
  return errorBox(error);
}

export async function show(ctx) {
  setTitle("Support");
  // The event rows live in the page itself here: it needs their styles as the drawer's shadow root does.
  adoptElementStyles(document);
  let out = nothing;
  const paint = () => render(html`<h1>Find a Debug ID</h1>
    <p class="lede">Paste the Debug ID a user sent you (the full id or at least its first 8 characters).</p>
    <form class="search-bar" id="lookup" role="search" @submit=${search}>
      <input id="debug-id" name="debugId" placeholder="e.g. 4bf92f3577b34da6a3ce929d0e0e4736" autocomplete="off"
        aria-label="Debug ID" required minlength="8">
      <button class="button primary" type="submit">Search</button></form>
    <div id="lookup-result" aria-live="polite">${out}</div>`, ctx.view);
  async function search(event) {
    event?.preventDefault();
    const id = ctx.view.querySelector("#debug-id").value.trim();
    if (id.length < 8) {
      out = html`<p class="message warn" role="alert">Enter at least 8 characters of the Debug ID.</p>`;
    } else {
      out = html`<p class="message">Searching…</p>`;
      paint();
      try {
        out = results(await ctx.client.get(`/api/diagnostics/${encodeURIComponent(id)}`), id);
      } catch (error) {
        out = failure(error, id);
      }
    }
    if (!ctx.signal.aborted) paint();
  }
  paint();
  const initial = new URLSearchParams(location.hash.split("?")[1] || "").get("id");
  if (initial) {
    ctx.view.querySelector("#debug-id").value = initial;
    await search();
  }
}
