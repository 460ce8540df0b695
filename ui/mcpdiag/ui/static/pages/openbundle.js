// The admin page's "Open a support bundle": drop a bundle (.zip, or .zip.age with its passphrase or age
// identity), see its counts, servers, window and verify result, open it, follow the load, and reach its
// read-only view (served under /bundles/<id>/ by this server, from a throwaway store; see
// mcpdiag.api.opened). The upload's progress comes from XMLHttpRequest (fetch reports none).

import { ApiError } from "../api.js";
import { addBundleStyle } from "../bundleview.js";
import { absoluteTime } from "../format.js";
import { html, nothing, render } from "../templates.js";
import { errorBox } from "./common.js";

const POLL_MS = 300;
const number = (n) => Number(n || 0).toLocaleString("en-US");
const megabytes = (bytes) => `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`;

/** POST the bundle as multipart with its key fields; `onProgress(sent, total)` as it goes. */
function upload(client, file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", client.url("/api/admin/bundles"));
    xhr.setRequestHeader("Accept", "application/json");
    if (client.token) xhr.setRequestHeader("Authorization", `Bearer ${client.token}`);
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body?.error?.code || `http_${xhr.status}`, body?.error?.message || `The upload failed (HTTP ${xhr.status}).`));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error", "The diagnostics service could not be reached.")));
    const form = new FormData();
    form.append("file", file, file.name || "bundle.zip");
    for (const [name, value] of Object.entries(fields)) if (value) form.append(name, value);
    xhr.send(form);
  });
}

function progressBar(label, done, total, id) {
  return html`<div class="bundle-progress" id=${id}><span data-progress-label>${label}</span>
    <progress max=${total || 1} .value=${Math.min(done, total || 1)} aria-label=${label}></progress></div>`;
}

function checks(verify) {
  return html`<ul class="bundle-checks" id="bundle-verify" data-ok=${String(verify.ok)}>${verify.checks.map((c) => html`
    <li data-ok=${String(c.ok)}>${c.ok === false ? "✗" : c.ok ? "✓" : "–"} <strong>${c.name}</strong>: ${c.detail}</li>`)}</ul>`;
}

function preview(entry) {
  return html`<section class="stack" id="bundle-preview" aria-label="Bundle preview">
    <h3>${entry.name}</h3>
    <dl class="bundle-figures">
      <dt>From host</dt><dd data-preview="host">${entry.hostname || "—"}</dd>
      <dt>Window</dt><dd data-preview="window">${absoluteTime(entry.windowFrom)} – ${absoluteTime(entry.windowTo)}</dd>
      <dt>Events</dt><dd data-preview="events">${number(entry.events)}</dd>
      <dt>Failures</dt><dd data-preview="failures">${number(entry.failures)}</dd>
      <dt>Made</dt><dd>${absoluteTime(entry.generatedAt)}${entry.encrypted ? " · was encrypted (age)" : ""}</dd>
    </dl>
    <table class="bundle-servers" id="bundle-servers"><thead><tr><th scope="col">Server</th><th scope="col">Events</th></tr></thead>
      <tbody>${entry.servers.map((s) => html`<tr><td>${s.server}</td><td>${number(s.events)}</td></tr>`)}</tbody></table>
    ${checks(entry.verify)}</section>`;
}

