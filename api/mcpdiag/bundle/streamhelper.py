"""The scan helper of encrypted exports: it leak-scans the ZIP bytes the exporter sends it (`streamscan`).

Its stdin carries one JSON line `{"secrets": [...]}`, then frames: a 4-byte big-endian length and that
many bytes of the ZIP, in order; a zero length ends the stream. It answers one JSON line on stdout: the
member count, a leak (file and rule, never the value), or the type of the error that stopped it. Run it as
`python -P -m mcpdiag.bundle.streamhelper`.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from mcpdiag.bundle.errors import LeakDetectedError
from mcpdiag.bundle.leakscan import LeakScanner
from mcpdiag.bundle.zipstream import ZipStreamScan


def _exactly(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the exporter went away before the bundle was finished")
    return data


def serve(commands: IO[bytes], answers: IO[str]) -> int:
    """Scan the stream on `commands`; write the verdict to `answers`."""
    answer: dict[str, Any]
    try:
        secrets = frozenset(json.loads(commands.readline())["secrets"])
        scan = ZipStreamScan(LeakScanner(secrets))
        while length := int.from_bytes(_exactly(commands, 4), "big"):
            scan.feed(_exactly(commands, length))
        answer = {"members": scan.close()}
    except LeakDetectedError as exc:
        answer = {"leak": {"file": exc.file, "rule": exc.rule}}
    except Exception as exc:  # reported to the exporter, which refuses the export
        # The type only: a message could quote what was being scanned.
        answer = {"error": type(exc).__name__}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
    return 0 if "members" in answer else 1


if __name__ == "__main__":
    sys.exit(serve(sys.stdin.buffer, sys.stdout))
