"""Reading an ingest request body within its limits, and splitting it into raw events.

The body is read from the ASGI stream chunk by chunk and, when gzip-encoded, inflated with a bounded
`max_length` per step: a gzip bomb is cut off as soon as its output passes the limit, never inflated.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

from mcpdiag.collector.errors import InvalidBodyError, PayloadTooLargeError, UnsupportedMediaTypeError
from mcpdiag.emitters.event import MAX_EVENT_BYTES

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_EVENTS = 1000

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
            f"unsupported Content-Encoding {encoding!r}: send gzip or no encoding",
            code="unsupported_encoding",
        )
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    raw = 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding != "identity" else None
    async for chunk in chunks:
        raw += len(chunk)
        if raw > limit:  # the compressed stream is bounded too
            raise _too_large(limit)
        if inflater is None:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
            continue
        data = chunk
        while data:
            if inflater.eof:
                raise InvalidBodyError(
                    "unexpected data after the end of the gzip stream", code="invalid_gzip"
                )
            try:
                out = inflater.decompress(data, limit - size + 1)
            except zlib.error as exc:
                raise InvalidBodyError(f"body is not valid gzip: {exc}", code="invalid_gzip") from exc
            size += len(out)
            if size > limit:
                raise _too_large(limit)
            parts.append(out)
            data = inflater.unconsumed_tail
    if inflater is not None and raw and not inflater.eof:
        raise InvalidBodyError("gzip body is truncated", code="invalid_gzip")
    return b"".join(parts)


def _loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise InvalidBodyError("JSON is nested too deeply", code="invalid_json") from exc


def parse_events(body: bytes, content_type: str | None) -> list[Any]:
    """The raw events of a `{"events": [...]}` JSON body or an NDJSON body, with the count checked.

    Each event is refused with 413 when its encoding exceeds 16 KiB: the raw line for NDJSON, the
    compact re-encoding for a JSON array. An NDJSON line that is not JSON stays in the list as a
    `_Malformed` marker, so it is rejected by index like any other invalid event.
    """
    kind = media_type(content_type)
    if kind not in (JSON, NDJSON):
        raise UnsupportedMediaTypeError(f"Content-Type must be {JSON} or {NDJSON}, got {kind or 'none'!r}")
    if not body.strip():
        raise InvalidBodyError("request body is empty", code="empty_body")
    if kind == NDJSON:
        return _parse_ndjson(body)
    try:
        document = _loads(body)
    except ValueError as exc:
        raise InvalidBodyError(f"body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise InvalidBodyError('body must be a JSON object {"events": [...]}', code="invalid_body")
    items: list[Any] = document["events"]
    _check_count(len(items))
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
    text = _COMPACT.encode(item)
    # ASCII (the usual case) is one byte a character: no need to build the bytes just to count them.
    return len(text) if text.isascii() else len(text.encode())


def _parse_ndjson(body: bytes) -> list[Any]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    _check_count(len(lines))
    items: list[Any] = []
    for index, line in enumerate(lines):
        _check_size(index, len(line.rstrip(b"\r")))
        try:
            items.append(_loads(line))
        except InvalidBodyError as exc:
            items.append(Malformed(exc.message))
        except ValueError as exc:
            items.append(Malformed(f"not valid JSON: {exc}"))
    return items


class Malformed:
    """An NDJSON line that could not be parsed; rejected by index rather than failing the request."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _check_count(count: int) -> None:
    if count > MAX_EVENTS:
        raise PayloadTooLargeError(
            f"{count} events in one request; at most {MAX_EVENTS} allowed", code="too_many_events"
        )


def _check_size(index: int, size: int) -> None:
    if size > MAX_EVENT_BYTES:
        raise PayloadTooLargeError(
            f"event [{index}] is {size} bytes encoded; at most {MAX_EVENT_BYTES} allowed",
            code="event_too_large",
        )
