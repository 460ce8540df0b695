"""The manifest's own integrity: a trailer member after MANIFEST.json, which lists every other file.

MANIFEST.json records the size and SHA-256 of every other member; what vouches for MANIFEST.json itself is
`MANIFEST.sha256`, the SHA-256 of its exact bytes in `sha256sum` format (so `sha256sum -c MANIFEST.sha256`
checks an unzipped bundle too). A digest proves the manifest was not changed by accident or on its own;
someone rewriting both files on purpose is caught only by a key: with `MCPDIAG_BUNDLE_HMAC_KEY` set, the
exporter adds `MANIFEST.hmac`, an HMAC-SHA256 of the same bytes under that key, which `mcpdiag bundle
verify` checks when given the key. An encrypted bundle is also authenticated as a whole by age (every
chunk carries a Poly1305 tag), but age has no sender identity: the HMAC is what says who made it.
"""

from __future__ import annotations

import hashlib
import hmac

MANIFEST = "MANIFEST.json"
DIGEST_MEMBER = "MANIFEST.sha256"
HMAC_MEMBER = "MANIFEST.hmac"
TRAILERS = frozenset({DIGEST_MEMBER, HMAC_MEMBER})
MIN_HMAC_KEY = 32
_HMAC_KIND = "hmac-sha256"


def key_id(key: bytes) -> str:
    """A short name for an HMAC key (16 hex digits of a hash of it), so that a wrong key can be named."""
    return hashlib.sha256(b"mcpdiag bundle hmac key\x00" + key).hexdigest()[:16]


def trailer_members(manifest: bytes, key: bytes | None) -> list[tuple[str, bytes]]:
    """The trailer members for the MANIFEST.json bytes `manifest` (the HMAC one only with a key)."""
    members = [(DIGEST_MEMBER, f"{hashlib.sha256(manifest).hexdigest()}  {MANIFEST}\n".encode())]
    if key is not None:
        mac = hmac.new(key, manifest, hashlib.sha256).hexdigest()
        members.append((HMAC_MEMBER, f"{_HMAC_KIND} {key_id(key)} {mac}\n".encode()))
    return members


def check_digest(manifest: bytes, trailer: bytes | None) -> tuple[bool, str]:
    """Whether MANIFEST.sha256 (`trailer`, None when absent) vouches for `manifest`, and why (in words)."""
    if trailer is None:
        return False, f"{DIGEST_MEMBER} is missing: nothing vouches for the manifest"
    fields = trailer.decode("ascii", "replace").split()
    if len(fields) != 2 or fields[1].lstrip("*") != MANIFEST or len(fields[0]) != 64:
        return False, f"{DIGEST_MEMBER} is not a SHA-256 line for {MANIFEST}"
    if not hmac.compare_digest(fields[0].lower(), hashlib.sha256(manifest).hexdigest()):
        return False, f"{MANIFEST} was changed after export: its SHA-256 differs from {DIGEST_MEMBER}"
    return True, f"SHA-256 matches {DIGEST_MEMBER}"


def check_hmac(manifest: bytes, trailer: bytes | None, key: bytes | None) -> tuple[bool | None, str]:
    """The HMAC check: True/False, or None when it cannot be made (no key given, none recorded)."""
    if trailer is None:
        if key is not None:
            return False, f"an HMAC key was given but the bundle has no {HMAC_MEMBER}: it was not signed"
        return None, "no HMAC recorded"
    fields = trailer.decode("ascii", "replace").split()
    if len(fields) != 3 or fields[0] != _HMAC_KIND:
        return False, f"{HMAC_MEMBER} is not an HMAC-SHA256 line"
    if key is None:
        return None, f"HMAC recorded (key {fields[1]}) but not checked: no key given"
    if fields[1] != key_id(key):
        return False, f"{HMAC_MEMBER} was made with another key ({fields[1]}, not {key_id(key)})"
    expected = hmac.new(key, manifest, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(fields[2].lower(), expected):
        return False, f"{MANIFEST} was changed after export: its HMAC does not verify"
    return True, f"HMAC-SHA256 verifies with key {fields[1]}"
