"""Lazy re-exports (PEP 562): a package's public names, imported from their modules on first use.

Importing a submodule runs every parent package's `__init__`; if those imported their whole surface eagerly,
a host importing the redactor would load pydantic first, and the bundle's scan helper process
(`mcpdiag.api.bundle.tailscan`) would load FastAPI.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public names live in `modules` (module → names);
    they must be the package's `__all__`, defined before."""
    where = {name: module for module, names in modules.items() for name in names}
    namespace = vars(sys.modules[package])
    drift = set(namespace.get("__all__", ())) ^ set(where)
    if drift:
        raise ImportError(f"{package}: __all__ and its lazy names differ in {sorted(drift)}")

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
