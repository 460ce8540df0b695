"""analysis.md: the dominant code with its share and onset, spikes, causes and actions, or no failures."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.bundle.aggregate import BundleStats
from mcpdiag.bundle.analysis import CAUSES, render_analysis
from mcpdiag.emitters import CATALOG
from mcpdiag.store import SQLiteEventStore
from tests.factories import NOW, FakeClock, make_event


def test_every_failure_code_has_a_cause() -> None:
    assert {c for c, info in CATALOG.items() if info.failure} == set(CAUSES)


async def test_known_failure_mix_names_dominant_code_share_and_onset(tmp_path: Path) -> None:
    """80% proxy failures from 09:12 and 20% timeouts from 10:30 on 'github'; 'docs' only connects."""
    store = SQLiteEventStore(tmp_path / "events.db", clock=FakeClock(NOW))
    await store.ensure_schema()
    start = NOW.replace(hour=9, minute=12)
    events = [make_event(code="MCP_PROXY_SSE_ISSUE", ts=start + timedelta(seconds=90 * i)) for i in range(80)]
    events += [
        make_event(code="MCP_TIMEOUT", ts=NOW.replace(hour=10, minute=30) + timedelta(minutes=i))
        for i in range(20)
    ]
    events += [make_event(server="docs", code="MCP_CONNECTED", ts=start)]
    await store.append(events)
    out = tmp_path / "out"
    out.mkdir()
    result = await export_bundle(
        store,
        BundleScope.parse(now=NOW),
        out_dir=out,
        settings_snapshot={},
        app_version="x",
        environ={},
        now=NOW,
    )
    await store.close()
    with zipfile.ZipFile(result.path) as zf:
        text = zf.read("analysis.md").decode()
    assert (
        "80% of 100 failures on 'github' since 09:12 UTC are MCP_PROXY_SSE_ISSUE: a proxy is buffering"
        in text
    )
    assert "**MCP_TIMEOUT** (Server took too long): 20 of 100 (20%), first 10:30 UTC" in text
    assert "Action: read the proxy and streaming guide" in text
    assert "## docs\n\nNo failures" in text
    assert text.index("## github") < text.index("## docs")


def _stats(per_hour: list[int]) -> BundleStats:
    stats = BundleStats()
    for hour, count in enumerate(per_hour):
        for i in range(count):
            ts = f"2026-11-21T{hour:02d}:{i % 60:02d}:00.000Z"
            stats.add(
                {
                    "ts": ts,
                    "server": "github",
                    "code": "MCP_TIMEOUT",
                    "severity": "error",
                    "touchpoint": "tool_call",
                }
            )
    return stats


def test_an_hour_with_three_times_the_median_is_a_spike() -> None:
    text = render_analysis(_stats([2, 2, 2, 12, 2]), scope_text="test", day="2026-11-21")
    assert "Spike at 03:00 UTC: 12 failures" in text and "median hour (2)" in text
    assert "Spike" not in render_analysis(_stats([2, 3, 2, 4, 2]), scope_text="test", day="2026-11-21")


def test_unknown_codes_count_as_internal_errors_and_output_is_deterministic() -> None:
    stats = BundleStats()
    stats.add({"ts": "2026-11-20T08:00:00.000Z", "server": "a", "code": "MCP_NEW_THING", "severity": "error"})
    first = render_analysis(stats, scope_text="test", day="2026-11-21")
    assert "since 2026-11-20 08:00 UTC are MCP_INTERNAL_ERROR" in first
    assert first == render_analysis(stats, scope_text="test", day="2026-11-21")


def test_no_events_and_no_failures() -> None:
    assert "No events matched this scope" in render_analysis(BundleStats(), scope_text="t", day="2026-11-21")
    stats = BundleStats()
    stats.add({"ts": "2026-11-21T08:00:00.000Z", "server": "a", "code": "MCP_CONNECTED", "severity": "info"})
    assert "No failures in this scope." in render_analysis(stats, scope_text="t", day="2026-11-21")


def test_every_finding_cites_the_guide_of_its_code() -> None:
    """Each finding line of analysis.md names `mcpdiag explain CODE` and the guide's file, which exists;
    a code the catalog does not know cites MCP_INTERNAL_ERROR's guide, as it is counted under it."""
    root = Path(__file__).resolve().parents[2]
    stats = BundleStats()
    failures = [*[c for c, info in CATALOG.items() if info.failure][:4], "MCP_NEW_THING"]
    for i, code in enumerate(failures):
        for n in range(10 + i):
            ts = f"2026-11-21T08:{n:02d}:00.000Z"
            stats.add({"ts": ts, "server": "a", "code": code, "severity": "error"})
    text = render_analysis(stats, scope_text="test", day="2026-11-21")
    findings = [line for line in text.splitlines() if line.startswith("- **")]
    assert len(findings) == 5
    for line in findings:
        code = line.split("**")[1]
        assert f"Guide: `mcpdiag explain {code}` (docs/codes/{code}.md)." in line, line
        assert (root / "docs" / "codes" / f"{code}.md").is_file(), code
    assert "MCP_NEW_THING" not in text
