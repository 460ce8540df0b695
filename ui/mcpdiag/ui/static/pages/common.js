// What every page uses: the error box and the document title.

import { ApiError } from "../api.js";
import { html } from "../templates.js";

/** An alert with the API's message (or a generic one for anything else). */
export function errorBox(error) {
  const message = error instanceof ApiError ? error.message : "Something went wrong loading this page.";
  return html`<p class="message error" role="alert">${message}</p>`;
}

export function setTitle(title) {
  document.title = `${title} · mcpdiag`;
}
