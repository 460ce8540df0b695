"""Server-chosen strings in a bundle's Markdown: written so they read as themselves and nothing else."""

from __future__ import annotations

import re

# HTML's own characters become entities, so no raw tag or autolink (`<https://…>`) reaches a viewer that
# renders HTML; Markdown's inline punctuation is backslash-escaped. An underscore between letters or
# digits (`MCP_TIMEOUT`, `local_files`) never starts emphasis in CommonMark and stays as it is.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile(r"[&<>\\`*\[\]!|~#{}]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# A line break (or any control character) would end the line and let the rest start a heading or a list.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    return _ENTITIES.get(char, "\\" + char)


def md_text(value: object) -> str:
    """`value` as literal Markdown inline text: in a sentence, a heading or a table cell it renders as
    the string itself, adds no element, and holds no HTML tag opener."""
    return _SPECIAL.sub(_escape, _BREAKS.sub("\ufffd", str(value)))
