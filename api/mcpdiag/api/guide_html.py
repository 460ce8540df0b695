"""A troubleshooting guide (Markdown) rendered to HTML that is safe to put into the product's page.

Safety comes from what the renderer can emit, not from cleaning its output: raw HTML in the Markdown is
never passed through (markdown-it's `html` option is off, so `<script>` arrives as text), images become
their alt text (a guide never makes the browser fetch anything), and every link is one of three kinds —
another guide (`MCP_X.md` → a `data-guide` link the UI opens in place), an anchor in the same guide, or an
absolute `https://` / `http://` / `mailto:` address (opened in a new tab, no referrer). Any other target
(`javascript:`, `data:`, `//host`, a relative path to a file the product does not serve) keeps its text and
loses the link.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from mcpdiag.emitters import CATALOG
from mcpdiag.ui.guidebook import guide_text

_EXTERNAL = re.compile(r"^(?:https?://[^\s/]|mailto:)", re.IGNORECASE)
_GUIDE_LINK = re.compile(r"^(?:\./)?([A-Z][A-Z0-9_]{2,63})\.md(?:#([a-z0-9_-]{1,80}))?$")
_ANCHOR = re.compile(r"^#[a-z0-9_-]{1,80}$")
_SLUG_DROP = re.compile(r"[^a-z0-9 _-]")


@dataclass(frozen=True, slots=True)
class RenderedGuide:
    """A guide ready to show: its code, the title (its first heading) and the safe HTML body."""

    code: str
    title: str
    html: str


def slug(text: str) -> str:
    """The anchor of a heading, as GitHub spells it: lower case, spaces to dashes, punctuation dropped."""
    return _SLUG_DROP.sub("", text.strip().lower()).replace(" ", "-")[:80]


def _link_target(href: str, guides: Collection[str]) -> dict[str, str] | None:
    """The attributes a link keeps, or None when it must lose its link."""
    if found := _GUIDE_LINK.match(href):
        code, anchor = found.group(1), found.group(2)
        if code not in guides:
            return None
        attrs = {"href": f"#guide/{code}", "data-guide": code}
        return attrs | ({"data-anchor": anchor} if anchor else {})
    if _ANCHOR.match(href):
        return {"href": href}
    if _EXTERNAL.match(href):
        return {"href": href, "target": "_blank", "rel": "noopener noreferrer nofollow"}
    return None


def _relink(guides: Collection[str]) -> Any:
    def rule(state: StateCore) -> None:
        seen: dict[str, int] = {}
        for index, block in enumerate(state.tokens):
            if block.type == "heading_open" and index + 1 < len(state.tokens):
                anchor = slug(state.tokens[index + 1].content)
                # A repeated heading gets -1, -2, ... as on GitHub, so every anchor names one place.
                count = seen.get(anchor, 0)
                seen[anchor] = count + 1
                block.attrSet("id", f"{anchor}-{count}" if count else anchor)
            opened: list[Token] = []
            for token in block.children or ():
                if token.type == "link_open":
                    attrs = _link_target(str(token.attrGet("href") or ""), guides)
                    token.attrs = dict(attrs or {})
                    if attrs is None:
                        token.tag = "span"
                    opened.append(token)
                elif token.type == "link_close" and opened:
                    token.tag = opened.pop().tag  # a link that lost its target closes as a span too

    return rule


def _image_as_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # The alt text, escaped: a guide never makes the browser fetch an image.
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return f"<em>[image: {_escape(alt)}]</em>" if alt else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def markdown_renderer(guides: Collection[str]) -> MarkdownIt:
    """CommonMark with tables, no raw HTML, images as text and links limited to safe targets."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.core.ruler.push("mcpdiag_relink", _relink(frozenset(guides)))
    md.add_render_rule("image", _image_as_text)
    return md


def render_guide(code: str, markdown: str, guides: Collection[str]) -> RenderedGuide:
    """`markdown` as safe HTML; the title is its first level-1 heading (the code when there is none)."""
    md = markdown_renderer(guides)
    tokens = md.parse(markdown)
    title = next(
        (tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h1"),
        code,
    )
    return RenderedGuide(code=code, title=title, html=md.renderer.render(tokens, md.options, {}))


@lru_cache(maxsize=len(CATALOG) + 8)
def catalog_guide(code: str) -> RenderedGuide | None:
    """The rendered guide of a catalog code (cached: the files ship with the package), or None."""
    if code not in CATALOG:
        return None
    text = guide_text(code)
    return None if text is None else render_guide(code, text, CATALOG.keys())
