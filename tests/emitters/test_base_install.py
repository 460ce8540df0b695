"""`pip install mcpdiag` without extras gives a working emitter SDK and no server dependencies."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_base_install_imports_emitters_without_fastapi_or_pymongo(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    probe = (
        "import importlib.util, mcpdiag.emitters as e;"
        "assert e.DiagnosticEvent and e.CATALOG['MCP_TIMEOUT'].retryable;"
        "print(e.redact_text('Authorization: Bearer abcdef0123456789'));"
        # No Hyperscan in the base install: the pure-Python candidate scan serves.
        "import mcpdiag.emitters.redact_engine as engine; assert engine.ENGINE == 'stdlib', engine.ENGINE;"
        "print([m for m in ('fastapi', 'pymongo', 'starlette', 'uvicorn') if importlib.util.find_spec(m)])"
    )
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    redacted, missing = run.stdout.strip().splitlines()
    assert "abcdef0123456789" not in redacted
    assert missing == "[]"
