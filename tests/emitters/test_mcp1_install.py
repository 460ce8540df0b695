"""`pip install 'mcpdiag[mcp]' 'mcp<2'` in a fresh venv: a working `open_session` against a real 1.x server.

A host pinned to the 1.x line (IBM ContextForge pins `mcp>=1.28.1,<2`) installs exactly this; the probe runs
a 1.x FastMCP server on loopback, connects through `open_session`, calls a tool that fails, and checks the
emitted events, then checks that a closed port still leaves as MCPDiagnosticError.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import asyncio, json, socket, threading, time
import uvicorn
from mcp.server.fastmcp import FastMCP
from mcpdiag.emitters import Emitter, MemorySink, MCPDiagnosticError
from mcpdiag.emitters.mcp import SDK_LINE, SDK_VERSION, open_session

server = FastMCP("light")

@server.tool()
def fail(reason: str) -> str:
    raise ValueError(reason)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

port = free_port()
app = server.streamable_http_app()
web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
threading.Thread(target=web.run, daemon=True).start()
while not web.started:
    time.sleep(0.02)

async def main():
    sink = MemorySink()
    emitter = Emitter(sink, service="light")
    url = f"http://127.0.0.1:{port}/mcp"
    async with open_session("light", emitter=emitter, url=url, timeout=5, read_timeout=5) as session:
        tools = [t.name for t in (await session.list_tools()).tools]
        await session.call_tool("fail", {"reason": "nope"})
    refused = None
    try:
        closed = f"http://127.0.0.1:{free_port()}/mcp"
        async with open_session("light", emitter=emitter, url=closed, timeout=5):
            pass
    except MCPDiagnosticError as err:
        refused = err.code
    emitter.flush(5)
    print(json.dumps({"line": SDK_LINE, "version": SDK_VERSION, "tools": tools, "refused": refused,
                      "codes": [e["code"] for e in sink.events]}))
    emitter.close(2)
    web.should_exit = True

asyncio.run(main())
"""


def test_the_mcp_extra_with_the_1x_line_gives_a_working_open_session(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{ROOT}[mcp]",
            "mcp<2",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["line"] == 1 and found["version"].startswith("1.")
    assert found["tools"] == ["fail"]
    # The emitter delivers the worst first: order is not the point here.
    assert sorted(found["codes"]) == sorted(
        ["MCP_CONNECTED", "MCP_TOOL_ERROR", "MCP_DISCONNECTED", "MCP_CONNECTION_REFUSED"]
    )
    assert found["refused"] == "MCP_CONNECTION_REFUSED"
