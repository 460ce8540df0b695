"""Server-chosen strings in a bundle's Markdown (README.md, analysis.md) are text, never markup.

Server names, user ids and codes come from whoever sends events. Rendered by a CommonMark renderer with
raw HTML allowed (the worst case of a viewer), they must show literally and add no element of their own:
no link, image, script, emphasis, heading or table cell; the raw file holds no HTML tag opener either.
"""

from __future__ import annotations

import re
import zipfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.bundle.markdown import md_text
from mcpdiag.store import SQLiteEventStore
from tests.factories import NOW, make_event

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "**bold** and _em_",
    "[click](https://evil.example/login)",
    "![pixel](https://evil.example/p.png)",
    "`code` ``span``",
    "# not a heading #",
    "| a | b |",
    "&lt;b&gt; &amp; &#60;i&#62;",
    "<https://evil.example/auto>",
    "back\\slash\\",
    "~~struck~~ ~x~",
    "it's 'quoted'",
    "name</h2><h1>big",
]
OURS = {
    "h1",
    "h2",
    "p",
    "ul",
    "ol",
    "li",
    "strong",
    "code",
    "blockquote",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


class Html(HTMLParser):
    """The tags and the text of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render(markdown: str) -> Html:
    parsed = Html()
    parsed.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    return parsed


@pytest.mark.parametrize("value", HOSTILE)
def test_md_text_renders_as_the_literal_string(value: str) -> None:
    """In a sentence, a heading and a table cell, the escaped value renders as itself and nothing else."""
    for markdown, wrapper in (
        (f"Scope: {md_text(value)}.", "p"),
        (f"## {md_text(value)}", "h2"),
        (f"| a | b |\n|---|---|\n| {md_text(value)} | x |", "table"),
    ):
        html = render(markdown)
        assert set(html.tags) <= (
            {wrapper} | ({"thead", "tbody", "tr", "th", "td"} if wrapper == "table" else set())
        )
        assert value in "".join(html.text), (markdown, html.text)
        assert not re.search(r"<[A-Za-z!/?]", markdown)


def test_md_text_leaves_ordinary_names_and_codes_readable() -> None:
    for value in (
        "github",
        "docs-search",
        "local_files",
        "MCP_PROXY_SSE_ISSUE",
        "alice@example.com",
        "a.b:c",
    ):
        assert md_text(value) == value


def test_control_characters_cannot_start_a_block() -> None:
    """A newline (from any store) would end the line and start a heading or a list: it is neutralised."""
    escaped = md_text("name\n# heading\n- item\r\n> quote\u2028x")
    assert "\n" not in escaped and "\r" not in escaped and "\u2028" not in escaped
    assert render(f"## {escaped}").tags == ["h2"]


async def test_a_bundle_of_hostile_names_has_markdown_that_shows_them(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    """Every hostile server name and a hostile user id in the scope: analysis.md and README.md render with
    only their own elements, and show every name literally (one heading per server)."""
    start = NOW - timedelta(hours=2)
    events = [
        make_event(
            server=name, code="MCP_PROXY_SSE_ISSUE", user_id="<b>eve</b>", ts=start + timedelta(minutes=i)
        )
        for i, name in enumerate(HOSTILE)
    ]
    events.append(make_event(server=HOSTILE[0], code="MCP_WEIRD__NEW_", ts=start, severity="error"))
    await store.append(events)
    out = tmp_path / "out"
    out.mkdir()
    result = await export_bundle(
        store,
        BundleScope.parse(servers=HOSTILE, user_id="<b>eve</b>", now=NOW),
        out_dir=out,
        settings_snapshot={},
        app_version="x",
        environ={},
        now=NOW,
    )
    with zipfile.ZipFile(result.path) as zf:
        analysis, readme = zf.read("analysis.md").decode(), zf.read("README.md").decode()
    for name, text in (("analysis.md", analysis), ("README.md", readme)):
        ours = re.sub(r"(?<!\\)`[^`]*`", "", text)  # the README's own code spans (`events/<server>.jsonl`)
        assert not re.search(r"<[A-Za-z!/?]", ours), name
        html = render(text)
        assert set(html.tags) <= OURS, (name, set(html.tags) - OURS)
        shown = "".join(html.text)
        assert "<b>eve</b>" in shown
        for server in HOSTILE:
            assert server in shown, (name, server)
    headings = render(analysis).tags.count("h2")
    assert headings == len(HOSTILE)
