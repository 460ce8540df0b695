"""The `assignment` rule: a value that a secret-looking name introduces, in every shape text gives it.

`password=…`, `"clientSecret": "…"`, `{'token': […]}`, `--password x`, `-token=…`, `Authorization: …` (to
the end of the line), `<password>…</password>`. Candidates are found from the secret words themselves
(`KEY_MARKERS`, searched as plain substrings), each widened to the name it belongs to; the name is judged
first and only then is its value read, so a text full of names that are not secrets (`passport=` repeated)
costs one look at each name and never a rescan of what follows it.
"""

from __future__ import annotations

import re
import string

from mcpdiag.emitters.redact_keys import (
    HEADERS,
    KEY_MARKERS,
    is_secret_key,
    is_secret_text_name,
    needs_equals,
    normalize_key,
)
from mcpdiag.emitters.redact_rules import Edit, redacted_ahead, scheme_end

NAME = "assignment"
PLACEHOLDER = f"[REDACTED:{NAME}]"
SITES = {marker: f"site:{marker}" for marker in KEY_MARKERS}
"""The scan tag of each secret word where it can introduce a value (`SITE_PATTERN`)."""
_N = r"[\w.\x80-\xff-]"
SITE_PATTERN = rf"{{m}}{_N}*[\"']?[ \t]*[:=]|<[\w.:\x80-\xff-]*{{m}}|-{_N}*{{m}}{_N}*[ \t]"
"""Where a name holding the secret word `m` can introduce a value, over-read (`_judge` decides): followed by
a separator (after a quote), in an XML tag name (`<password>`, `<ns:token>`), or starting with a dash and
followed by a blank (a flag). Hyperscan syntax over the text's bytes (a name's non-ASCII bytes are name
characters too)."""
GATE = frozenset(SITES.values())

_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_MAX_NAME = 128
_NAME_END = re.compile(r"[A-Za-z0-9_.-]*+")
_SEPARATOR = re.compile(r"[ \t]*+([:=])[ \t]*+")
_SITE = re.compile(r"[ \t]*+[:=\"']")
_NEXT_PAIR = re.compile(r"[ \t]*:")
_QUOTED = re.compile(r"(?P<q>[\"'])(?P<value>(?:\\.|(?!(?P=q))[^\\\r\n])++)(?P=q)")
_BARE = re.compile(r"[^\s,;&\"']++")
# A shared access signature (`sv=…&ss=…&sig=…`) is one value up to the `;` of its connection string.
_BARE_SIGNATURE = re.compile(r"[^\s,;\"']++")
_LINE = re.compile(r"\S(?:[^\r\n]*\S)?")
_SPACES = re.compile(r"[ \t\r\n]*+")
_ELEMENT = re.compile(
    r"(?P<q>[\"'])(?P<value>(?:\\.|(?!(?P=q))[^\\\r\n])*+)(?P=q)|(?P<bare>[^\s,\[\]{}\"']++)"
)
_FLAG_VALUE = re.compile(
    r"[ \t]+(?:\"(?P<dq>[^\"\r\n]++)\"|'(?P<sq>[^'\r\n]++)'|(?P<bare>[^\s\"'-][^\s\"']*+))"
)
_XML_OPEN = re.compile(r"(?:[ \t][^<>]{0,256}+)?>")
_XML_PREFIX = re.compile(r"<[A-Za-z_][\w.-]*:")
_TRAILING = ".,;:!?)]}`"
_NULLISH = frozenset({"null", "none", "true", "false", "nil"})
_MAX_ELEMENTS = 64
_MAX_XML_VALUE = 4096
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def edits(text: str, low: str, present: frozenset[str], out: list[Edit]) -> None:
    """Append the assignment edits of `text` (lowercased as `low`) to `out`, in order, not overlapping."""
    if len(low) != len(text):
        # Lowercasing changed some lengths (`İ`): find the ASCII words in a form that keeps positions.
        low = text.translate(_LOWER)
    names: set[tuple[int, int]] = set()
    for marker, site in SITES.items():
        if site not in present:
            continue
        pos = 0
        while (found := low.find(marker, pos)) != -1:
            start = found
            floor = max(0, found - _MAX_NAME)
            while start > floor and text[start - 1] in _WORD_CHARS:
                start -= 1
            end = _after(_NAME_END, text, found)
            # Always past this marker: where `low` differs from `text` (a Kelvin sign lowercases to `k`) the
            # name may end before the marker, and searching from there would find it again, forever.
            pos = max(end, found + len(marker))
            # Most names in text introduce nothing (`session worker 3`): only a name followed by a separator
            # or a quote, a flag (`--token x`) or an XML tag name can (`_judge` then decides).
            if text[start] == "-" or _SITE.match(text, end) or (start and text[start - 1] in "<:"):
                names.add((start, end))
    done = 0
    for start, end in sorted(names):
        if start < done:
            continue
        found_edits = _judge(text, start, end)
        if found_edits:
            out += found_edits
            done = found_edits[-1][1]


