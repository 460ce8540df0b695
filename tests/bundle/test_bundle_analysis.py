"""analysis.md: the dominant code with its share and onset, spikes, causes and actions, or no failures."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.bundle.aggregate import BundleStats, event_fields, hour_key
from mcpdiag.bundle.analysis import CAUSES, action_text, render_analysis
from mcpdiag.emitters import CATALOG, DiagnosticEvent, format_ts
from mcpdiag.emitters.codes import SEVERITY_RANK
from mcpdiag.store import SQLiteEventStore
from tests.factories import NOW, FakeClock, make_event


def test_every_code_has_a_cause_and_an_action_of_its_own() -> None:
    """Any code can be a failure (a lifecycle event marked warning or worse is one): each has its cause, and
    only a tool's own error is sent to the tool's input."""
    assert set(CATALOG) == set(CAUSES)
    tool_words = "the tool's input"
    assert [c for c in CATALOG if tool_words in action_text(c)] == ["MCP_TOOL_ERROR"]


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


async def _bundle_of(tmp_path: Path, events: list[DiagnosticEvent]) -> dict[str, Any]:
    store = SQLiteEventStore(tmp_path / "events.db", clock=FakeClock(NOW))
    await store.ensure_schema()
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
        return {
            "analysis": zf.read("analysis.md").decode(),
            "summary": json.loads(zf.read("summary.json")),
            "manifest": json.loads(zf.read("MANIFEST.json")),
            "counts": result.counts,
        }


async def test_a_coalesced_event_counts_as_every_occurrence_it_stands_for(tmp_path: Path) -> None:
    """One stored storm summary of 900 timeouts outweighs 100 single proxy failures: shares, totals and
    onsets are occurrences (and their firstTs/lastTs), not rows."""
    start = NOW.replace(hour=8, minute=0)
    storm = make_event(
        code="MCP_TIMEOUT",
        ts=start + timedelta(minutes=5),
        count=900,
        first_ts=start + timedelta(minutes=5),
        last_ts=start + timedelta(minutes=50),
    )
    single = [
        make_event(code="MCP_PROXY_SSE_ISSUE", ts=start + timedelta(minutes=10 + i // 4)) for i in range(100)
    ]
    bundle = await _bundle_of(tmp_path, [storm, *single])
    text = bundle["analysis"]
    assert "1,000 events (101 stored: repeats coalesced) on 1 server(s); 1,000 of them failures" in text
    assert "90% of 1,000 failures on 'github' since 08:05 UTC are MCP_TIMEOUT" in text
    assert (
        "**MCP_TIMEOUT** (Server took too long): 900 of 1,000 (90%), first 08:05 UTC, last 08:50 UTC" in text
    )
    summary = bundle["summary"]
    assert (summary["events"], summary["occurrences"]) == (101, 1000)
    assert {row["code"]: row["occurrences"] for row in summary["by_code"]} == {
        "MCP_TIMEOUT": 900,
        "MCP_PROXY_SSE_ISSUE": 100,
    }
    timeouts = next(row for row in summary["codes"] if row["code"] == "MCP_TIMEOUT")
    assert (timeouts["count"], timeouts["last_seen"]) == (900, format_ts(start + timedelta(minutes=50)))
    assert summary["failures_by_server"][0]["total"] == 1000
    manifest = bundle["manifest"]["counts"]
    assert (manifest["events"], manifest["occurrences"], manifest["failures"]) == (101, 1000, 1000)
    assert manifest["by_server"] == [{"server": "github", "events": 101, "occurrences": 1000}]
    assert bundle["counts"]["failures"] == 1000


async def test_a_storm_hour_of_few_rows_is_still_a_spike(tmp_path: Path) -> None:
    quiet = [make_event(ts=NOW.replace(hour=h, minute=1)) for h in range(1, 8)]
    storm = make_event(
        ts=NOW.replace(hour=4, minute=2),
        count=60,
        first_ts=NOW.replace(hour=4, minute=2),
        last_ts=NOW.replace(hour=4, minute=40),
    )
    text = (await _bundle_of(tmp_path, [*quiet, storm]))["analysis"]
    assert "Spike at 04:00 UTC: 61 failures in that hour" in text


def test_counting_in_bulk_with_counts_equals_counting_one_by_one() -> None:
    rows = []
    for n in range(200):
        count = 1 if n % 3 else 1 + n
        ts = f"2026-11-21T{n % 24:02d}:{n % 60:02d}:00.000Z"
        event = {
            "ts": ts,
            "server": f"s{n % 3}",
            "code": "MCP_TIMEOUT",
            "severity": "error",
            "touchpoint": "connect",
        }
        if count > 1:
            event |= {"count": count, "firstTs": ts, "lastTs": f"2026-11-21T{n % 24:02d}:59:00.000Z"}
        rows.append(event)
    one, bulk = BundleStats(), BundleStats()
    for event in rows:
        one.add(event)
    for part in (rows[:77], rows[77:]):
        fields = [event_fields(e) for e in part]
        bulk.add_batch(
            [hour_key(f) for f in fields],
            [f[4] for f in fields],
            counts=[e.get("count", 1) for e in part],
            spans=[(e.get("firstTs") or e["ts"], e.get("lastTs") or e["ts"]) for e in part],
        )
    assert bulk.summary() == one.summary() and bulk.occurrences == one.occurrences == sum(
        e.get("count", 1) for e in rows
    )
    assert bulk.failures == one.failures


async def test_tool_errors_are_counted_apart_from_failures_as_the_cards_count_them(tmp_path: Path) -> None:
    """A tool's own error means the server worked: the bundle's failures are the API's failures (the cards'
    and summaries' `is_failure`), its tool errors a count of their own, coalesced repeats included."""
    from mcpdiag.api.states import is_failure

    start = NOW.replace(hour=9)
    events = [make_event(code="MCP_TOOL_ERROR", ts=start + timedelta(minutes=i)) for i in range(40)]
    events.append(
        make_event(
            code="MCP_TOOL_ERROR",
            ts=start + timedelta(minutes=50),
            count=5,
            first_ts=start + timedelta(minutes=45),
            last_ts=start + timedelta(minutes=50),
        )
    )
    events += [make_event(code="MCP_TIMEOUT", ts=start + timedelta(minutes=60 + i)) for i in range(3)]
    events += [make_event(code="MCP_CONNECTED", ts=start)]
    assert all(e.severity in ("warning", "error") for e in events[:-1])
    api_failures = sum((e.count or 1) for e in events if is_failure(e.to_wire()))
    bundle = await _bundle_of(tmp_path, events)
    manifest = bundle["manifest"]["counts"]
    assert (manifest["failures"], manifest["tool_errors"]) == (api_failures, 45) == (3, 45)
    assert (bundle["counts"]["failures"], bundle["counts"]["tool_errors"]) == (3, 45)
    text = bundle["analysis"]
    assert "3 of them failures" in text and "45 tool errors" in text, text
    assert "3 failures on 'github'" in text and "of 48 failures" not in text


