"""age encryption of bundles: who may open one (recipients or a passphrase), and opening one again.

An encrypted bundle is `<name>.zip.age`, a standard age v1 file: `age -d -i key.txt`, `rage`, `pyrage` and
`mcpdiag bundle decrypt` all open it. Encrypting streams (`agewriter`); decrypting writes the plaintext ZIP
where the reader asks (`opened` gives a private temporary file, removed afterwards).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyrage
from pyrage import ssh, x25519

from mcpdiag.bundle.agewriter import VERSION_LINE, AgeWriter, PassphraseWriter, RecipientWriter, Tee
from mcpdiag.bundle.errors import DecryptError, InvalidKeyError

AGE_SUFFIX = ".age"
MAX_RECIPIENTS = 32
MAX_KEY_CHARS = 16_384
MAX_KEY_FILE = 1 << 20
MAX_PASSPHRASE_FILE = 4096
MIN_PASSPHRASE = 8
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_SSH_KINDS = ("ssh-ed25519 ", "ssh-rsa ")


def _shown(value: str) -> str:
    """A refused recipient as the message names it: its start when it looks like a public key (`age1…`,
    `ssh-…`), nothing of it otherwise (a secret pasted where a public key goes)."""
    if not value.startswith(("age1", "ssh-")):
        return "the value"
    return repr(value if len(value) <= 16 else value[:12] + "…")


def parse_recipient(text: str, field: str = "recipient") -> Any:
    """An age recipient (`age1…`) or an SSH public key as pyrage's recipient; `InvalidKeyError` otherwise."""
    value = text.strip()
    if not value or len(value) > MAX_KEY_CHARS:
        raise InvalidKeyError(field, "expected an age recipient (age1…) or an SSH public key")
    try:
        if value.startswith("age1"):
            return x25519.Recipient.from_str(value)
        if value.startswith(_SSH_KINDS):
            return ssh.Recipient.from_str(value)
    except pyrage.RecipientError:
        pass
    raise InvalidKeyError(
        field,
        f"{_shown(value)} is not an age X25519 recipient (age1…) or an SSH public key (ssh-ed25519 …, "
        "ssh-rsa …); plugin recipients are not supported",
    )


def read_passphrase(path: Path, field: str = "--passphrase-file") -> str:
    """The passphrase in the first line of `path` (its line break not included)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PASSPHRASE_FILE + 1)
    except OSError as exc:
        raise InvalidKeyError(field, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_PASSPHRASE_FILE:
        raise InvalidKeyError(field, f"{path} is over {MAX_PASSPHRASE_FILE} bytes: not a passphrase file")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise InvalidKeyError(field, f"{path} is not UTF-8 text") from None
    return check_passphrase(text.split("\n", 1)[0].rstrip("\r"), field)


def check_passphrase(passphrase: str, field: str = "passphrase") -> str:
    """`passphrase` if usable (at least 8 characters, no control characters), else `InvalidKeyError`."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidKeyError(field, f"a passphrase needs at least {MIN_PASSPHRASE} characters")
    if len(passphrase) > MAX_PASSPHRASE_FILE or any(ord(c) < 32 or ord(c) == 127 for c in passphrase):
        raise InvalidKeyError(field, "a passphrase is one line of at most 4096 printable characters")
    return passphrase


@dataclass(frozen=True, slots=True)
class Encryption:
    """Who may open an encrypted bundle: age recipients, or (alone) a passphrase."""

    recipients: tuple[str, ...] = ()
    passphrase: str | None = field(default=None, repr=False)

    @classmethod
    def to_recipients(cls, recipients: Iterable[str], field: str = "recipient") -> Encryption:
        """Encryption to every one of `recipients` (each checked; duplicates dropped)."""
        kept = tuple(dict.fromkeys(r.strip() for r in recipients if r.strip()))
        if not kept:
            raise InvalidKeyError(field, "at least one recipient is needed")
        if len(kept) > MAX_RECIPIENTS:
            raise InvalidKeyError(field, f"at most {MAX_RECIPIENTS} recipients")
        for recipient in kept:
            parse_recipient(recipient, field)
        return cls(recipients=kept)

    @classmethod
    def with_passphrase(cls, passphrase: str, field: str = "passphrase") -> Encryption:
        """Encryption to a passphrase (scrypt, as `age -p`)."""
        return cls(passphrase=check_passphrase(passphrase, field))

    @property
    def kind(self) -> str:
        """`passphrase` or `recipients`."""
        return "passphrase" if self.passphrase is not None else "recipients"

    def describe(self) -> str:
        """In words, for the command line and the audit log (never the passphrase)."""
        if self.passphrase is not None:
            return "age, passphrase"
        count = len(self.recipients)
        return f"age, {count} recipient{'s' if count != 1 else ''}"

    def writer(self, out: IO[bytes], tee: Tee | None = None) -> AgeWriter:
        """A stream that encrypts what is written to it into `out`."""
        if self.passphrase is not None:
            return PassphraseWriter(out, self.passphrase, tee)
        return RecipientWriter(out, [parse_recipient(r) for r in self.recipients], tee)