/** Render the panel into `container` (a slot of the admin page) and keep it current. */
export function mountOpenBundle(container, client) {
  addBundleStyle();
  const state = { phase: "idle", file: null, sent: 0, total: 0, entry: null, error: null };
  const paint = () => render(view(), container);

  const reset = () => Object.assign(state, { phase: "idle", file: null, entry: null, error: null });
  const fail = (error) => { state.phase = "error"; state.error = error; paint(); };

  async function send(fields) {
    state.phase = "uploading";
    state.sent = 0;
    state.total = state.file.size;
    paint();
    try {
      state.entry = await upload(client, state.file, fields, (sent, total) => { state.sent = sent; state.total = total; paint(); });
      state.phase = "preview";
      paint();
    } catch (error) { fail(error); }
  }

  function choose(files) {
    if (!files || !files.length) return;
    state.file = files[0];
    state.error = null;
    if (/\.age$/i.test(state.file.name)) { state.phase = "key"; paint(); } else send({});
  }

  const sendKey = (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    send({ passphrase: form.passphrase.value, identity: form.identity.value.trim() });
  };

  async function open() {
    state.phase = "loading";
    paint();
    try {
      let entry = await client.request(`${state.entry.status}/open`, { method: "POST" });
      while (entry.phase === "loading") {
        state.entry = entry;
        paint();
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        entry = await client.get(state.entry.status);
      }
      state.entry = entry;
      if (entry.phase === "failed") fail(new ApiError(400, "invalid_bundle", entry.error || "The bundle could not be loaded."));
      else { state.phase = "ready"; paint(); }
    } catch (error) { fail(error); }
  }

  async function close() {
    const entry = state.entry;
    reset();
    paint();
    if (entry) await client.request(entry.status, { method: "DELETE", raw: true }).catch(() => {});
  }

  const onDrag = (event) => { event.preventDefault(); event.currentTarget.classList.add("over"); };
  const onLeave = (event) => event.currentTarget.classList.remove("over");
  const onDrop = (event) => { event.preventDefault(); event.currentTarget.classList.remove("over"); choose(event.dataTransfer?.files); };
  const pick = () => container.querySelector("#bundle-file").click();
  const onKey = (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pick(); } };

  function body() {
    const { phase, entry } = state;
    if (phase === "idle" || phase === "error") {
      return html`<div class="bundle-drop" id="bundle-drop" role="button" tabindex="0"
          aria-label="Drop a support bundle here, or choose one" @click=${pick} @keydown=${onKey}
          @dragenter=${onDrag} @dragover=${onDrag} @dragleave=${onLeave} @drop=${onDrop}>
          <strong>Drop a support bundle here</strong><span> or click to choose one (.zip or .zip.age)</span></div>
        <input type="file" id="bundle-file" accept=".zip,.age,application/zip" hidden @change=${(e) => choose(e.currentTarget.files)}>
        ${phase === "error" ? html`<div id="bundle-error">${errorBox(state.error)}</div>` : nothing}`;
    }
    if (phase === "key") {
      return html`<form class="form stack" id="bundle-key" @submit=${sendKey}>
        <p><code>${state.file.name}</code> is encrypted: give its passphrase, or the age identity it was encrypted to.
          They travel in the upload's body, to this server only.</p>
        <label>Passphrase <input type="password" name="passphrase" autocomplete="off"></label>
        <label>Or an age identity <textarea name="identity" rows="2" autocomplete="off" spellcheck="false"
          placeholder="AGE-SECRET-KEY-1…"></textarea></label>
        <div class="bundle-actions"><button class="button primary" type="submit" id="bundle-upload">Upload and preview</button>
          <button class="button" type="button" @click=${() => { reset(); paint(); }}>Cancel</button></div></form>`;
    }
    if (phase === "uploading") {
      return progressBar(`Uploading ${state.file.name}: ${megabytes(state.sent)} of ${megabytes(state.total)}`, state.sent, state.total, "bundle-upload-progress");
    }
    const actions = phase === "preview"
      ? html`<div class="bundle-actions"><button class="button primary" type="button" id="bundle-open" @click=${open}>Open read-only view</button>
          <button class="button" type="button" id="bundle-discard" @click=${close}>Discard</button></div>`
      : phase === "loading"
        ? progressBar(`Loading events: ${number(entry.progress.done)} of ${number(entry.progress.total)}`, entry.progress.done, entry.progress.total, "bundle-load-progress")
        : html`<div class="bundle-actions" id="bundle-ready"><a class="button primary" id="bundle-view" href=${entry.view}
              target="_blank" rel="noopener">Open the bundle's view</a>
            <button class="button" type="button" id="bundle-close" @click=${close}>Close it</button></div>
            <p class="meta">Read-only, signed in as a support viewer; it closes by itself after a few hours.</p>`;
    return html`${preview(entry)}${actions}`;
  }

  const view = () => html`<section class="panel stack open-bundle" id="open-bundle" aria-label="Open a support bundle">
    <h2>Open a support bundle</h2>
    <p class="lede">See a customer's bundle in this UI — servers, cards, timelines — from a throwaway copy, read-only.
      Nothing of it is written to this server's events.</p>
    <div aria-live="polite">${body()}</div></section>`;
  paint();
}
