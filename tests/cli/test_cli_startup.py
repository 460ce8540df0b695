"""The command line starts without the MCP SDK: only `mcpdiag doctor` drives it, and loads it when it runs.

Importing the SDK took half a second of every command's start (`mcpdiag --help` 1.9 s, `mcpdiag open`'s
first 1.6 s). Each case runs a fresh interpreter, as a user's shell does.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

NO_SDK = "import sys; sys.modules['mcp'] = None; "  # `import mcp` then fails as if it were not installed


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["--help"], ["version"], ["open", "--help"], ["bundle", "--help"]])
def test_commands_other_than_the_doctor_never_import_the_mcp_sdk(argv: list[str]) -> None:
    run = _python(
        "import sys\nfrom mcpdiag.cli.app import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as exit:\n    code = exit.code\n"
        "assert not [m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')], 'mcp imported'\n"
        "sys.exit(code)",
        *argv,
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_doctor_loads_the_sdk_when_it_runs() -> None:
    run = _python(
        "import sys\nfrom mcpdiag.cli.app import app\n"
        "try:\n    app(['doctor', 'not a url'])\nexcept SystemExit:\n    pass\n"
        "assert 'mcp' in sys.modules"
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_without_the_sdk_the_doctor_says_what_to_install_and_the_rest_works() -> None:
    run = _python(
        NO_SDK + "from mcpdiag.cli.app import main; sys.argv = ['mcpdiag', *sys.argv[1:]]; main()",
        "doctor",
        "http://127.0.0.1:9/mcp",
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "the doctor needs the MCP SDK: pip install 'mcpdiag[mcp]'" in run.stderr
    assert "Traceback" not in run.stderr
    version = _python(NO_SDK + "from mcpdiag.cli.app import main; sys.argv = ['mcpdiag', 'version']; main()")
    assert version.returncode == 0 and version.stdout.startswith("mcpdiag "), version.stderr