@dataclass(frozen=True, slots=True)
class DecryptionKeys:
    """What opens an encrypted bundle: age identities (X25519 or SSH private keys) or a passphrase."""

    identities: tuple[Any, ...] = ()
    passphrase: str | None = field(default=None, repr=False)

    @classmethod
    def from_text(
        cls, identity: str | None = None, passphrase: str | None = None, field: str = "identity"
    ) -> DecryptionKeys:
        """Keys from an identity file's text (`AGE-SECRET-KEY-1…` lines, or an SSH private key) and/or a
        passphrase."""
        identities: list[Any] = []
        if identity is not None and identity.strip():
            if len(identity) > MAX_KEY_FILE:
                raise InvalidKeyError(field, "an identity file is at most 1 MiB")
            if "PRIVATE KEY-----" in identity:
                try:
                    identities.append(ssh.Identity.from_buffer(identity.encode()))
                except pyrage.IdentityError:
                    raise InvalidKeyError(field, "not an unencrypted SSH private key") from None
            else:
                for number, line in enumerate(identity.splitlines(), 1):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    try:
                        identities.append(x25519.Identity.from_str(line))
                    except pyrage.IdentityError:
                        raise InvalidKeyError(
                            field, f"line {number} is not an age identity (AGE-SECRET-KEY-1…)"
                        ) from None
            if not identities:
                raise InvalidKeyError(field, "no identity in it")
        return cls(tuple(identities), check_passphrase(passphrase) if passphrase else None)

    @classmethod
    def from_files(
        cls, identity_files: Iterable[Path] = (), passphrase_file: Path | None = None
    ) -> DecryptionKeys:
        """Keys from identity files (`--identity`) and a passphrase file (`--passphrase-file`)."""
        identities: list[Any] = []
        for path in identity_files:
            try:
                with path.open("rb") as handle:
                    raw = handle.read(MAX_KEY_FILE + 1)
                text = raw.decode()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or "not UTF-8 text"
                raise InvalidKeyError("--identity", f"cannot read {path}: {reason}") from None
            identities += cls.from_text(text, field="--identity").identities
        passphrase = read_passphrase(passphrase_file) if passphrase_file is not None else None
        return cls(tuple(identities), passphrase)


def _header(path: Path) -> bytes:
    """The start of the age header of `path` (an armored file's decoded), or b"" for any other file."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError:
        return b""
    if head.startswith(ARMOR_BEGIN):
        body = b"".join(head.splitlines()[1:40])
        body = body.split(b"-----END", 1)[0]
        try:
            return base64.b64decode(body[: len(body) // 4 * 4])
        except (binascii.Error, ValueError):
            return b""
    return head if head.startswith(VERSION_LINE + b"\n") else b""


def is_encrypted(path: Path) -> bool:
    """Whether `path` is an age file (binary or armored)."""
    return bool(_header(path))


def needs_passphrase(path: Path) -> bool:
    """Whether the age file at `path` was encrypted to a passphrase (an scrypt stanza)."""
    return b"\n-> scrypt " in _header(path)


def decrypt_file(src: Path, dst: IO[bytes], keys: DecryptionKeys) -> None:
    """Write the plaintext of the age file `src` to `dst`; `DecryptError` when `keys` do not open it or it
    was changed (age authenticates every chunk: whatever was written to `dst` is then to be discarded)."""
    if not is_encrypted(src):
        raise DecryptError(f"{src.name} is not an age-encrypted file")
    if needs_passphrase(src):
        if keys.passphrase is None:
            raise DecryptError(f"{src.name} is encrypted with a passphrase: give it (--passphrase-file)")
        try:
            # pyrage decrypts passphrase files from memory only (the file is read whole).
            dst.write(pyrage.passphrase.decrypt(src.read_bytes(), keys.passphrase))
        except pyrage.DecryptError:
            raise DecryptError(
                f"the passphrase does not open {src.name}, or the file was changed after it was encrypted"
            ) from None
        return
    if not keys.identities:
        raise DecryptError(f"{src.name} is encrypted to age recipients: give an identity file (--identity)")
    refused = DecryptError(
        f"none of the identities given opens {src.name}, or the file was changed after it was encrypted"
    )
    try:
        with src.open("rb") as handle:
            pyrage.decrypt_io(handle, dst, list(keys.identities))  # type: ignore[arg-type]
    except pyrage.DecryptError:
        raise refused from None
    except OSError as exc:
        # A chunk whose tag does not verify surfaces from the payload reader as an I/O error.
        if "decrypt" in str(exc).lower():
            raise refused from None
        raise


@contextlib.contextmanager
def opened(path: Path, keys: DecryptionKeys | None = None) -> Iterator[Path]:
    """The plaintext ZIP of `path`: the file itself, or (an `.age` file) a decrypted copy in a private
    temporary directory (mode 0700) that is removed when the block ends."""
    if not is_encrypted(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mcpdiag-open-") as tmp:
        plain = Path(tmp) / (path.name.removesuffix(AGE_SUFFIX) or "bundle.zip")
        with plain.open("wb") as out:
            decrypt_file(path, out, keys or DecryptionKeys())
        yield plain
