"""Where the troubleshooting guides live: one Markdown file per catalog code, `<CODE>.md`.

`docs/codes/` in the repository is the one source. The wheel carries those files in `mcpdiag/ui/guides/`
(hatch `force-include`, so a built package holds exactly what the repository holds); a source checkout or
an editable install, which has no such folder, reads `docs/codes/` itself.
"""

from __future__ import annotations

import re
from pathlib import Path

_PACKAGED = Path(__file__).parent / "guides"
_CHECKOUT = Path(__file__).resolve().parents[3] / "docs" / "codes"

GUIDES_DIR = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
"""The folder holding `<CODE>.md` for every code of the catalog."""

# The catalog's own code syntax: no dots or slashes, so a name can never leave GUIDES_DIR.
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{2,63}$")


def guide_codes() -> list[str]:
    """The codes that have a guide, sorted."""
    return sorted(path.stem for path in GUIDES_DIR.glob("*.md") if _CODE.match(path.stem))


def guide_text(code: str) -> str | None:
    """The Markdown guide of `code`, or None when there is none (or `code` is not a code)."""
    if not _CODE.match(code):
        return None
    path = GUIDES_DIR / f"{code}.md"
    return path.read_text(encoding="utf-8") if path.is_file() else None
