"""Writers that encrypt a byte stream to an age file as it is written (age-encryption.org/v1).

The exporter hands a ZIP writer one of these instead of a file, so the plaintext ZIP only ever exists in
memory, a chunk at a time. `zipfile` sees a stream that can tell its position but not seek, and writes
every member with a data descriptor instead of going back to patch its header.

- To recipients (X25519 `age1…` or SSH keys): pyrage's `encrypt_io` (the Rust `age` crate) in a worker
  thread, reading from a bounded in-memory pipe that `write` fills.
- To a passphrase: pyrage encrypts passphrases only from bytes already in memory, so this module writes
  the scrypt recipient stanza and the STREAM payload itself, with the `cryptography` package's primitives,
  exactly as the specification lays them out. Tests open its files with Debian's `age` and with pyrage.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from collections.abc import Callable, Sequence
from hashlib import sha256
from typing import IO, Any

import pyrage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mcpdiag.bundle.errors import BundleOutputError

VERSION_LINE = b"age-encryption.org/v1"
CHUNK = 64 * 1024
"""The STREAM chunk size the age format fixes."""
SCRYPT_LOG_N = 18
"""The scrypt work factor `age -p` uses by default (about 256 MiB and half a second)."""
PIPE_BYTES = 4 << 20
"""How much plaintext may wait for the encrypting thread before `write` blocks."""

Tee = Callable[[bytes], None]
"""Called with every plaintext byte written, in order (the exporter's leak scan reads the ZIP that way)."""


def b64(data: bytes) -> bytes:
    """Base64 without padding, as age writes it."""
    return base64.b64encode(data).rstrip(b"=")


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None, info=info).derive(key)


class AgeWriter:
    """A write-only, position-telling stream that encrypts what it is given into `out`.

    `close` finishes the age file (the last chunk and its tag); `abort` stops without finishing it (the
    caller deletes the partial file). `tee`, if given, sees every plaintext byte.
    """

    def __init__(self, out: IO[bytes], tee: Tee | None = None) -> None:
        self.out = out
        self.tee = tee
        self.written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt `data` (queued or buffered: `close` writes what is left)."""
        block = bytes(data)
        self.written += len(block)
        if self.tee is not None:
            self.tee(block)
        self._write(block)
        return len(block)

    def tell(self) -> int:
        """Plaintext bytes written so far: the offset `zipfile` records for each member."""
        return self.written

    def flush(self) -> None:
        """Nothing to do: plaintext is only ever pushed towards the cipher."""

    def close(self) -> None:
        """Encrypt what is left and finish the age file (`out` stays open)."""
        if not self.closed:
            self.closed = True
            self._finish()

    def abort(self) -> None:
        """Stop without finishing the file."""
        self.closed = True
        self._stop()

    def __enter__(self) -> AgeWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError


class _Pipe:
    """The reading end pyrage pulls plaintext from; `put` blocks while `limit` bytes already wait."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.cond = threading.Condition()
        self.ended = False
        self.broken: BaseException | None = None

    def put(self, data: bytes) -> None:
        with self.cond:
            while len(self.buffer) >= self.limit and self.broken is None:
                self.cond.wait()
            if self.broken is not None:
                raise self.broken
            self.buffer += data
            self.cond.notify_all()

    def end(self) -> None:
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def read(self, size: int = -1) -> bytes:
        """What pyrage calls: up to `size` bytes, waiting for them; b"" once the stream has ended."""
        with self.cond:
            while not self.buffer and not self.ended:
                self.cond.wait()
            if size is None or size < 0:
                size = len(self.buffer)
            out = bytes(self.buffer[:size])
            del self.buffer[:size]
            self.cond.notify_all()
            return out

    def readable(self) -> bool:
        return True


class RecipientWriter(AgeWriter):
    """Encrypts to age recipients with pyrage, in a worker thread fed through a bounded pipe."""

    def __init__(self, out: IO[bytes], recipients: Sequence[Any], tee: Tee | None = None) -> None:
        super().__init__(out, tee)
        self._pipe = _Pipe(PIPE_BYTES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(list(recipients),), daemon=True)
        self._thread.start()

    def _run(self, recipients: list[Any]) -> None:
        try:
            # pyrage reads and writes any object with `read` / `write` (its stubs say BufferedIOBase).
            pyrage.encrypt_io(self._pipe, self.out, recipients)  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the writing side, which raises it
            self._error = exc
            with self._pipe.cond:
                self._pipe.broken = exc
                self._pipe.cond.notify_all()

    def _write(self, data: bytes) -> None:
        try:
            self._pipe.put(data)
        except BaseException as exc:
            raise _output_error(exc) from exc

    def _finish(self) -> None:
        self._pipe.end()
        self._thread.join()
        if self._error is not None:
            raise _output_error(self._error) from self._error

    def _stop(self) -> None:
        with self._pipe.cond:
            self._pipe.broken = self._pipe.broken or BundleOutputError("the export was stopped")
            # The thread finds the stream ended: it finishes a file that the caller deletes.
            self._pipe.buffer.clear()
            self._pipe.ended = True
            self._pipe.cond.notify_all()
        self._thread.join()


def _output_error(exc: BaseException) -> BaseException:
    if isinstance(exc, OSError | BundleOutputError):
        return exc
    return BundleOutputError(f"could not encrypt the bundle: {exc}")


class PassphraseWriter(AgeWriter):
    """Encrypts to a passphrase: an scrypt stanza wrapping a random file key, then the STREAM payload."""

    def __init__(
        self, out: IO[bytes], passphrase: str, tee: Tee | None = None, *, log_n: int = SCRYPT_LOG_N
    ) -> None:
        super().__init__(out, tee)
        file_key = os.urandom(16)
        out.write(scrypt_header(file_key, passphrase, log_n))
        nonce = os.urandom(16)
        out.write(nonce)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._pending = bytearray()

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        nonce = self._counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        self.out.write(self._aead.encrypt(nonce, chunk, None))
        self._counter += 1

    def _write(self, data: bytes) -> None:
        pending = self._pending
        pending += data
        # A full chunk is sealed only once more data follows it: the last chunk carries the final flag.
        while len(pending) > CHUNK:
            self._seal(bytes(pending[:CHUNK]), last=False)
            del pending[:CHUNK]

    def _finish(self) -> None:
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()

    def _stop(self) -> None:
        self._pending.clear()


def scrypt_header(file_key: bytes, passphrase: str, log_n: int) -> bytes:
    """The age header of a passphrase-encrypted file: the scrypt stanza and the header MAC."""
    salt = os.urandom(16)
    wrap_key = Scrypt(salt=b"age-encryption.org/v1/scrypt" + salt, length=32, n=1 << log_n, r=8, p=1).derive(
        passphrase.encode()
    )
    body = ChaCha20Poly1305(wrap_key).encrypt(b"\x00" * 12, file_key, None)
    # 32 bytes encode to 43 characters: one line, shorter than the 64 columns that would need another.
    header = b"\n".join([VERSION_LINE, b"-> scrypt " + b64(salt) + b" %d" % log_n, b64(body), b"---"])
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, sha256).digest()
    return header + b" " + b64(mac) + b"\n"
