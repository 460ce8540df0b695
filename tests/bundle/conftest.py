"""The bundle tests' store: an empty SQLite file whose clock stands at NOW."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcpdiag.store import SQLiteEventStore
from tests.factories import NOW, FakeClock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    """An empty SQLite store whose clock stands at NOW (the bundle tests)."""
    store = SQLiteEventStore(tmp_path / "events.db", clock=FakeClock(NOW))
    await store.ensure_schema()
    yield store
    await store.close()
