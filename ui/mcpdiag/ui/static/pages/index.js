// The pages of the UI: one module each, loaded when first shown. A page module exports
// `show(ctx)`, which renders into `ctx.view` (see app.js for what `ctx` holds). A new page is one entry here.

export const PAGES = [
  { route: "servers", label: "Servers", roles: ["user", "support", "admin"], load: () => import("./servers.js") },
  { route: "overview", label: "Overview", roles: ["support", "admin"], load: () => import("./overview.js") },
  { route: "support", label: "Support", roles: ["support", "admin"], load: () => import("./support.js") },
  { route: "admin", label: "Admin", roles: ["admin"], load: () => import("./admin.js") },
];

export const HOME = "servers";

/** The pages `role` may open (none signed in: only the home page's link). */
export function pagesFor(role) {
  return PAGES.filter((page) => (role ? page.roles.includes(role) : page.route === HOME));
}
