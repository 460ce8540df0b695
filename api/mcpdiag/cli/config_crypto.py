"""The cryptography of a configuration backup: every secret value sealed with AES-256-GCM.

The key comes from `MCPDIAG_CONFIG_SECRET` through scrypt with a random salt kept in the file (its cost
parameters too, bounded when read back, so a crafted file cannot make a read cost minutes). scrypt gives
64 bytes: the AES-256 key, and an HMAC-SHA256 key over the whole document, so changing any value, secret or
not, is detected. Each sealed value has its own random 96-bit nonce and is bound (as associated data) to the
setting it belongs to: a sealed value moved to another setting does not open. A key check value lets a
wrong secret be told apart from a changed file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mcpdiag.cli.errors import ConfigBackupError, ConfigKeyError

MIN_SECRET_CHARS = 16
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 2**20, 16, 4
NONCE_BYTES = 12
SEALED = "aes256gcm"
"""The key of a sealed value's object: `{"aes256gcm": base64(nonce ‖ ciphertext ‖ tag)}`."""
_CHECK = b"mcpdiag configuration backup key check"
_AAD = "mcpdiag-config/v1/"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) > 1_000_000:
        raise ConfigBackupError(f"{what}: expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigBackupError(f"{what}: not valid base64") from None


def check_secret(secret: str | None, name: str = "MCPDIAG_CONFIG_SECRET") -> str:
    """`secret` if it is set and long enough; `ConfigKeyError` naming the variable otherwise."""
    if not secret:
        raise ConfigKeyError(f"{name} is not set: it is the key that seals the backup's secrets")
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigKeyError(f"{name} must be at least {MIN_SECRET_CHARS} characters")
    return secret


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens the values of one backup (one key, derived from the secret and the file's salt)."""

    kdf: dict[str, Any]
    _aes: AESGCM
    _mac_key: bytes

    @classmethod
    def new(cls, secret: str) -> Sealer:
        """A sealer with a fresh salt, for writing a backup."""
        kdf = {
            "name": "scrypt",
            "salt": _b64(secrets.token_bytes(16)),
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
        }
        return cls.derive(secret, kdf)

    @classmethod
    def derive(cls, secret: str, kdf: Any) -> Sealer:
        """The sealer of a backup's `kdf` parameters (bounded) and `secret`."""
        if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
            raise ConfigBackupError("kdf: expected scrypt parameters")
        n, r, p = kdf.get("n"), kdf.get("r"), kdf.get("p")
        for label, value, bound in (("n", n, MAX_SCRYPT_N), ("r", r, MAX_SCRYPT_R), ("p", p, MAX_SCRYPT_P)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= bound:
                raise ConfigBackupError(f"kdf.{label}: must be an integer from 1 to {bound}")
        assert isinstance(n, int) and isinstance(r, int) and isinstance(p, int)
        if n < 2 or n & (n - 1):
            raise ConfigBackupError("kdf.n: must be a power of two")
        salt = _unb64(kdf.get("salt"), "kdf.salt")
        if len(salt) < 16:
            raise ConfigBackupError("kdf.salt: at least 16 bytes")
        material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(check_secret(secret).encode())
        return cls(dict(kdf), AESGCM(material[:32]), material[32:])

    def seal(self, value: Any, where: str) -> dict[str, str]:
        """`value` (any JSON value) sealed for the setting `where`."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        plain = json.dumps(value, separators=(",", ":")).encode()
        return {SEALED: _b64(nonce + self._aes.encrypt(nonce, plain, (_AAD + where).encode()))}

    def open(self, sealed: Any, where: str) -> Any:
        """The value sealed for `where`; `ConfigBackupError` if it was changed or moved."""
        if not is_sealed(sealed):
            raise ConfigBackupError(f"{where}: a secret must be sealed, and this one is not")
        blob = _unb64(sealed[SEALED], where)
        try:
            plain = self._aes.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], (_AAD + where).encode())
        except (InvalidTag, ValueError):
            raise ConfigBackupError(
                f"{where}: the sealed value does not open: the file was changed"
            ) from None
        return json.loads(plain)

    def key_check(self) -> dict[str, str]:
        """A sealed constant: opening it tells whether a secret is the right one."""
        return self.seal(_CHECK.decode(), "key-check")

    def verify_key(self, check: Any) -> None:
        """`ConfigKeyError` unless `check` opens with this key."""
        try:
            ok = self.open(check, "key-check") == _CHECK.decode()
        except ConfigBackupError:
            ok = False
        if not ok:
            raise ConfigKeyError(
                "MCPDIAG_CONFIG_SECRET does not open this backup: it was sealed with another secret"
            )

    def mac(self, document: dict[str, Any]) -> str:
        """The HMAC of a document (its `mac` member left out), over its canonical JSON."""
        body = {k: v for k, v in document.items() if k != "mac"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        return _b64(hmac.new(self._mac_key, canonical, hashlib.sha256).digest())

    def verify_mac(self, document: dict[str, Any]) -> None:
        """`ConfigBackupError` unless the document's `mac` matches its content."""
        given = document.get("mac")
        if not isinstance(given, str) or not hmac.compare_digest(given, self.mac(document)):
            raise ConfigBackupError("the backup was changed after it was written (its MAC does not match)")


def is_sealed(value: Any) -> bool:
    """Whether `value` has the shape of a sealed value."""
    return isinstance(value, dict) and list(value) == [SEALED] and isinstance(value[SEALED], str)
