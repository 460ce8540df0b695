"""Reading an ingest request body within its limits, and splitting it into raw events.

The body is read from the ASGI stream chunk by chunk and, when gzip-encoded, inflated with a bounded
`max_length` per step: a gzip bomb is cut off as soon as its output passes the limit, never inflated. A gzip
body may hold several members (RFC 1952 §2.2: what `cat a.gz b.gz`, pigz and streaming writers make): every
member is read, the limit holds across all of them, zero padding after a member is ignored (as gzip(1)
does), and anything else after a member is refused naming its byte offset.

JSON text is UTF-8 (RFC 8259): bytes that are not are refused, the whole body for a JSON document, the line
(by index) for NDJSON. A lone surrogate spelled as an escape (`"\\udcff"`, what a non-UTF-8 file name
decoded with `surrogateescape` becomes in JSON) is valid JSON that no UTF-8 encoder can write: it is read as
U+FFFD, so the event is kept and every encoder downstream (spool, SQLite, BSON) can write it.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from mcpdiag.collector.errors import InvalidBodyError, PayloadTooLargeError, UnsupportedMediaTypeError
from mcpdiag.emitters.event import MAX_EVENT_BYTES
from mcpdiag.emitters.redact import quoted
from mcpdiag.emitters.text import json_problem, scrub_surrogates

MAX_BODY_BYTES = 8 * 1024 * 1024
"""An ingest request's body, compressed and decompressed (`read_body`)."""
MAX_JSON_BODY_BYTES = 1024 * 1024
"""The body of any other request (a JSON parameter: the doctor, a bundle request), read whole before the route
runs, even before its caller is authenticated; every app sets it (`FastAPI(max_body_size=...)`) and the routes
that read larger bodies themselves raise it for theirs."""
MAX_EVENTS = 1000
MAX_GZIP_MEMBERS = 4096
"""Members in one gzip body: one per event of the largest batch, and then some (each costs a new inflater)."""
_SLICE = 16 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONG_NUMBER = re.compile(rb"[0-9]{19}")

JSON = "application/json"
NDJSON = "application/x-ndjson"
PROTOBUF = "application/x-protobuf"


def media_type(content_type: str | None) -> str:
    """The bare, lowercased media type of a Content-Type header (parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body exceeds {limit // (1024 * 1024)} MiB (after decompression)")


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    content_encoding: str | None,
    content_length: str | None = None,
    limit: int = MAX_BODY_BYTES,
) -> bytes:
    """The whole (decompressed) body, at most `limit` bytes; raises `PayloadTooLargeError` beyond it."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedMediaTypeError(
            f"unsupported Content-Encoding {quoted(encoding)}: send gzip or no encoding",
            code="unsupported_encoding",
        )
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    raw = 0
    gunzip = _Gunzip(limit) if encoding != "identity" else None
    async for chunk in chunks:
        raw += len(chunk)
        if raw > limit:  # the compressed stream is bounded too
            raise _too_large(limit)
        if gunzip is not None:
            parts.extend(gunzip.feed(chunk))
            continue
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    if gunzip is not None:
        gunzip.finish()
    return b"".join(parts)


