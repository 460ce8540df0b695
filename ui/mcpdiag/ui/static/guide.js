// <mcp-guide>: a code's troubleshooting guide (docs/codes/<CODE>.md) in a dialog, inside the product.
// The server renders the Markdown it ships to safe HTML (GET /api/guides/{code}, same origin, no token); this
// element parses that HTML with DOMParser (an inert document: nothing runs, nothing loads) and rebuilds only
// the elements and attributes a guide uses, so a page that shows a guide makes no request but that one.
// `openGuide(code, { base, opener })` is the one entry point the cards, the drawer and the doctor call.

import { ApiClient, ApiError } from "./api.js";
import { html, render } from "./templates.js";

const TAGS = new Set(["h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "pre", "code", "em", "strong", "a", "span",
  "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"]);
const ATTRIBUTES = { "*": ["id"], code: ["class"], a: ["href", "data-guide", "data-anchor", "target", "rel"],
  ol: ["start"], th: ["style"], td: ["style"] };
const SAFE_HREF = /^(?:https?:\/\/|mailto:|#)/i;
const SAFE_STYLE = /^text-align:(?:left|right|center)$/;
const CODE = /^[A-Z][A-Z0-9_]{2,63}$/;

const STYLE = `
:host { font: 15px/1.55 var(--font, system-ui, sans-serif); color: var(--text, #1b1f24); }
dialog { width: min(780px, 94vw); max-height: 88vh; padding: 0; border: 1px solid var(--border, #dde1e7);
  border-radius: 12px; background: var(--surface, #fff); color: inherit; box-shadow: var(--shadow, 0 8px 24px rgb(0 0 0 / 20%)); }
dialog::backdrop { background: rgb(0 0 0 / 40%); }
.frame { display: flex; flex-direction: column; max-height: 88vh; }
header { display: flex; align-items: center; gap: 8px; padding: 12px 16px; border-bottom: 1px solid var(--border, #dde1e7); }
header .where { color: var(--muted, #5b6472); font-size: 13px; }
header .end { margin-left: auto; display: flex; gap: 6px; }
button { font: inherit; font-size: 13px; color: var(--text, #1b1f24); background: var(--surface, #fff);
  border: 1px solid var(--border, #dde1e7); border-radius: 8px; padding: 4px 10px; cursor: pointer; }
button:hover { background: var(--surface-2, #f0f2f5); }
:focus-visible { outline: 2px solid var(--focus, #2563eb); outline-offset: 2px; }
article { overflow-y: auto; padding: 4px 22px 24px; }
article h1 { font-size: 20px; margin: 14px 0 8px; }
article h2 { font-size: 17px; margin: 22px 0 6px; }
article h3 { font-size: 15px; margin: 16px 0 4px; }
article blockquote { margin: 8px 0; padding: 8px 12px; border-left: 4px solid var(--accent, #2563eb);
  background: var(--surface-2, #f0f2f5); border-radius: 0 8px 8px 0; }
article blockquote p { margin: 0; }
article code { font-family: var(--mono, ui-monospace, monospace); font-size: 12.5px; }
article :not(pre) > code { background: var(--surface-2, #f0f2f5); padding: 1px 5px; border-radius: 5px; }
article pre { background: var(--surface-2, #f0f2f5); padding: 10px 12px; border-radius: 8px; overflow-x: auto; }
article table { border-collapse: collapse; font-size: 14px; }
article th, article td { border: 1px solid var(--border, #dde1e7); padding: 4px 8px; vertical-align: top; }
article a { color: var(--accent, #2563eb); }
.state { color: var(--muted, #5b6472); padding: 24px 22px; }
.state.error { color: var(--err, #b91c1c); }
[hidden] { display: none !important; }
`;

const cache = new Map();

/** The guide JSON of `code` ({code, title, severity, action, html}), fetched once per page. */
async function fetchGuide(base, code) {
  const key = `${base}|${code}`;
  if (!cache.has(key)) {
    cache.set(key, new ApiClient({ base }).get(`/api/guides/${encodeURIComponent(code)}`)
      .catch((error) => { cache.delete(key); throw error; }));
  }
  return cache.get(key);
}

/** The nodes of `html` rebuilt from an inert parse: allowed elements and attributes only, text as text. */
export function safeNodes(html, doc = document) {
  const parsed = new DOMParser().parseFromString(`<!doctype html><body>${html}`, "text/html");
  const rebuild = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return [doc.createTextNode(node.textContent)];
    if (node.nodeType !== Node.ELEMENT_NODE) return [];
    const tag = node.localName;
    const children = [...node.childNodes].flatMap(rebuild);
    if (!TAGS.has(tag)) return children; // unknown elements keep their text, never themselves
    const element = doc.createElement(tag);
    for (const name of [...(ATTRIBUTES["*"] || []), ...(ATTRIBUTES[tag] || [])]) {
      const value = node.getAttribute(name);
      if (value === null) continue;
      if (name === "href" && !SAFE_HREF.test(value.trim())) continue;
      if (name === "style" && !SAFE_STYLE.test(value.replace(/\s/g, ""))) continue;
      if (name === "data-guide" && !CODE.test(value)) continue;
      element.setAttribute(name, value);
    }
    if (tag === "a" && element.getAttribute("target") === "_blank") element.setAttribute("rel", "noopener noreferrer nofollow");
    element.append(...children);
    return [element];
  };
  return [...parsed.body.childNodes].flatMap(rebuild);
}

