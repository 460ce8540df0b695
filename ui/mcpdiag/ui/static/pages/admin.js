// The admin page: choose a bundle's scope, download it, and see the same bundle as a CLI command.

import { copyText, rangeStart } from "../format.js";
import { mountTransfer } from "../transfer.js";
import { html, nothing, render } from "../templates.js";
import { errorBox, setTitle } from "./common.js";
import { mountOpenBundle } from "./openbundle.js";

const CONTENTS = [
  ["MANIFEST.json", "scope, counts, SHA-256 of every file, retention coverage"],
  ["MANIFEST.sha256", "the manifest's own SHA-256 (and MANIFEST.hmac with a bundle key)"],
  ["README.md", "what each file is and how it was sanitized"],
  ["summary.json", "counts by server, code, severity, touchpoint and hour"],
  ["analysis.md", "findings by severity and impact: the decisive detail, the onset, what to check"],
  ["events/<server>.jsonl", "the sanitized events, oldest first"],
  ["redactions.json", "how many values each redaction rule removed"],
  ["version.json, system_info.json, settings.json", "versions, host facts, settings without secrets"],
];

function shellQuote(value) {
  return /^[\w.@:-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

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
  const encryption = form.encryption.value;
  if (encryption === "recipients") parts.push("--recipient age1…");
  else if (encryption === "passphrase") parts.push("--passphrase-file FILE");
  else if (encryption === "none") parts.push("--no-encrypt");
  return parts.join(" ");
}

/** The scope as POST /api/admin/bundle's JSON body, with the passphrase (never put in a URL). */
function bundleBody(form) {
  const params = bundleParams(form);
  return { ...params, includeDetail: form.includeDetail.checked, passphrase: form.passphrase.value };
}

/** GET's `encrypt`: true or false when chosen, absent for the server's default (encrypted when it has recipients). */
function encryptParam(form) {
  return { recipients: "true", none: "false" }[form.encryption.value];
}

function bundleParams(form) {
  const params = { server: [...form.server.selectedOptions].map((o) => o.value), severity: form.severity.value || undefined,
    userId: form.userId.value.trim() || undefined, debugId: form.debugId.value.trim() || undefined,
    includeDetail: form.includeDetail.checked ? undefined : "false" };
  if (form.range.value === "custom") {
    params.from = form.from.value ? new Date(form.from.value).toISOString() : undefined;
    params.to = form.to.value ? new Date(form.to.value).toISOString() : undefined;
  } else {
    params.from = rangeStart(form.range.value);
  }
  return params;
}

function download(response, blob) {
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "mcpdiag-support.zip";
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  return name;
}

export async function show(ctx) {
  setTitle("Admin");
  let servers = [];
  try {
    servers = Object.keys(await ctx.client.allStatuses()).sort();
  } catch { /* the form still works for all servers */ }
  if (ctx.signal.aborted) return;
  const state = { custom: false, passphrase: false, command: "", busy: false, status: nothing };
  const form = () => ctx.view.querySelector("#bundle-form");
  const update = () => {
    state.custom = form().range.value === "custom";
    state.passphrase = form().encryption.value === "passphrase";
    state.command = cliCommand(form());
    paint();
  };
  const submit = async (event) => {
    event.preventDefault();
    state.busy = true;
    state.status = nothing;
    paint();
    try {
      const response = form().encryption.value === "passphrase"
        ? await ctx.client.request("/api/admin/bundle", { method: "POST", body: bundleBody(form()), raw: true })
        : await ctx.client.request("/api/admin/bundle", { params: { ...bundleParams(form()), encrypt: encryptParam(form()) }, raw: true });
      const blob = await response.blob();
      if (ctx.signal.aborted) return;
      const name = download(response, blob);
      state.status = html`<p class="message" data-downloaded=${name}>Downloaded <code>${name}</code> (${(blob.size / 1024).toFixed(1)} KiB).</p>`;
    } catch (error) {
      state.status = errorBox(error);
    } finally {
      state.busy = false;
      if (!ctx.signal.aborted) paint();
    }
  };
  const copy = async () => ctx.toast((await copyText(cliCommand(form()))) ? "Command copied" : "Copy failed");
  const paint = () => render(html`<h1>Support bundle</h1><p class="lede">A sanitized ZIP of stored diagnostics to attach to a support case.</p>
    <div class="two-col">
      <form class="panel form" id="bundle-form" aria-label="Bundle scope" @input=${update} @change=${update} @submit=${submit}>
        <label>Servers <select name="server" multiple aria-describedby="servers-hint">
          ${servers.map((s) => html`<option value=${s}>${s}</option>`)}</select>
          <small id="servers-hint">None selected: every server.</small></label>
        <div class="form-row">
          <label>Time range <select name="range">
            <option value="1h">Last hour</option><option value="24h" selected>Last 24 hours</option>
            <option value="7d">Last 7 days</option><option value="custom">Custom…</option></select></label>
          <label>Minimum severity <select name="severity">
            <option value="">Everything</option><option value="warning">Warnings and up</option>
            <option value="error">Errors and up</option><option value="critical">Critical</option></select></label>
        </div>
        <div class="form-row" id="custom-range" ?hidden=${!state.custom}>
          <label>From <input type="datetime-local" name="from"></label>
          <label>To <input type="datetime-local" name="to"></label>
        </div>
        <div class="form-row">
          <label>User id <input name="userId" autocomplete="off" placeholder="all users"></label>
          <label>Debug ID <input name="debugId" autocomplete="off" placeholder="optional"></label>
        </div>
        <label class="checkbox"><input type="checkbox" name="includeDetail" checked> Include technical detail</label>
        <div class="form-row">
          <label>Encryption (age) <select name="encryption" aria-describedby="encryption-hint">
            <option value="">Server default</option><option value="recipients">To the configured recipients</option>
            <option value="passphrase">With a passphrase…</option><option value="none">None: a plain ZIP</option></select>
            <small id="encryption-hint">The default encrypts to MCPDIAG_BUNDLE_RECIPIENTS when they are set.</small></label>
          <label ?hidden=${!state.passphrase}>Passphrase <input type="password" name="passphrase" autocomplete="new-password"
            minlength="8" ?required=${state.passphrase}></label>
        </div>
        <div><button class="button primary" type="submit" id="download" ?disabled=${state.busy}>${state.busy ? "Preparing bundle…" : "Download bundle"}</button></div>
        <div id="bundle-status" aria-live="polite">${state.status}</div>
      </form>
      <aside class="stack">
        <section class="panel stack"><h2>What the bundle contains</h2>
          <ul class="contents">${CONTENTS.map(([f, d]) => html`<li><code>${f}</code> — ${d}</li>`)}</ul></section>
        <p class="notice"><strong>Review before sharing.</strong> Secrets are redacted and a leak scan blocks any bundle in
          which a known secret survives, but the events still name servers, users and tools.</p>
        <section class="panel stack"><h2>Same bundle from the command line</h2><pre class="cli" id="cli-command">${state.command}</pre>
          <div><button type="button" class="button small" id="copy-cli" @click=${copy}>Copy command</button></div></section>
      </aside>
    </div>
    <div id="open-bundle-slot"></div>
    <div id="transfer-slot"></div>`, ctx.view);
  paint();
  update();
  // Export/import builds its own DOM inside a slot lit renders once and never touches again.
  mountTransfer(ctx.view.querySelector("#transfer-slot"), ctx.client);
  // Opening a dropped bundle renders into its own slot the same way (pages/openbundle.js).
  mountOpenBundle(ctx.view.querySelector("#open-bundle-slot"), ctx.client);
}
