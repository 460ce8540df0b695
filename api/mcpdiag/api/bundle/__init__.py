"""Support bundles: a sanitized, leak-scanned ZIP of stored events, built for the API and the CLI.

The names below are imported on first use (`mcpdiag.emitters.lazy`), so that the scan helper process
(`mcpdiag.api.bundle.tailscan`) loads the leak scanner without the exporter's store and web dependencies.
"""

from __future__ import annotations

import typing

from mcpdiag.emitters.lazy import lazy_exports

if typing.TYPE_CHECKING:
    from mcpdiag.api.bundle.analysis import render_analysis
    from mcpdiag.api.bundle.errors import (
        BundleError,
        BundleOutputError,
        BundlePermissionError,
        BundleStoreError,
        InvalidScopeError,
        LeakDetectedError,
    )
    from mcpdiag.api.bundle.exporter import BundleResult, ProgressFn, export_bundle
    from mcpdiag.api.bundle.leakscan import LeakScanner, scan_bundle
    from mcpdiag.api.bundle.sanitize import collect_known_secrets, sanitize_settings
    from mcpdiag.api.bundle.scope import BundleScope, bundle_filename, check_bundle_permission

__all__ = [
    "BundleError",
    "BundleOutputError",
    "BundlePermissionError",
    "BundleResult",
    "BundleScope",
    "BundleStoreError",
    "InvalidScopeError",
    "LeakDetectedError",
    "LeakScanner",
    "ProgressFn",
    "bundle_filename",
    "check_bundle_permission",
    "collect_known_secrets",
    "export_bundle",
    "render_analysis",
    "sanitize_settings",
    "scan_bundle",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "mcpdiag.api.bundle.analysis": ("render_analysis",),
        "mcpdiag.api.bundle.errors": (
            "BundleError",
            "BundleOutputError",
            "BundlePermissionError",
            "BundleStoreError",
            "InvalidScopeError",
            "LeakDetectedError",
        ),
        "mcpdiag.api.bundle.exporter": ("BundleResult", "ProgressFn", "export_bundle"),
        "mcpdiag.api.bundle.leakscan": ("LeakScanner", "scan_bundle"),
        "mcpdiag.api.bundle.sanitize": ("collect_known_secrets", "sanitize_settings"),
        "mcpdiag.api.bundle.scope": ("BundleScope", "bundle_filename", "check_bundle_permission"),
    },
)