export class McpGuide extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    const root = this.shadowRoot;
    const style = document.createElement("style");
    style.textContent = STYLE;
    root.append(style);
    render(html`<dialog aria-labelledby="guide-title">
        <div class="frame">
          <header>
            <span class="where" id="guide-title">Troubleshooting guide</span>
            <div class="end">
              <button type="button" class="back" hidden>Back</button>
              <button type="button" class="close" aria-label="Close guide">Close</button>
            </div>
          </header>
          <p class="state" role="status" aria-live="polite"></p>
          <article class="guide" tabindex="-1"></article>
        </div>
      </dialog>`, root);
    this.dialog = root.querySelector("dialog");
    this.article = root.querySelector("article");
    this.state = root.querySelector(".state");
    this.backButton = root.querySelector(".back");
    this.history = [];
    this.base = "";
    this.opener = null;
    root.querySelector(".close").addEventListener("click", () => this.close());
    this.backButton.addEventListener("click", () => this.back());
    this.dialog.addEventListener("close", () => this.closed());
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.close(); // the backdrop
    });
    this.article.addEventListener("click", (event) => this.onLink(event));
  }

  get code() { return this.history[this.history.length - 1] || null; }

  /** Show the guide of `code` (from `base`, the API's origin; default this page's). */
  async show(code, { base = "", opener = null, anchor = null, push = false } = {}) {
    this.base = base;
    if (opener) this.opener = opener;
    if (push) this.history.push(code);
    else this.history = [code];
    this.backButton.hidden = this.history.length < 2;
    this.dataset.code = code;
    if (!this.dialog.open) this.dialog.showModal();
    await this.load(code, anchor);
  }

  async load(code, anchor = null) {
    this.article.replaceChildren();
    this.setState("Loading the guide…");
    delete this.dataset.loaded;
    try {
      const guide = await fetchGuide(this.base, code);
      if (this.code !== code) return; // another guide was asked for meanwhile
      this.article.append(...safeNodes(guide.html));
      this.shadowRoot.getElementById("guide-title").textContent = `Troubleshooting guide · ${guide.code}`;
      this.setState("");
      this.dataset.loaded = code;
      const target = anchor && this.shadowRoot.getElementById(anchor);
      if (target) target.scrollIntoView({ block: "start" });
      else this.article.scrollTop = 0;
      this.article.focus({ preventScroll: true });
    } catch (error) {
      if (this.code !== code) return;
      this.setState(error instanceof ApiError ? error.message : "The guide could not be loaded.", true);
    }
  }

  setState(text, isError = false) {
    this.state.textContent = text;
    this.state.hidden = !text;
    this.state.classList.toggle("error", isError);
  }

  onLink(event) {
    const link = event.target.closest("a");
    if (!link) return;
    if (link.dataset.guide) {
      event.preventDefault();
      this.show(link.dataset.guide, { base: this.base, anchor: link.dataset.anchor || null, push: true });
    } else if ((link.getAttribute("href") || "").startsWith("#")) {
      // In-guide anchors scroll the dialog; they must not touch the page's own #/route.
      event.preventDefault();
      this.shadowRoot.getElementById(link.getAttribute("href").slice(1))?.scrollIntoView({ block: "start" });
    }
  }

  back() {
    if (this.history.length < 2) return;
    this.history.pop();
    this.backButton.hidden = this.history.length < 2;
    this.dataset.code = this.code;
    this.load(this.code);
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  closed() {
    this.history = [];
    delete this.dataset.code;
    delete this.dataset.loaded;
    this.dispatchEvent(new CustomEvent("mcpdiag:guide-closed", { bubbles: true, composed: true }));
    if (this.opener && typeof this.opener.focus === "function") this.opener.focus();
    this.opener = null;
  }
}

if (!customElements.get("mcp-guide")) customElements.define("mcp-guide", McpGuide);

/** Open the guide of `code` in the page's one `<mcp-guide>` (created on first use). */
export function openGuide(code, { base = "", opener = document.activeElement } = {}) {
  let guide = document.querySelector("mcp-guide");
  if (!guide) {
    guide = document.createElement("mcp-guide");
    document.body.append(guide);
  }
  return guide.show(code, { base, opener });
}