async def test_every_code_at_every_severity_is_a_failure_in_the_bundle_exactly_when_the_cards_say_so(
    tmp_path: Path,
) -> None:
    """One definition of a failure: each catalog code (and an unknown one) at each severity, counted by the
    bundle's manifest and export counts and by the API's `is_failure` (cards, summaries) alike; a lifecycle
    event a sender marked warning or error (a connection that dropped) is a failure on both or on neither."""
    from mcpdiag.api.states import is_failure

    start = NOW.replace(hour=9)
    events = [
        make_event(code=code, severity=severity, ts=start + timedelta(seconds=i * 10 + j))
        for i, code in enumerate([*sorted(CATALOG), "MCP_SOMETHING_NEW"])
        for j, severity in enumerate(SEVERITY_RANK)
    ]
    failing = sorted((e.code, e.severity) for e in events if is_failure(e.to_wire()))
    assert ("MCP_DISCONNECTED", "error") in failing and ("MCP_TOOL_ERROR", "error") not in failing
    bundle = await _bundle_of(tmp_path, events)
    assert bundle["manifest"]["counts"]["failures"] == bundle["counts"]["failures"] == len(failing), failing
    text = bundle["analysis"]
    assert f"{len(failing)} of them failures (warning or worse; tools' own errors excluded)" in text, text


async def test_a_connection_that_dropped_is_a_finding_with_its_own_cause_and_action(tmp_path: Path) -> None:
    start = NOW.replace(hour=9)
    dropped = [start + timedelta(minutes=1 + i) for i in range(3)]
    events = [make_event(code="MCP_CONNECTED", severity="info", ts=start)] + [
        make_event(code="MCP_DISCONNECTED", severity="error", ts=ts) for ts in dropped
    ]
    text = (await _bundle_of(tmp_path, events))["analysis"]
    assert "4 events on 1 server(s); 3 of them failures" in text, text
    assert "**1. MCP_DISCONNECTED on 'github'** (Disconnected)" in text, text
    assert "the connection ended unexpectedly" in text and "check the server's health" in text, text
    assert "tool's input" not in text and "classifier" not in text, text
    assert "the last success before it was MCP_CONNECTED" in text, text
