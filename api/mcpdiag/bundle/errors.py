"""Errors raised while scoping, building or checking a support bundle."""

from __future__ import annotations


class BundleError(Exception):
    """Base class of every bundle error; `code` is machine-readable, `status` the HTTP status to answer."""

    code = "bundle_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidScopeError(BundleError, ValueError):
    """A scope parameter that does not parse or contradicts another; `field` names it (400)."""

    code = "invalid_parameter"
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class BundlePermissionError(BundleError):
    """The caller may not export this scope (403)."""

    code = "forbidden"
    status = 403


class BundleStoreError(BundleError):
    """The event store could not be read (503)."""

    code = "store_unavailable"
    status = 503


class BundleOutputError(BundleError):
    """The bundle could not be written where it was asked to go."""

    code = "output_unwritable"


class LeakDetectedError(BundleError):
    """The final leak scan found a secret in the finished bundle; names the file and rule, never the value.

    Not an internal error (422): the request was fine, but what it asks for cannot be handed out as it is.
    """

    code = "leak_detected"
    status = 422

    def __init__(self, file: str, rule: str) -> None:
        super().__init__(
            f"export refused: the leak scan found a '{rule}' match in {file}; no bundle was kept. "
            "Check the redaction rules and known secrets, then export again."
        )
        self.file = file
        self.rule = rule


class InvalidKeyError(BundleError, ValueError):
    """A recipient, identity or passphrase that cannot be used; `field` names the option or setting (400)."""

    code = "invalid_parameter"
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class DecryptError(BundleError):
    """An encrypted bundle that the given identities or passphrase do not open, or that was changed (400)."""

    code = "cannot_decrypt"
    status = 400


class BundleFormatError(BundleError):
    """A file that is not a bundle mcpdiag can read: not a ZIP, no manifest, a member it cannot read (400)."""

    code = "invalid_bundle"
    status = 400


class InvalidPatternError(BundleError, ValueError):
    """A redaction pattern that is refused: not RE2 syntax, too large, or matching the empty string (400)."""

    code = "invalid_parameter"
    status = 400

    def __init__(self, pattern_index: int, message: str) -> None:
        super().__init__(f"pattern {pattern_index}: {message}")
        self.index = pattern_index


class BundleScanError(BundleError):
    """The leak scan of an encrypted export could not be completed: the export is refused, nothing kept."""

    code = "scan_failed"
