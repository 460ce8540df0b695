"""MongoDB's failures are outages; our own bugs are not (item 4 of the hardening issue).

The driver is the boundary: its collection is made to fail the way a lost server does (`AutoReconnect`,
a `PyMongoError`) and the way a programming error does (`TypeError`), and only the first may become
`StoreUnavailableError`, the error the collector spools and retries as an outage.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import AutoReconnect

from mcpdiag.store import MongoEventStore
from mcpdiag.store.base import EventQuery
from mcpdiag.store.errors import StoreUnavailableError
from tests.factories import make_event

STORE_SOURCES = sorted(
    (Path(__file__).resolve().parents[2] / "collector" / "mcpdiag" / "store").rglob("*.py")
)


class Failing:
    """Stands for the driver's collection: every call raises `error`."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(*args: object, **kwargs: object) -> Any:
            raise self.error

        return fail


async def _store(error: BaseException) -> MongoEventStore:
    store = MongoEventStore(AsyncMongoMockClient())
    await store.ensure_schema()
    store.events = Failing(error)
    return store


async def test_a_lost_server_is_store_unavailable() -> None:
    store = await _store(AutoReconnect("connection reset"))
    with pytest.raises(StoreUnavailableError):
        await store.append([make_event()])
    with pytest.raises(StoreUnavailableError):
        await store.page(EventQuery(server="github"))


@pytest.mark.parametrize("error", [TypeError("bad argument"), KeyError("field"), AttributeError("x")])
async def test_a_programming_error_is_not_an_outage(error: BaseException) -> None:
    store = await _store(error)
    with pytest.raises(type(error)):
        await store.append([make_event()])
    with pytest.raises(type(error)):
        await store.page(EventQuery(server="github"))


def _swallows(node: ast.ExceptHandler) -> bool:
    """A handler of everything that does not end by re-raising (cleanup then `raise` is fine)."""
    broad = node.type is None or (
        isinstance(node.type, ast.Name) and node.type.id in {"Exception", "BaseException"}
    )
    last = node.body[-1]
    return broad and not (isinstance(last, ast.Raise) and last.exc is None)


@pytest.mark.parametrize("path", STORE_SOURCES, ids=lambda p: p.name)
def test_no_store_module_swallows_everything(path: Path) -> None:
    """`except Exception` that does not re-raise would turn any bug into "store unavailable"."""
    tree = ast.parse(path.read_text())
    assert [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and _swallows(n)] == []
