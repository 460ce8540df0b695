// The one way the UI builds HTML: lit-html's tagged templates (vendored, see vendor/README.md). A value in
// `html`...`` (or `svg`...`` for charts) is text or an attribute value, never markup, so a server-chosen
// string cannot become HTML. Nothing in the UI assigns HTML strings (tests/ui/test_static.py checks).

export { html, nothing, render, svg } from "./vendor/lit-html.js";
