"""Running the documentation: the fenced blocks of a Markdown file, and the ones marked runnable.

A block whose info string is `sh runnable` is a command a reader can copy and that a test runs: against a
real `mcpdiag serve` on loopback, in a deployment directory of its own, in one bash session per document
(as a reader pastes them into one terminal, in order). The documents say `127.0.0.1:8000` (and 8443 for
the TLS check); the test substitutes the ports it got from the OS.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNBOOK = DOCS / "runbook.md"
CODES = DOCS / "codes"
BIN = Path(sys.executable).parent

RUNNABLE = "runnable"
DOC_PORTS = (8000, 8443)
TOOLS = ("bash", "curl", "jq", "sqlite3", "openssl", "sha256sum", "timeout", "ss")

_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
_URL_HOST = re.compile(r"\bhttps?://(\[[^\]]*\]|[^/:\s\"'$]+)")
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]"}


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its flags (`runnable`) and its text."""

    path: Path
    line: int
    heading: str
    lang: str
    flags: frozenset[str]
    code: str

    @property
    def runnable(self) -> bool:
        return self.lang == "sh" and RUNNABLE in self.flags

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.heading})"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        info = match.group(1).split()
        headings = _HEADING.findall(text, 0, match.start())
        line = text.count("\n", 0, match.start()) + 1
        lang, flags = (info[0], frozenset(info[1:])) if info else ("", frozenset())
        found.append(Block(path, line, headings[-1] if headings else "", lang, flags, match.group(2)))
    return found


def runnable(path: Path) -> list[Block]:
    """The blocks of `path` a test runs."""
    return [block for block in blocks(path) if block.runnable]


def hosts(code: str) -> set[str]:
    """Every host named in an http(s) URL of `code`."""
    return {host.lower() for host in _URL_HOST.findall(code)}


def non_loopback(code: str) -> set[str]:
    """Hosts in `code` that are not loopback (a runnable block must name none)."""
    return hosts(code) - _LOOPBACK


def free_port() -> int:
    """A port nothing listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def localize(code: str, ports: Mapping[int, int]) -> str:
    """The documented ports replaced by the test's (`127.0.0.1:8000`, `localhost:8000`, `--port 8000`)."""
    for documented, actual in ports.items():
        code = re.sub(rf"(127\.0\.0\.1:|localhost:|--port |:){documented}\b", rf"\g<1>{actual}", code)
    return code


def missing_tools() -> list[str]:
    """The command-line tools the documented commands use that this machine lacks."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def shell_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A reader's shell: mcpdiag's virtualenv first on PATH, no MCPDIAG_* variables exported (mcpdiag
    reads the deployment's .env itself), a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPDIAG_")}
    env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "HOME": str(home), "LC_ALL": "C.UTF-8"}
    return env | dict(extra or {})


@dataclass
class Outcome:
    """What a document's script did: its exit status, output, and the block it stopped in."""

    returncode: int
    stdout: str
    stderr: str
    failed: Block | None


def script(chosen: Iterable[Block], ports: Mapping[int, int]) -> tuple[str, list[Block]]:
    """One bash script running `chosen` in order, each announced by a marker line on stderr."""
    ordered = list(chosen)
    parts = ["set -euo pipefail"]
    for index, block in enumerate(ordered):
        parts.append(f"echo '::block {index}' >&2")
        parts.append(localize(block.code, ports))
    return "\n".join(parts) + "\n", ordered


def run(
    chosen: Iterable[Block], cwd: Path, env: Mapping[str, str], ports: Mapping[int, int], timeout: float = 600
) -> Outcome:
    """Run the blocks as one bash session in `cwd`; on failure, name the block it stopped in."""
    text, ordered = script(chosen, ports)
    process = subprocess.run(
        ["bash", "-c", text], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    markers = re.findall(r"^::block (\d+)$", process.stderr, re.MULTILINE)
    failed = ordered[int(markers[-1])] if process.returncode and markers else None
    return Outcome(process.returncode, process.stdout, process.stderr, failed)


def _ours(pid: int, folder: Path) -> bool:
    """Whether `pid` is still an mcpdiag process working in `folder` (a pid file may outlive its process,
    and the number may since belong to someone else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    return "mcpdiag" in cmdline and cwd.is_relative_to(folder)


def stop_pid_files(folder: Path, grace_s: float = 15) -> None:
    """Stop what the documents' commands started and left running: the processes named by `*.pid` files
    in `folder`, if they are still ours — SIGTERM, then SIGKILL after `grace_s`."""
    for pid_file in folder.rglob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
        except ValueError:
            continue
        if not _ours(pid, folder.resolve()):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _ours(pid, folder.resolve()) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _ours(pid, folder.resolve()):
            os.kill(pid, signal.SIGKILL)
