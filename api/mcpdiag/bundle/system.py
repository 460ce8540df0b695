"""version.json and system_info.json: what the bundle was built with and on."""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "mcpdiag", "pydantic", "pydantic-settings", "fastapi", "uvicorn", "starlette", "pymongo", "mcp", "httpx",
    "opentelemetry-sdk", "pyjwt", "typer", "rich", "psutil",
)  # fmt: skip
_MB = 1024 * 1024


def version_info(app_version: str) -> dict[str, Any]:
    """The app, Python and platform versions and those of the key packages (absent ones as null)."""
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "app": app_version,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }


def _stdlib_info(out_dir: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"cpu": {"count": os.cpu_count()}}
    if hasattr(os, "getloadavg"):
        info["cpu"]["loadAverage"] = [round(x, 2) for x in os.getloadavg()]
    try:
        import resource

        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        info["process"] = {
            "pid": os.getpid(),
            "peakRssMb": round(rss_kb / 1024 / (1024 if sys.platform == "darwin" else 1), 1),
        }
    except ImportError:
        info["process"] = {"pid": os.getpid()}
    usage = shutil.disk_usage(out_dir)
    info["disk"] = {"path": "output directory", "totalMb": usage.total // _MB, "freeMb": usage.free // _MB}
    info["source"] = "stdlib (psutil not installed)"
    return info


def system_info(out_dir: Path) -> dict[str, Any]:
    """CPU, memory, disk and process figures: psutil's when installed, else what the stdlib offers."""
    try:
        psutil: Any = importlib.import_module("psutil")
    except ImportError:
        return _stdlib_info(out_dir)
    mem = psutil.virtual_memory()
    disk = psutil.disk_usage(str(out_dir))
    proc = psutil.Process()
    with proc.oneshot():
        process = {
            "pid": proc.pid,
            "rssMb": round(proc.memory_info().rss / _MB, 1),
            "threads": proc.num_threads(),
            "uptimeS": round(time.time() - proc.create_time(), 1),
            "cpuTimesS": round(sum(proc.cpu_times()[:2]), 2),
        }
    return {
        "cpu": {
            "count": psutil.cpu_count(),
            "physical": psutil.cpu_count(logical=False),
            "loadAverage": [round(x, 2) for x in psutil.getloadavg()],
        },
        "memory": {"totalMb": mem.total // _MB, "availableMb": mem.available // _MB, "percent": mem.percent},
        "disk": {"path": "output directory", "totalMb": disk.total // _MB, "freeMb": disk.free // _MB},
        "process": process,
        "bootTime": round(psutil.boot_time()),
        "source": "psutil",
    }
