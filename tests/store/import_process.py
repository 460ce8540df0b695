"""An import in a process of its own, for the tests that kill one: `python -m tests.store.import_process
STORE_URL FILE [--pause-after N]`.

With `--pause-after N` the import stops once it has committed at least N events (or, with
`--pause-in-check`, while it is still checking), prints `PAUSED <done>` and waits to be killed; otherwise it
prints the report as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from mcpdiag.store import open_store
from mcpdiag.store.transfer import TransferProgress, import_file


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("file", type=Path)
    parser.add_argument("--pause-after", type=int, default=None)
    parser.add_argument("--pause-in-check", action="store_true")
    args = parser.parse_args()

    def on_progress(progress: TransferProgress) -> None:
        if args.pause_after is None:
            return
        checking = args.pause_in_check and progress.phase == "checking"
        importing = not args.pause_in_check and progress.phase == "importing"
        if (checking or importing) and progress.done >= args.pause_after:
            print(f"PAUSED {progress.done}", flush=True)
            while True:  # the SIGKILL ends this, in the middle of the import
                time.sleep(1)

    async def run() -> None:
        store = open_store(args.store)
        await store.ensure_schema()
        try:
            report = await import_file(store, args.file, on_progress=on_progress, batch_size=500)
        finally:
            await store.close()
        print(json.dumps(report.to_dict()), flush=True)

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
