"""Reads a ZIP as a byte stream, front to back, and leak-scans every member as its bytes arrive.

An encrypted export never has its plaintext ZIP in a file to reopen: the bytes go to the age writer and,
through `feed`, here. `zipfile` writes to such a stream (one that cannot seek) member after member: a local
header, the deflated data (whose end the deflate stream itself marks), a data descriptor with the CRC-32
and sizes, and at the end the central directory. `ZipStreamScan` follows that layout, inflates each member
into a `MemberScan`, checks each descriptor against the bytes it inflated, and at the end checks the
central directory names exactly the members it read, at the offsets and with the sizes and CRCs it saw:
what a ZIP reader will find is what was scanned.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from mcpdiag.bundle.leakscan import CHUNK, LeakScanner, MemberScan

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL_SIG, _CENTRAL_SIG, _DESCRIPTOR_SIG = b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08"
_ZIP64_EXTRA = 0x0001
_DESCRIPTOR_FLAG = 0x08
MAX_CENTRAL = 64 << 20
"""The most central directory (and end records) kept for the final check."""


class ZipStreamError(ValueError):
    """The stream is not a ZIP as the exporter writes it (the scan cannot vouch for it)."""


@dataclass(slots=True)
class _Seen:
    name: str
    offset: int
    data_start: int
    crc: int = 0
    compressed: int = 0
    size: int = 0


def _zip64(extra: bytes) -> bytes | None:
    """The data of the ZIP64 extended information field in `extra`, if any."""
    pos = 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, pos)
        if kind == _ZIP64_EXTRA:
            return extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return None


class ZipStreamScan:
    """`feed` it the ZIP's bytes in order, then `close`; raises `LeakDetectedError` or `ZipStreamError`."""

    def __init__(self, scanner: LeakScanner) -> None:
        self.scanner = scanner
        self.buffer = bytearray()
        self.pos = 0
        """Stream offset of `buffer[0]`."""
        self.members: list[_Seen] = []
        self._member: _Seen | None = None
        self._scan: MemberScan | None = None
        self._inflate: zlib._Decompress | None = None
        self._zip64 = False
        self._state = "header"

    def feed(self, data: bytes) -> None:
        """Read the next bytes of the stream."""
        self.buffer += data
        while self._step():
            pass
        if self._state == "central" and len(self.buffer) > MAX_CENTRAL:
            raise ZipStreamError("the central directory is larger than any bundle's")

    def close(self) -> int:
        """The stream has ended: check the central directory; the number of members scanned."""
        if self._state != "central":
            raise ZipStreamError("the stream ended inside a member")
        self._check_central(bytes(self.buffer))
        return len(self.members)

    def _take(self, n: int) -> bytes:
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        self.pos += n
        return out

    def _step(self) -> bool:
        state = self._state
        if state == "header":
            return self._header()
        if state == "data":
            return self._data()
        if state == "descriptor":
            return self._descriptor()
        return False

    def _header(self) -> bool:
        if len(self.buffer) < 4:
            return False
        signature = bytes(self.buffer[:4])
        if signature == _CENTRAL_SIG:
            self._state = "central"
            return False
        if signature != _LOCAL_SIG:
            raise ZipStreamError(f"no local header at offset {self.pos}")
        if len(self.buffer) < _LOCAL.size:
            return False
        fields = _LOCAL.unpack_from(self.buffer)
        flags, method, name_len, extra_len = fields[2], fields[3], fields[9], fields[10]
        if len(self.buffer) < _LOCAL.size + name_len + extra_len:
            return False
        if method != zlib.DEFLATED or not flags & _DESCRIPTOR_FLAG:
            raise ZipStreamError("a member is not deflated with a data descriptor")
        offset = self.pos
        head = self._take(_LOCAL.size + name_len + extra_len)
        name = head[_LOCAL.size : _LOCAL.size + name_len].decode("utf-8", "replace")
        self._zip64 = _zip64(head[_LOCAL.size + name_len :]) is not None
        self._member = _Seen(name, offset, self.pos)
        self._scan = MemberScan(name, self.scanner)
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        self._state = "data"
        return True

    def _data(self) -> bool:
        inflate, member, scan = self._inflate, self._member, self._scan
        assert inflate is not None and member is not None and scan is not None
        if not self.buffer:
            return False
        data = self._take(len(self.buffer))
        while True:
            out = inflate.decompress(data, CHUNK)
            member.crc = zlib.crc32(out, member.crc)
            member.size += len(out)
            scan.feed(out)
            data = inflate.unconsumed_tail
            if inflate.eof or (not data and len(out) < CHUNK):
                break
        if not inflate.eof:
            return False
        rest = inflate.unused_data
        # The bytes after the deflate stream's end go back to the front of the buffer.
        self.buffer[:0] = rest
        self.pos -= len(rest)
        member.compressed = self.pos - member.data_start
        scan.close()
        self._state = "descriptor"
        return True

    def _descriptor(self) -> bool:
        member = self._member
        assert member is not None
        size = 4 + (16 if self._zip64 else 8)
        signed = bytes(self.buffer[:4]) == _DESCRIPTOR_SIG
        if len(self.buffer) < size + (4 if signed else 0):
            return False
        raw = self._take(size + (4 if signed else 0))[4 if signed else 0 :]
        crc, compressed, plain = struct.unpack("<LQQ" if self._zip64 else "<LLL", raw)
        if (crc, compressed, plain) != (member.crc, member.compressed, member.size):
            raise ZipStreamError(f"the data descriptor of {member.name} does not match its data")
        self.members.append(member)
        self._member = self._scan = self._inflate = None
        self._state = "header"
        return True

    def _check_central(self, tail: bytes) -> None:
        by_offset = {m.offset: m for m in self.members}
        seen: set[int] = set()
        pos = 0
        while tail[pos : pos + 4] == _CENTRAL_SIG:
            if len(tail) < pos + _CENTRAL.size:
                break
            fields = _CENTRAL.unpack_from(tail, pos)
            crc, compressed, size = fields[7], fields[8], fields[9]
            name_len, extra_len, comment_len, offset = fields[10], fields[11], fields[12], fields[16]
            start = pos + _CENTRAL.size
            name = tail[start : start + name_len].decode("utf-8", "replace")
            extra = _zip64(tail[start + name_len : start + name_len + extra_len]) or b""
            # ZIP64 fields appear in this order, each only when its 32-bit field is saturated.
            values = list(struct.unpack_from(f"<{len(extra) // 8}Q", extra)) if extra else []
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            member = by_offset.get(offset)
            if member is None or (member.name, member.crc, member.size, member.compressed) != (
                name,
                crc,
                size,
                compressed,
            ):
                raise ZipStreamError(f"the central directory entry of {name} is not the member that was read")
            seen.add(offset)
            pos = start + name_len + extra_len + comment_len
        if seen != set(by_offset):
            raise ZipStreamError("the central directory does not list every member")
