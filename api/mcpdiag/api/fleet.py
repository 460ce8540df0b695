"""Problems, trends and incidents computed live from the store's hourly rollups: what a bundle's analysis
says of a deployment, without a bundle."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime

from mcpdiag.api.models import Incident, ProblemOut, ServerTrend
from mcpdiag.bundle.analysis import SPIKE_FACTOR
from mcpdiag.emitters import Severity, code_info, format_ts
from mcpdiag.emitters.codes import TOOL_ERROR
from mcpdiag.store.fleet import Affected
from mcpdiag.store.rollup import Problem

MIN_SPIKE = 3
"""A bucket is a spike only with at least this many failures (3 timeouts are not an incident)."""


def problem_out(problem: Problem) -> ProblemOut:
    """The API shape of one problem."""
    info = code_info(problem.code)
    return ProblemOut(
        fingerprint=problem.fingerprint,
        server=problem.server,
        code=problem.code,
        title=info.title,
        touchpoint=problem.touchpoint,
        tool=problem.tool,
        severity=problem.severity,
        count=problem.count,
        first_seen=format_ts(problem.first_seen),
        last_seen=format_ts(problem.last_seen),
        users_affected=problem.users,
        server_wide=problem.server_wide,
        latest_debug_id=problem.latest_trace_id,
        latest_event_id=problem.latest_event_id,
        trend=problem.trend,
        action=info.action,
    )


def is_failure(problem: Problem) -> bool:
    """Whether a problem is a failure of its server (a tool's own error is not: the cards' rule)."""
    return problem.code != TOOL_ERROR


def server_trends(
    problems: Sequence[Problem], servers: Sequence[str], buckets: int, affected: Affected
) -> list[ServerTrend]:
    """Each server's failures summed over its problems (tool errors counted apart) with its users affected
    (`affected`, counted by the store), busiest first; servers without any last."""
    rows: dict[str, ServerTrend] = {}

    def row_of(server: str) -> ServerTrend:
        if server not in rows:
            rows[server] = ServerTrend(
                server=server,
                failures=0,
                tool_errors=0,
                users_affected=0,
                trend=[0] * buckets,
                worst_severity=None,
            )
        return rows[server]

    for server in servers:
        row_of(server)
    for problem in problems:
        row = row_of(problem.server)
        if not is_failure(problem):
            row.tool_errors += problem.count
            continue
        row.failures += problem.count
        row.trend = [a + b for a, b in zip(row.trend, problem.trend, strict=True)]
        if row.worst_severity is None or problem.severity.rank > row.worst_severity.rank:
            row.worst_severity = problem.severity
    for server, row in rows.items():
        row.users_affected = affected.by_server.get(server, 0)
    return sorted(rows.values(), key=lambda r: (-r.failures, -r.tool_errors, r.server))


def incidents(problems: Sequence[Problem], starts: Sequence[datetime]) -> list[Incident]:
    """Per server with failures: its dominant code with share and onset, and the buckets that spiked (tool
    errors are the tools' answers, not the server's failures: no incident of their own)."""
    by_server: dict[str, list[Problem]] = {}
    for problem in problems:
        if is_failure(problem):
            by_server.setdefault(problem.server, []).append(problem)
    found: list[Incident] = []
    for server, items in by_server.items():
        total = sum(p.count for p in items)
        by_code: dict[str, list[Problem]] = {}
        for problem in items:
            by_code.setdefault(problem.code, []).append(problem)
        code, group = max(by_code.items(), key=lambda kv: (sum(p.count for p in kv[1]), kv[0]))
        count = sum(p.count for p in group)
        trend = [sum(col) for col in zip(*(p.trend for p in items), strict=True)]
        median = statistics.median(trend) if trend else 0
        spiked = [
            format_ts(starts[i])
            for i, n in enumerate(trend)
            if n >= MIN_SPIKE and n > SPIKE_FACTOR * max(median, 1)
        ]
        newest = max(group, key=lambda p: p.last_seen)
        info = code_info(code)
        found.append(
            Incident(
                server=server,
                code=code,
                title=info.title,
                share=round(count / total, 3) if total else 0.0,
                count=count,
                onset=format_ts(min(p.first_seen for p in group)),
                spikes=spiked,
                latest_debug_id=newest.latest_trace_id,
                action=info.action,
            )
        )
    return sorted(found, key=lambda i: (-i.count, i.server))


def worst(problems: Sequence[Problem]) -> Severity | None:
    """The highest severity among `problems`."""
    return max((p.severity for p in problems), key=lambda s: s.rank, default=None)
