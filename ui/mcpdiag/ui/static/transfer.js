// Export and import of events on the admin page: Export (filters, a size estimate, download) and Import (drop a
// file, a dry-run preview of counts and conflicts, progress from the job endpoint, the final summary).
// Every node is built with the DOM API and text set as text: nothing from the server becomes markup.

import { ApiError } from "./api.js";

const POLL_MS = 300;
const RANGES = [["", "Everything retained"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"]];
const SEVERITIES = [["", "Everything"], ["warning", "Warnings and up"], ["error", "Errors and up"], ["critical", "Critical"]];
const STYLE_ID = "mcpdiag-transfer-style";

/** `h("p", {class: "x"}, "text", child)`: an element with attributes, text and children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map((c) => (c instanceof Node ? c : String(c))));
  return el;
}

const number = (n) => Number(n || 0).toLocaleString("en-US");
const megabytes = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`);

function addStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const link = h("link", { id: STYLE_ID, rel: "stylesheet", href: new URL("./transfer.css", import.meta.url).href });
  document.head.append(link);
}

function message(kind, text, attrs = {}) {
  return h("p", { class: `message ${kind}`.trim(), role: kind === "error" ? "alert" : null, ...attrs }, text);
}

function errorText(error) {
  return error instanceof ApiError ? error.message : "Something went wrong; try again.";
}

/** POST a file as multipart (ApiClient speaks JSON only); the JSON answer, or an ApiError. */
async function upload(client, path, params, file) {
  const body = new FormData();
  body.append("file", file, file.name || "events.ndjson.gz");
  const headers = { Accept: "application/json" };
  if (client.token) headers.Authorization = `Bearer ${client.token}`;
  let response;
  try {
    response = await fetch(client.url(path, params), { method: "POST", headers, body });
  } catch {
    throw new ApiError(0, "network_error", "The diagnostics service could not be reached.");
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const error = payload?.error || {};
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message || `The upload failed (HTTP ${response.status}).`);
  }
  return payload;
}

// -- export --------------------------------------------------------------------------------------

function exportParams(form) {
  return {
    server: [...form.server.selectedOptions].map((o) => o.value),
    since: form.since.value || undefined,
    severity: form.severity.value || undefined,
    userId: form.userId.value.trim() || undefined,
  };
}

function exportPanel(client, servers) {
  const estimate = h("p", { class: "lede", id: "export-estimate", "aria-live": "polite" }, "Counting…");
  const status = h("div", { id: "export-status", "aria-live": "polite" });
  const button = h("button", { class: "button primary", type: "submit", id: "export-download" }, "Download export");
  const form = h("form", { class: "panel form", id: "export-form", "aria-label": "Export events" },
    h("h2", {}, "Export events"),
    h("label", {}, "Servers ",
      h("select", { name: "server", multiple: true }, servers.map((s) => h("option", { value: s }, s))),
      h("small", {}, "None selected: every server.")),
    h("div", { class: "form-row" },
      h("label", {}, "Time range ", h("select", { name: "since" }, RANGES.map(([v, t]) => h("option", { value: v }, t)))),
      h("label", {}, "Minimum severity ", h("select", { name: "severity" }, SEVERITIES.map(([v, t]) => h("option", { value: v }, t))))),
    h("label", {}, "User id ", h("input", { name: "userId", autocomplete: "off", placeholder: "all users" })),
    estimate,
    h("div", {}, button),
    status);

  let asked = 0;
  const refresh = async () => {
    const ticket = ++asked;
    try {
      const body = await client.get("/api/admin/export/estimate", exportParams(form));
      if (ticket !== asked) return;
      estimate.dataset.events = body.events;
      estimate.textContent = `About ${number(body.events)} events of ${number(body.servers.length)} server(s), ~${megabytes(body.estimatedBytes)} compressed.`;
    } catch (error) {
      if (ticket === asked) estimate.textContent = errorText(error);
    }
  };
  let timer = null;
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(refresh, 150); });
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  refresh();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    button.textContent = "Exporting…";
    status.replaceChildren();
    try {
      const response = await client.request("/api/admin/export", { params: exportParams(form), raw: true });
      const blob = await response.blob();
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "mcpdiag-events.ndjson.gz";
      const link = h("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      status.replaceChildren(message("", `Downloaded ${name} (${megabytes(blob.size)}).`, { "data-downloaded": name }));
    } catch (error) {
      status.replaceChildren(message("error", errorText(error)));
    } finally {
      button.disabled = false;
      button.textContent = "Download export";
    }
  });
  return form;
}

// -- import --------------------------------------------------------------------------------------

function progressView() {
  const label = h("span", { class: "transfer-phase" }, "Uploading…");
  const bar = h("progress", { max: 1, "aria-label": "Import progress" });
  return { el: h("div", { class: "transfer-progress", id: "import-progress" }, label, bar), label, bar };
}

function showProgress(view, job) {
  const { phase, done, total } = job.progress;
  const word = { counting: "Starting", checking: "Checking", importing: "Importing", done: "Finishing" }[phase] || phase;
  view.label.textContent = `${word}: ${number(done)}${total ? ` of ${number(total)}` : ""} events`;
  if (total) { view.bar.max = total; view.bar.value = Math.min(done, total); }
  else view.bar.removeAttribute("value");
}

