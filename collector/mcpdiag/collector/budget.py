"""How many distinct MCP server names ingest may create: per ingest key, and in all.

Every server name is a card in the UI, a row of every status answer and a file of every full bundle, so an
ingest key that invents names (a bug, or an attacker holding a key) costs every reader. Names already in the
store are always accepted; a new name is refused — by the event's index, field `server`, the rest of the
batch kept — once its key has introduced `per_key` names in this process, or the store holds `total`.

The count per key lives in the process (keys are never stored); the total is the store's. With several
collector replicas a key may introduce up to `per_key` names in each, never more than `total` in all.
"""

from __future__ import annotations

import hashlib
import threading

from mcpdiag.collector.validation import Intake
from mcpdiag.store import EventStore


def key_id(key: str | None) -> str:
    """A short, non-reversible name of an ingest key for counting (the key itself is never kept)."""
    return hashlib.sha256((key or "").encode()).hexdigest()[:16]


class ServerBudget:
    """Admits or refuses the new server names of each request."""

    def __init__(self, *, per_key: int, total: int) -> None:
        self.per_key, self.total = per_key, total
        self._known: set[str] = set()
        self._introduced: dict[str, int] = {}
        self._lock = threading.Lock()

    async def load(self, store: EventStore) -> None:
        """Know every name the store holds (they never count against a key)."""
        names = await store.list_servers()
        with self._lock:
            self._known.update(names)

    @property
    def known(self) -> int:
        """Distinct server names known to this process."""
        return len(self._known)

    def admit(self, intake: Intake, key: str | None) -> None:
        """Refuse, in `intake`, the events whose new server names are over budget for `key`."""
        who = key_id(key)
        with self._lock:
            position = 0
            while position < len(intake.events):
                server = intake.events[position].server
                if server in self._known:
                    position += 1
                    continue
                used = self._introduced.get(who, 0)
                if used >= self.per_key:
                    reason = (
                        f"this ingest key already introduced {self.per_key} server names "
                        "(MCPDIAG_MAX_SERVERS_PER_KEY); a new name is refused"
                    )
                elif len(self._known) >= self.total:
                    reason = f"the store already holds {self.total} server names (MCPDIAG_MAX_SERVERS)"
                else:
                    self._known.add(server)
                    self._introduced[who] = used + 1
                    position += 1
                    continue
                intake.refuse(position, "server", reason)
