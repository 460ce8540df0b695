"""The staging file of an import: every checked document, written before the store sees any of them.

An import checks the whole file first and stages what passed; only when no line was bad does it commit
the staged documents to the store. The stage is a private temporary file (mode 0600, removed when the
import ends) of length-prefixed, zlib-compressed `marshal` batches of plain tuples: cheap to write and to
read back, and holding only strings and integers this process produced itself (`marshal` is not for data
from elsewhere, which this never is).
"""

from __future__ import annotations

import marshal
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from mcpdiag.store.documents import StoredDocument

_LENGTH = struct.Struct(">I")
LEVEL = 1


class Stage:
    """A write-then-read file of document batches in a private temporary directory."""

    def __init__(self, directory: Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix="mcpdiag-import-", suffix=".stage", dir=directory)
        self.path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "w+b")
        self.documents = 0
        self.batches = 0

    def write(self, docs: Sequence[StoredDocument]) -> None:
        """Append one batch."""
        if docs:
            self.write_packed(pack(docs), len(docs))

    def write_packed(self, blob: bytes, count: int) -> None:
        """Append one batch already packed (by `pack`, maybe in another process) holding `count` documents."""
        if not count:
            return
        self._file.write(_LENGTH.pack(len(blob)) + blob)
        self.documents += count
        self.batches += 1

    def read(self) -> Iterator[list[StoredDocument]]:
        """The batches written, in order (call once writing is done)."""
        self._file.flush()
        self._file.seek(0)
        for _ in range(self.batches):
            (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
            yield unpack(self._file.read(length))

    def remove(self) -> None:
        """Close and delete the file."""
        self._file.close()
        self.path.unlink(missing_ok=True)


def pack(docs: Sequence[StoredDocument]) -> bytes:
    """A batch of documents as the stage keeps it."""
    return zlib.compress(marshal.dumps([tuple(doc) for doc in docs]), LEVEL)


def unpack(blob: bytes) -> list[StoredDocument]:
    """The documents of a packed batch (one this process or its own worker packed)."""
    rows = marshal.loads(zlib.decompress(blob))  # noqa: S302 (our own data, see the module docstring)
    make = StoredDocument._make
    return [make(row) for row in rows]
