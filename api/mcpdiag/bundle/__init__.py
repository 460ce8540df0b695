"""mcpdiag.bundle: sanitized, leak-scanned support bundles (ZIP) of stored events, for the API and the CLI."""

from __future__ import annotations

from mcpdiag.bundle.analysis import render_analysis
from mcpdiag.bundle.errors import (
    BundleError,
    BundleOutputError,
    BundlePermissionError,
    BundleStoreError,
    InvalidScopeError,
    LeakDetectedError,
)
from mcpdiag.bundle.exporter import BundleResult, ProgressFn, export_bundle
from mcpdiag.bundle.known_secrets import collect_known_secrets
from mcpdiag.bundle.leakscan import LeakScanner, scan_bundle
from mcpdiag.bundle.scope import BundleScope, bundle_filename
from mcpdiag.bundle.settings_file import sanitize_settings

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
    "collect_known_secrets",
    "export_bundle",
    "render_analysis",
    "sanitize_settings",
    "scan_bundle",
]