async function runJob(client, file, params, progress) {
  const accepted = await upload(client, "/api/admin/import", params, file);
  for (;;) {
    const job = await client.get(accepted.status);
    showProgress(progress, job);
    if (job.state === "done" || job.state === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function problemsList(problems, badLines) {
  if (!problems?.length) return null;
  return h("div", { class: "stack", id: "import-problems" },
    h("p", { class: "message error", role: "alert" }, `${number(badLines || problems.length)} bad line(s): nothing will be imported until they are fixed.`),
    h("ol", { class: "plain-list transfer-problems" },
      problems.map((p) => h("li", {}, h("code", {}, `line ${number(p.line)}`), ` ${p.field}: ${p.message}`))));
}

function preview(report) {
  const source = report.source;
  const figures = [
    ["Events in the file", report.lines, "lines"],
    ["New: to import", report.inserted, "inserted"],
    ["Already present", report.present + report.updated, "present"],
    ["Past retention: skipped", report.expired, "expired"],
  ];
  return h("section", { class: "stack", id: "import-preview", "aria-label": "Dry run preview" },
    h("h3", {}, "Preview"),
    h("p", {}, `Export of ${source.host}, made ${new Date(source.createdAt).toLocaleString()}: ${number(source.events)} events of ${number(source.servers)} server(s).`),
    h("dl", { class: "transfer-figures" }, figures.map(([term, value, key]) => [h("dt", {}, term), h("dd", { "data-count": key }, number(value))])),
    report.servers.length
      ? h("table", { class: "transfer-servers" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Server"), h("th", { scope: "col" }, "Events"), h("th", { scope: "col" }, "Past retention"))),
          h("tbody", {}, report.servers.map((s) => h("tr", {}, h("td", {}, s.server), h("td", {}, number(s.valid)), h("td", {}, number(s.expired))))))
      : null,
    problemsList(report.problems, report.badLines),
    h("p", { class: "ok-line", id: "dry-run-summary" }, report.summary));
}

function importPanel(client) {
  const input = h("input", { type: "file", accept: ".gz,application/gzip", hidden: true, id: "import-file" });
  const zone = h("div", { class: "transfer-drop", id: "drop-zone", role: "button", tabindex: "0",
    "aria-label": "Drop an export file here, or choose one" },
    h("strong", {}, "Drop an export file here"), h("span", {}, " or click to choose one (.ndjson.gz)"));
  const conflict = h("fieldset", { class: "form-row", id: "import-conflict" },
    h("legend", {}, "An event already stored"),
    h("label", { class: "checkbox" }, h("input", { type: "radio", name: "conflict", value: "skip", checked: true }), " keep it (skip)"),
    h("label", { class: "checkbox" }, h("input", { type: "radio", name: "conflict", value: "update" }), " replace it with the file's"));
  const result = h("div", { class: "stack", id: "import-result", "aria-live": "polite" });
  const panel = h("section", { class: "panel form", id: "import-panel", "aria-label": "Import events" },
    h("h2", {}, "Import events"),
    h("p", { class: "lede" }, "Every line is checked first; nothing is stored unless all of them are valid. Events already stored are skipped by id."),
    zone, input, conflict, result);
  let file = null;

  const chosenConflict = () => panel.querySelector("input[name=conflict]:checked").value;

  async function dryRun() {
    const progress = progressView();
    result.replaceChildren(h("p", {}, `${file.name} (${megabytes(file.size)})`), progress.el);
    let job;
    try {
      job = await runJob(client, file, { dryRun: "true", conflict: chosenConflict() }, progress);
    } catch (error) {
      result.replaceChildren(message("error", errorText(error)));
      return;
    }
    progress.el.remove();
    if (job.state === "failed") {
      result.append(message("error", job.error.message, { id: "import-error" }), problemsList(job.error.problems, job.error.badLines) || "");
      return;
    }
    const report = job.report;
    const go = h("button", { class: "button primary", type: "button", id: "import-commit", disabled: report.badLines > 0 || report.lines === 0 },
      `Import ${number(report.inserted)} events`);
    go.addEventListener("click", () => commit(go));
    result.append(preview(report), h("div", {}, go));
  }

  async function commit(button) {
    button.disabled = true;
    const progress = progressView();
    result.append(progress.el);
    try {
      const job = await runJob(client, file, { conflict: chosenConflict() }, progress);
      progress.el.remove();
      if (job.state === "done") result.append(message("", job.report.summary, { id: "import-summary", "data-inserted": job.report.inserted }));
      else result.append(message("error", job.error.message, { id: "import-error" }), problemsList(job.error.problems, job.error.badLines) || "");
    } catch (error) {
      progress.el.remove();
      result.append(message("error", errorText(error)));
      button.disabled = false;
    }
  }

  function choose(files) {
    if (!files || !files.length) return;
    file = files[0];
    dryRun();
  }

  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); } });
  input.addEventListener("change", () => choose(input.files));
  for (const name of ["dragenter", "dragover"]) zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    choose(event.dataTransfer?.files);
  });
  return panel;
}

/** Add the Export and Import panels to `container` (the admin page); the server list fills in when known. */
export function mountTransfer(container, client) {
  addStyle();
  const exporter = exportPanel(client, []);
  const section = h("section", { class: "transfer", id: "transfer", "aria-label": "Export and import events" },
    h("h1", {}, "Export and import events"),
    h("p", { class: "lede" }, "Move events between deployments as gzipped NDJSON: the same files as mcpdiag export and mcpdiag import."),
    h("div", { class: "two-col" }, exporter, importPanel(client)));
  container.append(section);
  client.get("/api/admin/export/estimate").then((body) => {
    if (!section.isConnected) return;
    exporter.server.replaceChildren(...body.servers.map((s) => h("option", { value: s.server }, s.server)));
  }).catch(() => { /* the export form still works for every server */ });
  return section;
}
