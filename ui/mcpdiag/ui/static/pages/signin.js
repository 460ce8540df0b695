// The sign-in page: in development mode, pick a demo user; otherwise, how to get signed in.

import { API_BASE, ApiClient } from "../api.js";
import { html, nothing, render } from "../templates.js";
import { errorBox, setTitle } from "./common.js";

/** Show the sign-in page (with `failure` on top, if any); `onToken(token)` gets the chosen user's token. */
export async function show(ctx, onToken, failure = null) {
  setTitle("Sign in");
  let users;
  try {
    users = (await new ApiClient({ base: API_BASE }).get("/api/dev/users")).users;
  } catch {
    render(html`${failure ? errorBox(failure) : nothing}<section class="panel signin"><h1>Sign in required</h1>
      <p class="lede">Open diagnostics from your chat app: it signs you in. (Administrators: the page accepts a
      bearer token as <code>#token=…</code>.)</p></section>`, ctx.view);
    return;
  }
  const choose = async (event, user) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const { token } = await new ApiClient({ base: API_BASE }).request("/api/dev/token", { method: "POST", body: { userId: user.userId } });
      await onToken(token);
    } catch (error) {
      button.disabled = false;
      failure = error;
      paint();
    }
  };
  const paint = () => render(html`<section class="panel signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to the demo</h1>
      <p class="lede">Development mode: pick who you want to be. Each role sees a different slice of the diagnostics.</p>
      <div class="choices">${users.map((u) => html`
        <button type="button" class="button choice" data-user=${u.userId} @click=${(e) => choose(e, u)}>
          <span><strong>${u.label}</strong><br><small>${u.description}</small></span>
          <span class="badge">${u.role}</span></button>`)}</div>
      ${failure ? errorBox(failure) : nothing}</section>`, ctx.view);
  paint();
}
