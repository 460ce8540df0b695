"""`BundleScope.parse` (shared by the API and the CLI) and the file name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import mcpdiag.bundle as bundle
from mcpdiag.bundle import (
    BundleScope,
    InvalidScopeError,
    bundle_filename,
)
from mcpdiag.emitters import Severity

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_defaults_are_every_server_over_the_last_24_hours_with_detail() -> None:
    scope = BundleScope.parse(now=NOW)
    assert (scope.since, scope.until, scope.servers) == (NOW - timedelta(hours=24), NOW, ())
    assert scope.include_detail and scope.min_severity is None and scope.debug_id is None


@pytest.mark.parametrize(
    ("since", "delta"),
    [("90m", timedelta(minutes=90)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7))],
)
def test_since_takes_a_duration(since: str, delta: timedelta) -> None:
    assert BundleScope.parse(since=since, now=NOW).since == NOW - delta


def test_from_and_to_take_rfc3339_with_an_offset() -> None:
    scope = BundleScope.parse(from_="2026-11-21T10:00:00+02:00", to="2026-11-21T11:00:00Z", now=NOW)
    assert scope.since == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert scope.until == datetime(2026, 11, 21, 11, 0, tzinfo=UTC)


def test_values_are_normalised() -> None:
    scope = BundleScope.parse(
        servers=["github", " jira ", "github"],
        severity="ERROR",
        include_detail="no",
        debug_id="0123abcd",
        now=NOW,
    )
    assert scope.servers == ("github", "jira")
    assert scope.min_severity is Severity.ERROR and scope.include_detail is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"since": "3x"}, "since"),
        ({"since": "0h"}, "since"),
        ({"since": "1h", "from_": "2026-11-21T00:00:00Z"}, "since"),
        ({"from_": "2026-11-21T00:00:00"}, "from"),
        ({"from_": "yesterday"}, "from"),
        ({"to": "2026-11-21"}, "to"),
        ({"from_": "2026-11-21T11:00:00Z", "to": "2026-11-21T10:00:00Z"}, "from"),
        ({"severity": "loud"}, "severity"),
        ({"debug_id": "abc"}, "debugId"),
        ({"servers": ["bad\nname"]}, "server"),
        ({"include_detail": "maybe"}, "includeDetail"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidScopeError) as caught:
        BundleScope.parse(now=NOW, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field and caught.value.status == 400
    assert str(caught.value).startswith(f"{field}: ")


def test_filename_and_scope_dict() -> None:
    assert (
        bundle_filename(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "mcpdiag-support-2026-01-02-030405.zip"
    )
    assert BundleScope.parse(now=NOW).to_dict()["server"] == "all"


def test_public_names() -> None:
    """Every name in `__all__` exists and the list is sorted."""
    assert bundle.__all__ == sorted(bundle.__all__)
    for name in bundle.__all__:
        assert hasattr(bundle, name)
