"""The stream scan of an encrypted export's ZIP: every member scanned whatever the chunking, and a stream
whose descriptors or central directory do not match the bytes read is refused (what a reader would find
must be what was scanned)."""

from __future__ import annotations

import io
import secrets
import zipfile

import pytest

from mcpdiag.bundle.errors import LeakDetectedError
from mcpdiag.bundle.leakscan import LeakScanner
from mcpdiag.bundle.zipstream import ZipStreamError, ZipStreamScan


class Unseekable(io.RawIOBase):
    """What the age writer is to `zipfile`: a stream that tells its position but cannot seek."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.buffer.write(data)

    def tell(self) -> int:
        return self.buffer.tell()

    def seekable(self) -> bool:
        return False


def zip_stream(members: dict[str, bytes]) -> bytes:
    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for name, data in members.items():
            with zf.open(name, "w", force_zip64=True) as member:
                member.write(data)
    return sink.buffer.getvalue()


def scan(data: bytes, step: int, known: tuple[str, ...] = ()) -> int:
    stream = ZipStreamScan(LeakScanner(known))
    for start in range(0, len(data), step):
        stream.feed(data[start : start + step])
    return stream.close()


LINES = b"".join(b'{"id":"%d","detail":"nothing to see"}\n' % i for i in range(30_000))


@pytest.mark.parametrize("step", [3, 4096, 65536, 10**9])
def test_every_member_is_scanned_whatever_the_chunks(step: int) -> None:
    data = zip_stream({"events/a.jsonl": LINES, "summary.json": b'{"events": 2}\n', "README.md": b"# hi\n"})
    assert scan(data, step) == 3


def test_a_stream_fed_byte_by_byte() -> None:
    assert scan(zip_stream({"events/a.jsonl": LINES[:2000], "README.md": b"# hi\n"}), 1) == 2


@pytest.mark.parametrize("step", [7, 65536])
def test_a_secret_anywhere_is_found(step: int) -> None:
    known = f"kn0wn-{secrets.token_hex(10)}"
    where = len(LINES) // 2
    planted = LINES[:where] + f'{{"detail":"x {known}"}}\n'.encode() + LINES[where:]
    with pytest.raises(LeakDetectedError) as caught:
        scan(zip_stream({"summary.json": b"{}\n", "events/a.jsonl": planted}), step, (known,))
    assert caught.value.file == "events/a.jsonl" and known not in str(caught.value)
    token = "ghp_" + secrets.token_hex(18)
    with pytest.raises(LeakDetectedError) as caught:
        scan(zip_stream({"analysis.md": f"# a\n{token}\n".encode()}), step)
    assert caught.value.rule == "github_token"


def test_a_stream_that_does_not_match_its_directory_is_refused() -> None:
    data = zip_stream({"events/a.jsonl": LINES[:5000], "README.md": b"# hi\n"})
    central = data.rindex(b"PK\x01\x02", 0, data.rindex(b"PK\x01\x02"))  # the first entry's
    # A central directory entry renamed: a reader would list a member the scan never read by that name.
    renamed = data[: central + 46] + b"events/b.jsonl" + data[central + 46 + len("events/a.jsonl") :]
    with pytest.raises(ZipStreamError, match="not the member that was read"):
        scan(renamed, 65536)
    # A data descriptor whose CRC-32 was changed.
    descriptor = data.index(b"PK\x07\x08")
    bad_crc = data[: descriptor + 4] + bytes([data[descriptor + 4] ^ 1]) + data[descriptor + 5 :]
    with pytest.raises(ZipStreamError, match="does not match its data"):
        scan(bad_crc, 65536)
    with pytest.raises(ZipStreamError, match="ended inside a member"):
        scan(data[: len(data) // 2], 65536)
    with pytest.raises(ZipStreamError, match="no local header"):
        scan(b"garbage" + data, 65536)


def test_a_stored_member_without_sizes_is_refused() -> None:
    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf, zf.open("x.md", "w") as member:
        member.write(b"hello")
    with pytest.raises(ZipStreamError, match="not deflated"):
        scan(sink.buffer.getvalue(), 65536)
