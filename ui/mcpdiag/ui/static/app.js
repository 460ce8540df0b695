// The mcpdiag web UI's shell: theme, session chrome (user chip, sign out, navigation) and the router that
// shows one page module at a time (pages/index.js lists them).

import { API_BASE, ApiClient, ApiError, adoptFragmentToken, session } from "./api.js";
import { showBundle } from "./bundleview.js";
import "./doctor.js";
import "./drawer.js";
import { HOME, PAGES, pagesFor } from "./pages/index.js";
import * as signin from "./pages/signin.js";
import { html, nothing, render } from "./templates.js";

const view = document.getElementById("view");
// What a page gets: where to render, the API client, who is signed in, the catalog, the drawer, a toast,
// and `signal`, aborted when another page replaces it (a page checks it after each wait).
const ctx = { view, drawer: document.getElementById("drawer"), client: null, me: null, catalog: {}, toast, routing: null };

// -- theme ---------------------------------------------------------------------------------------

const THEME_KEY = "mcpdiag.theme";
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const toggle = document.getElementById("theme-toggle");
  toggle.setAttribute("aria-label", theme === "dark" ? "Switch to light theme" : "Switch to dark theme");
  toggle.setAttribute("aria-pressed", String(theme === "dark"));
}
const prefersDark = matchMedia("(prefers-color-scheme: dark)");
applyTheme(localStorage.getItem(THEME_KEY) || (prefersDark.matches ? "dark" : "light"));
prefersDark.addEventListener("change", (e) => { if (!localStorage.getItem(THEME_KEY)) applyTheme(e.matches ? "dark" : "light"); });
document.getElementById("theme-toggle").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

// -- chrome --------------------------------------------------------------------------------------

function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 2200);
}

/** The navigation: the pages the signed-in role may open, the current one marked. */
function renderNav(current) {
  render(pagesFor(ctx.me?.role).map((page) => html`<a href="#/${page.route}" data-nav=${page.route}
    aria-current=${page.route === current ? "page" : nothing}>${page.label}</a>`), document.querySelector("nav.nav"));
}

function renderUser() {
  const chip = document.getElementById("user-chip");
  chip.textContent = ctx.me ? `${ctx.me.userId} · ${ctx.me.role}` : "";
  chip.hidden = !ctx.me;
  document.getElementById("sign-out").hidden = !ctx.me;
}

// -- routing -------------------------------------------------------------------------------------

async function route() {
  if (!ctx.me) return;
  ctx.drawer.close(); // a server's drawer belongs to the page that opened it, not to the next one
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || HOME;
  const page = pagesFor(ctx.me.role).find((p) => p.route === name) || PAGES.find((p) => p.route === HOME);
  renderNav(page.route);
  // The page shown before may still be waiting for the API: it must not draw over this one.
  ctx.routing?.abort();
  const routing = (ctx.routing = new AbortController());
  const module = await page.load();
  if (routing.signal.aborted) return;
  render(html``, view); // a fresh page: nothing of the previous one is reused
  await module.show({ ...ctx, signal: routing.signal });
  view.focus({ preventScroll: true });
}

async function signIn(failure) {
  ctx.routing?.abort();
  ctx.me = null;
  renderUser();
  renderNav("");
  await signin.show(ctx, async (token) => {
    session.token = token;
    await start();
  }, failure);
}

async function start() {
  ctx.client = new ApiClient({ base: API_BASE, token: session.token });
  if (API_BASE) ctx.drawer.setAttribute("api-base", API_BASE);
  try {
    ctx.me = await ctx.client.get("/api/me");
  } catch (error) {
    if (error.status === 401) session.token = null;
    await signIn(error.status === 401 ? null : error);
    return;
  }
  // The read-only view of a support bundle: a banner naming it, and "now" at the end of its window.
  ctx.bundle = ctx.me.bundle || null;
  if (ctx.bundle) showBundle(ctx.bundle);
  ctx.drawer.toggleAttribute("read-only", Boolean(ctx.bundle)); // nothing there acts on the servers
  ctx.drawer.toggleAttribute("snapshot", Boolean(ctx.bundle)); // and nothing there changes
  try {
    ctx.catalog = (await ctx.client.get("/api/catalog")).codes;
  } catch { ctx.catalog = {}; }
  renderUser();
  await route();
}

// A request whose token no longer works: sign out at once, saying why (the drawer's live view and the
// pages' refreshes would otherwise go stale behind a raw error, or silently).
addEventListener("mcpdiag:unauthorized", (event) => {
  if (!ctx.me || event.detail.base !== ctx.client?.base || event.detail.token !== session.token) return;
  session.token = null;
  ctx.drawer.close();
  signIn(new ApiError(401, "signed_out", `You were signed out: ${event.detail.message} Sign in again to continue.`));
});

document.getElementById("sign-out").addEventListener("click", () => {
  session.token = null;
  signIn();
});
window.addEventListener("hashchange", route);
adoptFragmentToken();
if (session.token) start();
else signIn();
