"""Who may export which bundle: admins any scope, support one Debug ID's, users none."""

from __future__ import annotations

import pytest

from mcpdiag.api.acl import check_bundle_permission
from mcpdiag.api.principal import Principal, Role
from mcpdiag.bundle import BundlePermissionError, BundleScope
from tests.factories import NOW


def test_admin_may_export_any_scope() -> None:
    check_bundle_permission(Principal("ada", Role.ADMIN), BundleScope.parse(now=NOW))


def test_support_needs_a_debug_id() -> None:
    support = Principal("sam", Role.SUPPORT)
    check_bundle_permission(support, BundleScope.parse(debug_id="0123456789abcdef", now=NOW))
    with pytest.raises(BundlePermissionError, match="debugId") as caught:
        check_bundle_permission(support, BundleScope.parse(now=NOW))
    assert caught.value.status == 403


def test_users_may_not_export() -> None:
    with pytest.raises(BundlePermissionError):
        check_bundle_permission(Principal("ursula"), BundleScope.parse(debug_id="0123456789abcdef", now=NOW))
