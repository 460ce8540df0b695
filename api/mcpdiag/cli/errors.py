"""The CLI's errors: what the person at the terminal reads, and the exit status that goes with it."""

from __future__ import annotations


class CliError(Exception):
    """A command that cannot do what was asked; the message is for the person at the terminal (exit 1)."""

    exit_code = 1


class BadArgument(CliError):
    """An argument that is malformed or designates nothing (exit 2, like a usage error)."""

    exit_code = 2


class LookupFailed(CliError):
    """A lookup that cannot be answered: no store, nothing found, several traces under one prefix."""


class TransferFailed(CliError):
    """An export, import or migration that cannot be done (a store missing or unreachable, …)."""


class ConfigBackupError(CliError, ValueError):
    """A configuration backup that cannot be written, read, validated or applied."""


class ConfigKeyError(ConfigBackupError):
    """`MCPDIAG_CONFIG_SECRET` is missing, too short, or does not open this backup."""