class _Gunzip:
    """Inflates the members of a gzip body one after the other, within one bound on their total output."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.members = 0
        self.offset = 0
        """Compressed bytes consumed so far: where the next member (or whatever follows) starts."""
        self._member_start = 0
        self._inflater: Any = None  # the member being read; None between members

    def feed(self, chunk: bytes) -> list[bytes]:
        """The output of `chunk`, fed in bounded slices (`unused_data` copies what follows a member)."""
        out: list[bytes] = []
        view = memoryview(chunk)
        for start in range(0, len(view), _SLICE):
            self._feed(view[start : start + _SLICE].tobytes(), out)
        return out

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        while data:
            if self._inflater is None:
                if self.members and not data.strip(b"\0"):  # zero padding after a member, as gzip(1) allows
                    self.offset += len(data)
                    return
                if self.members:
                    padding = len(data) - len(data.lstrip(b"\0"))
                    self.offset += padding
                    data = data[padding:]
                self._start_member()
            if self.offset == self._member_start and not _GZIP_MAGIC.startswith(data[:2]):
                raise self._invalid(zlib.error("no gzip magic number"))  # zlib would wait for more
            try:
                inflated = self._inflater.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                raise self._invalid(exc) from exc
            self.size += len(inflated)
            if self.size > self.limit:
                raise _too_large(self.limit)
            out.append(inflated)
            if self._inflater.eof:
                rest = self._inflater.unused_data
                self.offset += len(data) - len(rest)
                self._inflater = None
                data = rest
            else:
                self.offset += len(data) - len(self._inflater.unconsumed_tail)
                data = self._inflater.unconsumed_tail

    def _start_member(self) -> None:
        self.members += 1
        if self.members > MAX_GZIP_MEMBERS:
            raise InvalidBodyError(f"gzip body has more than {MAX_GZIP_MEMBERS} members", code="invalid_gzip")
        self._member_start = self.offset
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _invalid(self, exc: zlib.error) -> InvalidBodyError:
        if self.members == 1:
            return InvalidBodyError(f"body is not valid gzip: {exc}", code="invalid_gzip")
        return InvalidBodyError(
            f"unexpected data at byte {self._member_start}, where gzip member {self.members} would start:"
            f" not a gzip member ({exc})",
            code="invalid_gzip",
        )

    def finish(self) -> None:
        """Refuse a body whose last member was cut short."""
        if self._inflater is not None:
            raise InvalidBodyError(
                f"gzip member {self.members}, from byte {self._member_start}, is truncated",
                code="invalid_gzip",
            )


def load_json(data: bytes, *, what: str = "body") -> Any:
    """The JSON document in `data`, lone surrogate escapes replaced by U+FFFD (see the module doc).

    Raises `InvalidBodyError` (`invalid_json`) naming `what` when it is not UTF-8, not JSON, or nested too
    deeply.
    """
    # orjson first (twice as fast, the same values): it refuses what the standard parser reads differently
    # or explains better (lone surrogates, NaN, other encodings, errors), which then goes there; so does a
    # number of 19 digits or more, which orjson would read as a float.
    if _LONG_NUMBER.search(data) is None:
        try:
            return orjson.loads(data)
        except (orjson.JSONDecodeError, RecursionError):
            pass
    try:
        text = data.decode(json.detect_encoding(data))  # strict: bytes that are not text are refused
    except UnicodeDecodeError as exc:
        raise InvalidBodyError(
            f"{what} is not valid JSON: it is not UTF-8 ({exc})", code="invalid_json"
        ) from exc
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise InvalidBodyError(f"{what} is JSON nested too deeply", code="invalid_json") from exc
    except ValueError as exc:
        raise InvalidBodyError(f"{what} is not valid JSON: {json_problem(exc)}", code="invalid_json") from exc
    if _SURROGATE_ESCAPE.search(text):  # rare: only a `\\udXXX` escape can make a lone surrogate
        scrub_document(document)
    return document


def scrub_document(document: Any) -> Any:
    """`document` (parsed JSON) with lone surrogates in its strings and keys replaced, in place."""
    if isinstance(document, str):
        return scrub_surrogates(document)
    stack = [document]
    while stack:  # iterative: a document as deep as the parser allows is not too deep for us
        node = stack.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = scrub_surrogates(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
        elif isinstance(node, dict):
            for key in [k for k in node if not k.isascii()]:
                fixed = scrub_surrogates(key)
                if fixed is not key:
                    node[fixed] = node.pop(key)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = scrub_surrogates(item)
                elif isinstance(item, list | dict):
                    stack.append(item)
    return document


def parse_events(body: bytes, content_type: str | None) -> list[Any]:
    """The raw events of a `{"events": [...]}` JSON body or an NDJSON body, with the count checked.

    Each event is refused with 413 when its encoding exceeds 16 KiB: the raw line for NDJSON, the
    compact re-encoding for a JSON array. An NDJSON line that is not JSON stays in the list as a
    `_Malformed` marker, so it is rejected by index like any other invalid event.
    """
    kind = media_type(content_type)
    if kind not in (JSON, NDJSON):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be {JSON} or {NDJSON}, got {quoted(kind or 'none')}"
        )
    if not body.strip():
        raise InvalidBodyError("request body is empty", code="empty_body")
    if kind == NDJSON:
        return _parse_ndjson(body)
    document = load_json(body)
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise InvalidBodyError('body must be a JSON object {"events": [...]}', code="invalid_body")
    items: list[Any] = document["events"]
    check_count(len(items))
    for index, item in enumerate(items):
        try:
            size = _encoded_size(item)
        except RecursionError as exc:
            raise InvalidBodyError(f"event [{index}] is nested too deeply", code="invalid_json") from exc
        _check_size(index, size)
    return items


# One encoder for every size check (`json.dumps` with options builds a new one per call); it keeps no
# state between calls, so the worker threads share it.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _encoded_size(item: Any) -> int:
    """Bytes of the compact UTF-8 JSON encoding of `item`, as `json.dumps(...).encode()` would give."""
    try:
        size = len(orjson.dumps(item))  # ten times as fast
    except (TypeError, orjson.JSONEncodeError):  # a big integer, a lone surrogate
        size = MAX_EVENT_BYTES
    # orjson writes a few numbers a few bytes shorter or longer (`1e16`, NaN as null): near the limit, the
    # standard encoder's own count decides.
    if size < MAX_EVENT_BYTES // 2:
        return size
    text = _COMPACT.encode(item)
    # ASCII (the usual case) is one byte a character: no need to build the bytes just to count them.
    return len(text) if text.isascii() else len(text.encode())


def _parse_ndjson(body: bytes) -> list[Any]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    check_count(len(lines))
    items: list[Any] = []
    for index, line in enumerate(lines):
        _check_size(index, len(line.rstrip(b"\r")))
        try:
            items.append(load_json(line, what="line"))
        except InvalidBodyError as exc:
            items.append(Malformed(exc.message))
    return items


class Malformed:
    """An NDJSON line that could not be parsed; rejected by index rather than failing the request."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def check_count(count: int, what: str = "events") -> None:
    """Raise 413 `too_many_events` for a request of more than `MAX_EVENTS` events (or OTLP log records)."""
    if count > MAX_EVENTS:
        raise PayloadTooLargeError(
            f"{count} {what} in one request; at most {MAX_EVENTS} allowed", code="too_many_events"
        )


def _check_size(index: int, size: int) -> None:
    if size > MAX_EVENT_BYTES:
        raise PayloadTooLargeError(
            f"event [{index}] is {size} bytes encoded; at most {MAX_EVENT_BYTES} allowed",
            code="event_too_large",
        )
