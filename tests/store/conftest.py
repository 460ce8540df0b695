"""The `store` fixture: every conformance test runs against each real backend available here."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcpdiag.store import EventStore, MongoEventStore, Retention, SQLiteEventStore
from tests.factories import FakeClock

BACKENDS = ["sqlite", "mongomock"] + (["mongodb"] if os.environ.get("MCPDIAG_TEST_MONGO_URL") else [])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def build_store(backend: str, tmp_path: Path, clock: FakeClock) -> EventStore:
    """A fresh, empty store of `backend` with its schema in place."""
    retention = Retention()
    store: EventStore
    if backend == "sqlite":
        store = SQLiteEventStore(tmp_path / "events.db", retention=retention, clock=clock)
    elif backend == "mongomock":
        from mongomock_motor import AsyncMongoMockClient

        store = MongoEventStore(AsyncMongoMockClient(), retention=retention, clock=clock)
    else:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            os.environ["MCPDIAG_TEST_MONGO_URL"], tz_aware=True, serverSelectionTimeoutMS=5000
        )
        store = MongoEventStore(client, database=f"mcpdiag_test_{uuid.uuid4().hex[:8]}", clock=clock)
    await store.ensure_schema()
    return store


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test: sqlite, mongomock or mongodb."""
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[EventStore]:
    store = await build_store(backend, tmp_path, clock)
    yield store
    if backend == "mongodb":
        assert isinstance(store, MongoEventStore)
        await store.client.drop_database(store.events.database.name)
    await store.close()
