"""`GET /api/guides` and `GET /api/guides/{code}`: the troubleshooting guide of every catalog code, as safe
HTML for the UI's "Learn more" and the drawer.

No token is needed: a guide is product documentation, the same text the package ships and `mcpdiag explain`
prints, with nothing of any tenant in it; the UI can show it before or after a sign-in expires, and a host
page that embeds the drawer can open it. Each answer is one of a fixed set of files rendered once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mcpdiag.api.errors import NotFoundError
from mcpdiag.api.guide_html import catalog_guide
from mcpdiag.collector.handlers import ErrorBody
from mcpdiag.emitters import CATALOG
from mcpdiag.emitters.redact import quoted

router = APIRouter(prefix="/api/guides", tags=["guides"])


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class GuideEntry(_Camel):
    """A code that has a guide."""

    code: str
    title: str


class GuideIndex(_Camel):
    """Every catalog code's guide."""

    guides: list[GuideEntry]


class Guide(_Camel):
    """One guide: the catalog facts of its code and the guide as HTML without scripts, images or raw HTML."""

    code: str
    title: str
    severity: str
    action: str
    html: str


@router.get("", response_model=GuideIndex, response_model_by_alias=True, summary="Every guide")
async def guide_index() -> GuideIndex:
    """The codes of the catalog that have a troubleshooting guide, and each guide's title."""
    found = [(code, catalog_guide(code)) for code in CATALOG]
    return GuideIndex(guides=[GuideEntry(code=c, title=g.title) for c, g in found if g is not None])


@router.get(
    "/{code}",
    response_model=Guide,
    response_model_by_alias=True,
    responses={404: {"model": ErrorBody, "description": "Not a catalog code (the message lists them)"}},
    summary="One code's troubleshooting guide",
)
async def guide(code: Annotated[str, Path(max_length=64)]) -> Guide:
    """The guide of `code` (e.g. MCP_PROXY_SSE_ISSUE) rendered to safe HTML."""
    rendered = catalog_guide(code)
    if rendered is None:
        raise NotFoundError(f"no guide for {quoted(code)}; the codes are {', '.join(sorted(CATALOG))}")
    info = CATALOG[code]
    return Guide(
        code=code, title=rendered.title, severity=info.severity.value, action=info.action.value,
        html=rendered.html,
    )  # fmt: skip
