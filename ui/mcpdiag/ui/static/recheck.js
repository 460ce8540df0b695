// "Re-check": run the doctor (POST /api/mcp/doctor) against the endpoint a server's connection events name,
// stored as that server's inspection, which moves its state. Used by the server cards and the drawer.
// stdio servers are re-checked from the command line (`mcpdiag doctor --stdio`): the API never runs commands.

import { ApiError } from "./api.js";
import { html, nothing } from "./templates.js";

const STATE_LABELS = {
  connected: "Connected", idle: "Idle", needs_auth: "Sign-in needed", auth_expired: "Sign-in expired",
  unreachable: "Unreachable", misconfigured: "Misconfigured", degraded: "Degraded", failing: "Failing",
  unknown: "No data yet",
};

/** The label of a server state (`state` of the status API). */
export function stateLabel(state) {
  return STATE_LABELS[state] || state || STATE_LABELS.unknown;
}

/** Whether `endpoint` ({address, transport}) can be re-checked from the browser. */
export function canRecheck(endpoint) {
  return Boolean(endpoint?.address) && endpoint.transport !== "stdio" && /^https?:\/\//i.test(endpoint.address);
}

/** Why a Re-check button is not offered (for its tooltip), or "" when it is. */
export function recheckHint(endpoint) {
  if (!endpoint?.address) return "No connection has named this server's endpoint yet.";
  if (!canRecheck(endpoint)) return `stdio server (${endpoint.address}): run mcpdiag doctor --stdio where it runs.`;
  return "";
}

/** Run the doctor against `endpoint` for `server`; resolves to the doctor's result, or {error} to show. */
export async function recheck(client, server, endpoint) {
  const body = { url: endpoint.address, transport: endpoint.transport === "sse" ? "sse" : "streamable-http", server };
  try {
    return await client.request("/api/mcp/doctor", { method: "POST", body });
  } catch (error) {
    return { error: error instanceof ApiError ? error.message : "The re-check could not run." };
  }
}

/** One line saying what a re-check found. */
export function recheckVerdict(result) {
  if (!result) return nothing;
  if (result.error) return html`<p class="recheck error" role="status" data-recheck="error">Re-check: ${result.error}</p>`;
  if (result.ok) {
    return html`<p class="recheck ok" role="status" data-recheck="ok">Re-check passed: the server answers as an MCP server should.
      <span class="meta">Debug ID <code>${result.debugId}</code></span></p>`;
  }
  const step = (result.steps || []).find((s) => s.name === result.failedStep);
  if (result.refused) {
    return html`<p class="recheck refused" role="status" data-recheck="refused">Re-check not run: ${step?.summary || ""}
      The card is unchanged; an admin can let the service reach this server in <code>MCPDIAG_DOCTOR_ALLOW</code>.
      <span class="meta">Debug ID <code>${result.debugId}</code></span></p>`;
  }
  const signIn = result.code === "MCP_AUTH_REQUIRED" && result.failedStep === "oauth";
  const text = signIn ? "the server answers and asks for sign-in (a re-check cannot sign in as you)." : step?.summary || "";
  return html`<p class="recheck ${signIn ? "ok" : "error"}" role="status" data-recheck=${signIn ? "sign-in" : "failed"}>
    Re-check ${signIn ? "reached the sign-in" : html`failed at ${result.failedStep}`}: <code>${result.code}</code> — ${text}
    <span class="meta">Debug ID <code>${result.debugId}</code></span></p>`;
}
