"""The UI's static files: HTML is built only by templates that escape (no HTML strings assigned anywhere),
every module import resolves, and vendored code is the recorded file with its licence."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from mcpdiag.ui import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"
VENDORED = {"lit-html.js": "b878e7f95dec8a9b6e9b217faca6b6a11bad82ebc44c0caa77419ed83edd81f2"}
"""SHA-256 of each vendored file (vendor/README.md says where it comes from and how to update it)."""
HTML_SINKS = re.compile(
    r"\.(?:inner|outer)HTML\s*\+?=|insertAdjacentHTML|document\.write|createContextualFragment|\.srcdoc\s*="
)
OURS = sorted(p for p in STATIC_DIR.rglob("*") if p.suffix in (".js", ".html") and VENDOR not in p.parents)


def test_the_static_files_are_found() -> None:
    names = {p.relative_to(STATIC_DIR).as_posix() for p in OURS}
    assert {"app.js", "drawer.js", "doctor.js", "events.js", "templates.js", "pages/servers.js"} <= names


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.relative_to(STATIC_DIR).as_posix())
def test_no_html_is_built_from_strings(path: Path) -> None:
    """No `innerHTML =`, `outerHTML =`, `insertAdjacentHTML`, `document.write`: lit-html's `html` templates
    (templates.js) are the only way markup is made, so a value is never parsed as HTML."""
    text = path.read_text()
    found = [m.group(0) for m in HTML_SINKS.finditer(text)]
    assert not found, f"{path.name}: {found}"
    assert not re.search(r"\besc\(", text), f"{path.name} still escapes by hand"


@pytest.mark.parametrize("path", [p for p in OURS if p.suffix == ".js"], ids=lambda p: p.name)
def test_every_import_resolves(path: Path) -> None:
    """Each relative import names a file that exists (there is no build step to catch a typo)."""
    text = path.read_text()
    targets = re.findall(r"""(?:from|import)\s*\(?\s*["'](\.{1,2}/[^"']+)["']""", text)
    for target in targets:
        assert (path.parent / target).resolve().is_file(), f"{path.name} imports {target}"


def test_html_sinks_are_caught() -> None:
    """The check itself finds each way of assigning HTML (so a pass means something)."""
    for line in (
        'el.innerHTML = "<b>"',
        "el.outerHTML=x",
        "el.innerHTML += y",
        'el.insertAdjacentHTML("afterend", s)',
    ):
        assert HTML_SINKS.search(line), line
    assert not HTML_SINKS.search("el.textContent = s")


@pytest.mark.parametrize(("name", "sha256"), VENDORED.items())
def test_vendored_files_are_the_recorded_ones_with_their_licence(name: str, sha256: str) -> None:
    path = VENDOR / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    licence = VENDOR / f"{path.stem}.LICENSE"
    assert licence.is_file() and "Redistribution" in licence.read_text()
    assert name in (VENDOR / "README.md").read_text()
    # Self-contained: a vendored module imports nothing (no bare specifiers for a browser to fail on).
    assert not re.search(
        r"""^\s*import\s|[;}]\s*import\s*[{*\w]|\bimport\s*\(|from\s*["']""", path.read_text()
    )
