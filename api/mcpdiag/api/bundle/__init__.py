"""Support bundles: a sanitized, leak-scanned ZIP of stored events, built for the API and the CLI."""

from __future__ import annotations

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
