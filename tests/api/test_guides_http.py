"""`GET /api/guides` and `GET /api/guides/{code}`: every catalog code's guide as safe HTML, no token needed;
and the renderer's guarantees against hostile Markdown (no raw HTML, no images, only safe links)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpdiag.api.guide_html import render_guide
from mcpdiag.emitters import CATALOG
from tests.api.conftest import Api

KNOWN = ["MCP_TLS_ERROR", "MCP_TIMEOUT"]
SNIPPETS = ["img", "href", "javascript:", "https://x.y/", "<a "]
TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "code", "pre", "a", "span", "ul", "ol", "li"}
TAGS |= {"blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"}
ATTRIBUTES = {"href", "id", "class", "target", "rel", "data-guide", "data-anchor", "start", "style"}


async def test_every_catalog_code_has_a_guide_listed(api: Api) -> None:
    answer = await api.client.get("/api/guides")
    assert answer.status_code == 200
    listed = {g["code"]: g["title"] for g in answer.json()["guides"]}
    assert listed == {code: f"{code}: {info.title}" for code, info in CATALOG.items()}


@pytest.mark.parametrize("code", sorted(CATALOG))
async def test_a_guide_is_served_as_html_without_a_token(api: Api, code: str) -> None:
    """No Authorization header: the guide is product documentation, the same for everyone."""
    answer = await api.client.get(f"/api/guides/{code}")
    assert answer.status_code == 200, answer.text
    guide = answer.json()
    info = CATALOG[code]
    assert (guide["code"], guide["severity"], guide["action"]) == (
        code,
        info.severity.value,
        info.action.value,
    )
    assert guide["html"].startswith(f'<h1 id="{code.lower()}-')
    assert '<h2 id="how-to-fix">How to fix</h2>' in guide["html"]
    assert not re.search(r"<(?:script|img|iframe|style|object|embed|form|input)\b", guide["html"])


@pytest.mark.parametrize(
    "path", ["MCP_NOPE", "mcp_timeout", "..%2F..%2Fpyproject", "MCP_TIMEOUT.md", "A" * 70, "%00"]
)
async def test_anything_else_is_a_404_listing_the_codes(api: Api, path: str) -> None:
    answer = await api.client.get(f"/api/guides/{path}")
    assert answer.status_code in (400, 404), answer.text
    error = answer.json()["error"]
    if answer.status_code == 404:
        assert error["code"] == "not_found"
        # A decoded `/` never reaches the route (no such path); everything else is told the codes.
        assert "%2F" in path or "MCP_TIMEOUT" in error["message"]


async def test_the_openapi_contract_documents_the_guides(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert {"/api/guides", "/api/guides/{code}"} <= set(paths)
    assert "404" in paths["/api/guides/{code}"]["get"]["responses"]


HOSTILE = """# MCP_X: t

<script>alert(1)</script> <img src=x onerror=alert(1)> <a href="javascript:alert(1)">raw</a>

[js](javascript:alert(1)) [JS](JaVaScRiPt:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)
[vb](vbscript:msgbox) [proto](//evil.example/x) [rel](../../etc/passwd) [file](file:///etc/passwd)
![tracker](https://evil.example/pixel.png) <https://fine.example/ok> [ok](https://fine.example/)
[guide](MCP_TLS_ERROR.md#how-to-fix) [unknown guide](MCP_NOPE.md) [anchor](#how-to-fix)
[quote](https://x.example/"onmouseover="alert(1))

```sh runnable
echo "<b>not bold</b>"
```
"""


def test_hostile_markdown_renders_without_raw_html_scripts_images_or_unsafe_links() -> None:
    html = render_guide("MCP_X", HOSTILE, KNOWN).html
    assert (
        "<script" not in html and "<img" not in html and "onerror=" not in html.replace("onerror=alert", "")
    )
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    allowed = {"https://fine.example/ok", "https://fine.example/", "#guide/MCP_TLS_ERROR", "#how-to-fix"}
    assert set(hrefs) <= allowed | {"https://x.example/%22onmouseover=%22alert(1)"}
    assert 'data-guide="MCP_TLS_ERROR" data-anchor="how-to-fix"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<em>[image: tracker]</em>" in html
    assert "<span>unknown guide</span>" in html and "<span>proto</span>" in html
    assert '<code class="language-sh">echo &quot;&lt;b&gt;not bold&lt;/b&gt;&quot;' in html


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"<>\"'`[]()!#*_&;:/= \n-|", *SNIPPETS]),
        max_size=80,
    ).map("".join)
)
def test_no_markdown_makes_an_element_or_attribute_outside_the_renderers_set(text: str) -> None:
    """Whatever the Markdown, the HTML holds only the tags CommonMark makes and only safe attributes."""
    html = render_guide("MCP_X", text, KNOWN).html
    tags = set(re.findall(r"<([a-z0-9]+)", html))
    assert tags <= TAGS
    for attrs in re.findall(r"<[a-z0-9]+((?:\s[^>]*)?)>", html):
        names = set(re.findall(r'\s([a-z-]+)="', attrs))
        assert names <= {
            "href",
            "id",
            "class",
            "target",
            "rel",
            "data-guide",
            "data-anchor",
            "start",
            "style",
        }
        for href in re.findall(r'href="([^"]*)"', attrs):
            assert href.startswith(("https://", "http://", "#", "mailto:")), href
