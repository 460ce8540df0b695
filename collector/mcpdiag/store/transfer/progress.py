"""How far a transfer is: one small mutable record the engine updates and callers read or are told of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["counting", "exporting", "checking", "importing", "done"]


@dataclass(slots=True)
class TransferProgress:
    """The phase of an export or import, events done in it and, when known, the events expected."""

    phase: Phase = "counting"
    done: int = 0
    total: int | None = None


ProgressCallback = Callable[[TransferProgress], None]


def notify(
    progress: TransferProgress,
    callback: ProgressCallback | None,
    *,
    phase: Phase | None = None,
    done: int | None = None,
    total: int | None = None,
) -> None:
    """Update `progress` and tell `callback`, if any."""
    if phase is not None and phase != progress.phase:
        progress.phase, progress.done = phase, 0
    if done is not None:
        progress.done = done
    if total is not None:
        progress.total = total
    if callback is not None:
        callback(progress)
