"""The web UI: static files under /ui/, and / sends browsers there."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from mcpdiag.ui import STATIC_DIR

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    """Browsers landing on the service go to the UI."""
    return RedirectResponse("/ui/", status_code=307)


def mount_ui(app: FastAPI) -> None:
    """Serve the UI's static folder at /ui/ (index.html for the folder itself)."""
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
