"""Errors of the command line's own operations; each message is for the person at the terminal."""

from __future__ import annotations


class CliError(Exception):
    """Base class: an operation of the `mcpdiag` command that cannot be done."""


class TransferFailed(CliError):
    """An export, import or migration that cannot be done (a store missing or unreachable, …)."""


class ConfigBackupError(CliError, ValueError):
    """A configuration backup that cannot be written, read, validated or applied."""


class ConfigKeyError(ConfigBackupError):
    """`MCPDIAG_CONFIG_SECRET` is missing, too short, or does not open this backup."""
