"""Which servers just had events stored: a wake-up for live streams, so they read the store at once
instead of on their next poll. A hint only — streams always read what they send from the store, so events
stored by another replica (which wakes nobody here) still arrive, on the poll."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class Changes:
    """Per-server wake-ups for the readers waiting on them (one asyncio loop)."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._versions: dict[str, int] = {}

    def notify(self, servers: Iterable[str]) -> None:
        """Wake every reader of any of `servers`."""
        for server in set(servers):
            waiting = self._waiting.get(server)
            if waiting:
                self._versions[server] = self._versions.get(server, 0) + 1
                for event in waiting:
                    event.set()

    def version(self, server: str) -> int:
        """How often `server`'s readers were woken (while it had any): a read begun at a version has
        seen every event stored before that wake-up."""
        return self._versions.get(server, 0)

    def subscribe(self, server: str) -> asyncio.Event:
        """An event set whenever `server` has new events; `unsubscribe` it when done."""
        event = asyncio.Event()
        self._waiting.setdefault(server, set()).add(event)
        return event

    def unsubscribe(self, server: str, event: asyncio.Event) -> None:
        """Stop waking `event`."""
        waiting = self._waiting.get(server)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self._waiting[server]

    @property
    def readers(self) -> int:
        """Readers subscribed now."""
        return sum(len(events) for events in self._waiting.values())
