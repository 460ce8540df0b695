"""The garbage collector in a long-running service: the heap the app starts with stays out of full passes.

Once the app has started, most of its objects live as long as the process (modules, routes, schemas,
settings: about 160,000 for the API app). Python's full collection walks every one of them, and each such
pass paused every request: at 1M stored events two passes of about 57 ms each fell into 250 Overview and
problems calls (bench/problems_bench.py), most of their p99. Frozen (`gc.freeze`), they are left out of
the collector's passes; they are unfrozen when the app stops, so an app started and stopped in a process
that goes on (a test, `mcpdiag open`) leaves nothing behind that the collector can no longer free.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """Freeze what is alive now out of the garbage collector's passes until the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