def _after(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a match of `pattern` (which may match nothing) at `pos` ends."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


def _judge(text: str, start: int, end: int) -> list[Edit] | None:
    """The edits of the name at [start, end) (the whole run of name characters), or None."""
    word = text[start:end]
    key = word.lstrip("-")
    dashes = len(word) - len(key)
    key = key.rstrip(".-")
    if not key or not (key[0].isalpha() or key[0] == "_") or end - start >= _MAX_NAME:
        return None
    key_start = start + dashes
    key_end = key_start + len(key)
    before = text[start - 1] if start else ""
    if (before == "<" and not dashes) or (before == ":" and _xml_prefixed(text, start)):
        return _xml(text, key, key_end)
    quote = before if before and before in "\"'" and not dashes and text.startswith(before, key_end) else ""
    if before in _WORD_CHARS:
        return None
    separator = _SEPARATOR.match(text, key_end + len(quote))
    if separator is None:
        return _flag(text, key, key_end) if dashes and not quote else None
    sep = separator[1]
    header = not quote and not dashes and sep == ":" and key.lower() in HEADERS
    # After a slash, `name:` ends a URL path (`…/token: 400`); `name=` still assigns (`/r/password=…`).
    if before == "/" and sep == ":" and not header:
        return None
    if not header and not (is_secret_key(key) if quote else is_secret_text_name(key)):
        return None
    if not quote and sep == ":" and needs_equals(key):
        return None
    pos = separator.end()
    if redacted_ahead(text, pos):
        return None
    if header:
        line = _LINE.match(text, pos)
        if line is None:
            return None
        value_start = pos + scheme_end(text[pos : line.end()])
        return [(value_start, line.end(), PLACEHOLDER, NAME, -1, -1)] if value_start < line.end() else None
    head = text[pos : pos + 1]
    if head in ("'", '"'):
        return _quoted(text, pos)
    if head == "[":
        return _array(text, pos, quote, key_start - 1)
    if head == "{":
        return None  # an object: its own names speak for its values
    bare = (_BARE_SIGNATURE if normalize_key(key).endswith("signature") else _BARE).match(text, pos)
    if bare is None:
        return None
    value = bare.group()
    value_end = bare.end()
    if quote:
        # After a quoted name (JSON, a Python repr) a bracket closes the container rather than the value.
        value_end = pos + len(value.rstrip(")]}"))
        value = text[pos:value_end]
    if not value or value.lower() in _NULLISH:
        return None
    return [_bare_edit(pos, value_end, quote, key_start - 1)]


def _bare_edit(start: int, end: int, quote: str, quote_at: int) -> Edit:
    if quote == '"':
        # A quoted JSON name with a bare value (a number): a quoted placeholder keeps the JSON valid.
        return (start, end, f'"{PLACEHOLDER}"', NAME, quote_at, quote_at + 1)
    return (start, end, PLACEHOLDER, NAME, -1, -1)


def _quoted(text: str, pos: int) -> list[Edit] | None:
    match = _QUOTED.match(text, pos)
    if match is None or redacted_ahead(text, match.start("value")):
        return None
    # 'token= "secret": "…"': a quoted secret name followed by ':' starts the next pair, not a value.
    if _NEXT_PAIR.match(text, match.end()) and is_secret_key(match["value"]):
        return None
    return [(match.start("value"), match.end("value"), PLACEHOLDER, NAME, -1, -1)]


def _array(text: str, pos: int, quote: str, quote_at: int) -> list[Edit] | None:
    """Every element of a list under a secret name: `"token": ["…", "…"]`."""
    found: list[Edit] = []
    pos += 1
    for _ in range(_MAX_ELEMENTS):
        pos = _after(_SPACES, text, pos)
        element = _ELEMENT.match(text, pos)
        if element is None:
            break
        if element["bare"] is not None:
            value = element["bare"]
            if value.lower() not in _NULLISH and not redacted_ahead(value, 0):
                found.append(_bare_edit(element.start(), element.end(), quote, quote_at))
        elif element["value"] and not redacted_ahead(element["value"], 0):
            found.append((element.start("value"), element.end("value"), PLACEHOLDER, NAME, -1, -1))
        pos = _after(_SPACES, text, element.end())
        if not text.startswith(",", pos):
            break
        pos += 1
    return found or None


def _flag(text: str, key: str, key_end: int) -> list[Edit] | None:
    """`--password x`, `-token "x"`: a flag naming a secret, its value after a space."""
    if not is_secret_text_name(key):
        return None
    match = _FLAG_VALUE.match(text, key_end)
    if match is None:
        return None
    group = next(name for name in ("dq", "sq", "bare") if match[name] is not None)
    start, end = match.span(group)
    if group == "bare":
        # Punctuation that ends a sentence or a quote is not part of the value.
        end = start + len(match[group].rstrip(_TRAILING))
    value = text[start:end]
    # Prose after a flag is a word ("the --password flag"); a value has digits or symbols, or is long.
    if redacted_ahead(value, 0) or (group == "bare" and not _flag_value(value)):
        return None
    return [(start, end, PLACEHOLDER, NAME, -1, -1)]


def _flag_value(value: str) -> bool:
    return len(value) >= 4 and any(c.isalnum() for c in value) and (len(value) >= 8 or not value.isalpha())


def _xml_prefixed(text: str, start: int) -> bool:
    lt = text.rfind("<", max(0, start - 66), start)
    return lt != -1 and _XML_PREFIX.fullmatch(text, lt, start) is not None


def _xml(text: str, key: str, key_end: int) -> list[Edit] | None:
    """`<password>…</password>`, `<ns:token a="b">…</ns:token>`, `<apiKey><![CDATA[…]]></apiKey>`."""
    if not is_secret_key(key):
        return None
    tag = _XML_OPEN.match(text, key_end)
    if tag is None or text[tag.end() - 2] == "/":
        return None
    start = tag.end()
    if text.startswith("<![CDATA[", start):
        start += 9
        end = text.find("]]>", start, start + _MAX_XML_VALUE)
    else:
        end = text.find("<", start, start + _MAX_XML_VALUE)
        if end != -1 and not text.startswith("</", end):
            return None
    if end == -1 or not text[start:end].strip() or redacted_ahead(text, start):
        return None
    return [(start, end, PLACEHOLDER, NAME, -1, -1)]
