// Small formatting helpers shared by the pages and the drawer.

export const ACTION_LABELS = {
  authenticate: "Authenticate",
  edit_server: "Edit server",
  retry: "Retry",
  docs: "Learn more",
  contact_admin: "Contact admin",
};

export const SEVERITY_LABELS = {
  debug: "Debug", info: "Info", warning: "Warning", error: "Error", critical: "Critical",
};

/** The UI's "now": the real time, or, in the view of a support bundle, the end of the bundle's window (what
 * "the last 24 hours" and "3 minutes ago" are counted from there). */
export const clock = {
  offset: 0,
  now() { return Date.now() + this.offset; },
};

const UNITS = [["year", 31536e6], ["month", 2592e6], ["day", 864e5], ["hour", 36e5], ["minute", 6e4], ["second", 1e3]];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "3 minutes ago" for an RFC 3339 time. */
export function timeAgo(iso, now = clock.now()) {
  const delta = new Date(iso).getTime() - now;
  for (const [unit, ms] of UNITS) {
    if (Math.abs(delta) >= ms || unit === "second") return relative.format(Math.round(delta / ms), unit);
  }
  return iso;
}

/** The absolute local date and time, for a tooltip. */
export function absoluteTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** The time ranges the drawer and the bundle form offer: label and length. */
export const RANGES = {
  "1h": { label: "Last hour", ms: 36e5 },
  "24h": { label: "Last 24 hours", ms: 864e5 },
  "7d": { label: "Last 7 days", ms: 6048e5 },
};

/** When a range that ends now starts, as RFC 3339. */
export function rangeStart(range, now = clock.now()) {
  return new Date(now - RANGES[range].ms).toISOString();
}

/** "24h" → "24 h", for sentences. */
export function windowLabel(window) {
  return String(window || "").replace(/^(\d+)([mhd])$/, "$1 $2");
}

/** "1 failure", "3 failures". */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

export function shortId(id) {
  return id ? `${id.slice(0, 8)}…${id.slice(-4)}` : "";
}

/** Copy text to the clipboard; resolves true on success. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}
