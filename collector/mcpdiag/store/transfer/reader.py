"""Reading an export file: the header, the event lines in batches and the end line, with bounds.

Every read is bounded: a line longer than `MAX_LINE_BYTES` is reported (as a bad line) without being held,
and an optional bound on the uncompressed size refuses a file that inflates without end (a gzip bomb).
What is wrong with the file as a whole (not gzip, cut short, corrupted, a newer format, no end line) is an
`InvalidExportError` naming the line where it showed.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

from pydantic import ValidationError

from mcpdiag.store.errors import InvalidExportError
from mcpdiag.store.transfer.wire import FORMAT, MAX_LINE_BYTES, VERSION, ExportHeader

RawLine = tuple[int, bytes | None]
"""A line number and the line's bytes (None: the line was longer than the bound and was not kept)."""


def parse_header(raw: bytes | str, *, line: int = 1) -> ExportHeader:
    """The header of an export from its first line; `InvalidExportError` saying what is wrong."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidExportError(
            "the first line is not JSON: not an mcpdiag events export", line=line
        ) from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InvalidExportError(
            f"the first line is not an export header (format {FORMAT!r}): not an mcpdiag events export",
            line=line,
        )
    version = body.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise InvalidExportError(
            f"written by a newer mcpdiag (format version {version}; this one reads {VERSION}): upgrade first",
            line=line,
        )
    try:
        header = ExportHeader.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "header"
        raise InvalidExportError(f"header field {where}: {error['msg']}", line=line) from None
    if header.version != VERSION:
        raise InvalidExportError(f"unknown format version {header.version}", line=line)
    return header


def end_count(raw: bytes) -> int | None:
    """The event count of an end line (`{"end":{"events":N}}`), or None if `raw` is not one."""
    head = raw.lstrip()[:16]
    if not head.startswith(b"{") or b'"end"' not in head:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or list(body) != ["end"] or not isinstance(body["end"], dict):
        return None
    events = body["end"].get("events")
    return events if isinstance(events, int) and not isinstance(events, bool) and events >= 0 else None


MAX_BLANK_RUN = 1000
"""Blank lines in a row an export may hold."""


class ExportReader:
    """One pass over an export file. `header` is read on open; `batch()` gives the event lines."""

    def __init__(
        self, path: Path, *, max_line_bytes: int = MAX_LINE_BYTES, max_bytes: int | None = None
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.max_bytes = max_bytes
        self.line = 0
        """The number of the last line read."""
        self.events = 0
        """Event lines read so far (valid or not)."""
        self.bytes_read = 0
        self.ended = False
        self._file = gzip.GzipFile(path, "rb")
        try:
            first = self._next()
            if first is None or first[1] is None:
                raise InvalidExportError("the file is empty or its first line is too long: not an export")
            self.header = parse_header(first[1])
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def batch(self, size: int) -> list[RawLine]:
        """Up to `size` event lines; an empty list once the end line has been read and checked."""
        lines: list[RawLine] = []
        while len(lines) < size and not self.ended:
            item = self._next()
            if item is None:
                raise InvalidExportError(
                    "the file ends without its end line: the export was cut short; export it again",
                    line=self.line + 1,
                )
            raw = item[1]
            count = end_count(raw) if raw is not None else None
            if count is not None:
                self._finish(count)
                break
            self.events += 1
            lines.append(item)
        return lines

    def _finish(self, count: int) -> None:
        if count != self.events:
            raise InvalidExportError(
                f"the end line counts {count:,} events but {self.events:,} lines precede it", line=self.line
            )
        self.ended = True
        extra = self._next()
        if extra is not None:
            raise InvalidExportError("a line after the end line", line=extra[0])

    def _next(self) -> RawLine | None:
        """The next non-empty line, bounded; None at the end of the file."""
        blank = 0
        try:
            while True:
                raw = self._file.readline(self.max_line_bytes + 1)
                if not raw:
                    return None
                self.line += 1
                self.bytes_read += len(raw)
                if len(raw) > self.max_line_bytes and not raw.endswith(b"\n"):
                    self._skip_rest()
                    return self.line, None
                self._check_size()
                raw = raw.rstrip(b"\r\n")
                if raw.strip():
                    return self.line, raw
                # A blank line is no event and no structure: tolerated (hand-edited files end with them),
                # but not a run of them, which costs a read each and makes no progress (a gzip bomb of
                # newlines inflates a thousandfold).
                blank += 1
                if blank > MAX_BLANK_RUN:
                    raise InvalidExportError(
                        f"more than {MAX_BLANK_RUN} blank lines in a row: not an export", line=self.line
                    )
        except gzip.BadGzipFile as exc:
            raise InvalidExportError(f"not a readable gzip file ({exc})", line=self.line + 1) from None
        except EOFError:
            raise InvalidExportError(
                "the file ends in the middle of its gzip stream: it was cut short (copy or download it "
                "again)",
                line=self.line + 1,
            ) from None
        except (zlib.error, OSError) as exc:
            raise InvalidExportError(f"the gzip data is corrupted ({exc})", line=self.line + 1) from None

    def _skip_rest(self) -> None:
        """Read past the rest of an overlong line without keeping it."""
        while True:
            self._check_size()
            piece = self._file.readline(self.max_line_bytes)
            self.bytes_read += len(piece)
            if not piece or piece.endswith(b"\n"):
                return

    def _check_size(self) -> None:
        if self.max_bytes is not None and self.bytes_read > self.max_bytes:
            raise InvalidExportError(
                f"the file inflates past {self.max_bytes:,} bytes uncompressed, the bound for one import",
                line=self.line,
            )
