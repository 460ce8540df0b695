"""analysis.md's ranked findings: what broke, for whom, for how long, the line that says why, what changed
at the onset, and what to check next.

A finding is one server's failures under one code (`insight.Finding`). They are ranked by severity first
(a crashed process before a warning), then by whether the server failed (a tool that ran and reported an
error comes after a server failure of the same severity), then by impact: the users affected (a
server-wide failure affects every user seen on that server), how long it lasted, and only then how often
it happened. Every server-chosen string is written through `md_text`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mcpdiag.bundle.aggregate import BundleStats, Seen
from mcpdiag.bundle.insight import Finding, Insights, parsed
from mcpdiag.bundle.markdown import md_text
from mcpdiag.emitters import Severity, code_info
from mcpdiag.emitters.codes import TOOL_ERROR

MAX_FINDINGS = 10
GUIDE = "`mcpdiag explain {code}` (docs/codes/{code}.md)"
_NAMES = {s.rank: s.value for s in Severity}

CHECKS: dict[str, tuple[str, ...]] = {
    "MCP_AUTH_REQUIRED": (
        "whether the users' tokens for the server expired or were revoked (sign in again and retry)",
        "the scope or realm the server asks for in its WWW-Authenticate header (in the detail)",
        "whether the server's OAuth client or API key was rotated around the onset",
    ),
    "MCP_OAUTH_TIMEOUT": (
        "whether the sign-in window opens for users at all (pop-up blockers, the redirect URI)",
        "the OAuth provider's status and response times at the onset",
        "the host's sign-in timeout against how long users take",
    ),
    "MCP_DNS_FAILURE": (
        "the host name in the server's URL, for a typo",
        "resolving it from the host's own network (`dig`, `nslookup`)",
        "the VPN or split-horizon DNS the host relies on",
    ),
    "MCP_CONNECTION_REFUSED": (
        "whether the server process runs and listens on that port",
        "deploys or restarts of the server at the onset",
        "firewall rules between the host and the server",
    ),
    "MCP_PROXY_SSE_ISSUE": (
        "what answers at the URL: `curl -i` it from the host (the status and content type quoted above)",
        "buffering and idle timeouts for text/event-stream in the proxy (nginx `proxy_buffering off`, load "
        "balancer idle timeout)",
        "a corporate proxy's login or block page in front of the server",
    ),
    "MCP_DOMAIN_NOT_ALLOWED": (
        "the host's allowed domains list",
        "egress rules or network policy for that domain",
        "a 403 block page or a 421 from a proxy",
    ),
    "MCP_INSPECTION_FAILED": (
        "the protocol version the server offers against the host's SDK",
        "that the URL is the MCP endpoint, not a website",
        "the server's initialize and tools/list answers (`mcpdiag doctor`)",
    ),
    "MCP_INTERNAL_ERROR": (
        "the Debug ID below in `mcpdiag search`, and the exception chain in its detail",
        "whether the failure started with a host upgrade",
        "report the case: the classifier may need a rule for it",
    ),
    "MCP_OAUTH_FAILED": (
        "the server's OAuth discovery documents (`/.well-known/oauth-authorization-server`)",
        "the client registration: client id and secret, redirect URIs",
        "the token endpoint's error in the detail",
    ),
    "MCP_TLS_ERROR": (
        "the server's certificate chain and expiry (`openssl s_client -connect host:443`)",
        "a TLS-inspecting proxy, and its CA in the host's trust store",
        "the host's clock",
    ),
    "MCP_TIMEOUT": (
        "the server's load and response times at the onset",
        "which tool calls time out (the tools named above)",
        "the host's read timeout against how long the tool is expected to take",
    ),
    "MCP_ENDPOINT_NOT_FOUND": (
        "the URL's path (`/mcp` or `/sse`)",
        "whether a deploy moved the server or changed its base path",
        "the reverse proxy's route for that path",
    ),
    "MCP_SESSION_EXPIRED": (
        "server restarts at the onset",
        "sticky sessions on the load balancer in front of several replicas",
        "the server's session timeout",
    ),
    "MCP_RATE_LIMITED": (
        "the Retry-After the server sends (in the detail)",
        "which users or tools make the most calls",
        "the plan's quota with the provider",
    ),
    "MCP_SERVER_ERROR": (
        "the server's own logs at the Debug ID's time",
        "the health of what the server depends on (database, upstream API)",
        "a deploy of the server at the onset",
    ),
    "MCP_STDIO_SPAWN_FAILED": (
        "the command and its path in the server's settings",
        "that it is installed and executable in the host's image or container",
        "the PATH the host process runs with",
    ),
    "MCP_PROCESS_EXITED": (
        "the stderr line quoted above: a missing setting or environment variable, an import that failed",
        "the environment and secrets the host passes to the server's process",
        "a package or SDK upgrade at the onset (a change of the host's version is named above)",
    ),
    "MCP_TOOL_ERROR": (
        "the input of the failing calls (the tools named above)",
        "the tool's own error message in the detail",
        "nothing in the host or the connection: the tool ran",
    ),
    "MCP_CONNECTED": (
        "the detail of the Debug ID below: what the host found wrong",
        "the failures of the same server around it",
    ),
    "MCP_DISCONNECTED": (
        "restarts, deploys or crashes of the server at those times",
        "idle and stream timeouts of a proxy or load balancer in between",
        "whether the host connected again afterwards (MCP_CONNECTED)",
    ),
    "MCP_OAUTH_STARTED": (
        "whether an MCP_OAUTH_COMPLETED or an OAuth failure followed it",
        "the sign-in window: popup blockers, a closed tab",
    ),
    "MCP_OAUTH_COMPLETED": (
        "the detail of the Debug ID below: what the host found wrong",
        "whether the calls after the sign-in worked",
    ),
}


def _ts(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _span(first: str, last: str) -> float:
    a, b = _ts(first), _ts(last)
    return (b - a).total_seconds() if a and b else 0.0


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `2 h 10 min`, `3 d 4 h`."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _when(ts: str, day: str) -> str:
    hhmm = f"{ts[11:16]} UTC"
    return hhmm if ts[:10] == day else f"{ts[:10]} {hhmm}"


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    value: Any = doc
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def impact(finding: Finding, insights: Insights) -> int:
    """Users affected: those the failures name, or every user seen on the server for a server-wide one."""
    users = len(finding.users)
    if finding.server_wide:
        seen = insights.servers.get(finding.server)
        users = max(users, len(seen.users) if seen else 0, 1)
    return users


def ranked(stats: BundleStats) -> list[Finding]:
    """Every finding, most severe first (see the module docstring)."""
    stats.settle()
    insights = stats.insights
    found = list(insights.findings.values())
    # Findings of events counted without their lines (`BundleStats.add` callers) still rank by the counters.
    for server, failures in stats.failures.items():
        for code, seen in failures.codes.items():
            if (server, code) not in insights.findings:
                found.append(Finding(server, code, rank=Severity.ERROR.rank, count=seen.count))
    firsts = {(s, c): f.codes[c] for s, f in stats.failures.items() for c in f.codes}

    def key(f: Finding) -> tuple[Any, ...]:
        seen = firsts.get((f.server, f.code))
        span = _span(seen.first, seen.last) if seen else 0.0
        count = seen.count if seen else f.count
        return (-f.rank, f.code == "MCP_TOOL_ERROR", -impact(f, insights), -span, -count, f.server, f.code)

    return sorted(found, key=key)


def _onset(finding: Finding, first_ts: str, day: str) -> str:
    before = parsed(finding.before)
    if before is None:
        return "the server had no success before it in the bundle: it failed from its first event on"
    parts = [
        f"the last success before it was {md_text(before.get('code'))} at {_when(str(before.get('ts')), day)}"
        f" ({duration(_span(str(before.get('ts')), first_ts))} earlier)"
    ]
    first = finding.first or {}
    for label, path in (
        ("the host's version", ("source", "version")),
        ("the host", ("source", "host")),
        ("the host service", ("source", "service")),
        ("the transport", ("transport",)),
    ):
        old, new = _get(before, *path), _get(first, *path)
        if old is not None and new is not None and old != new:
            parts.append(f"{label} changed from {md_text(old)} to {md_text(new)}")
    status = first.get("httpStatus")
    if isinstance(status, int) and status != before.get("httpStatus"):
        parts.append(f"the server's answers turned to HTTP {status}")
    if len(parts) == 1:
        parts.append("nothing the events record (host version, host, transport) changed")
    return "; ".join(parts)


def _outcome(finding: Finding, insights: Insights, last_ts: str, day: str) -> str:
    seen = insights.servers.get(finding.server)
    if seen is not None and seen.last_ok_ts > last_ts:
        ok = parsed(seen.last_ok_line) or {}
        return f"recovered: {md_text(ok.get('code', 'a success'))} at {_when(seen.last_ok_ts, day)}"
    return "not recovered by the end of the window"


def render_findings(stats: BundleStats, *, day: str, explain: Callable[[str], str]) -> list[str]:
    """The `## Findings` section of analysis.md (empty without failures); `explain(code)` is the likely
    cause and the action, as a sentence."""
    findings = ranked(stats)
    if not findings:
        return []
    insights = stats.insights
    # Paragraphs, not headings: analysis.md has one heading per server.
    lines = ["**Findings, most severe first.**", ""]
    for number, f in enumerate(findings[:MAX_FINDINGS], 1):
        info = code_info(f.code)
        seen = _seen(stats, f)
        first, last = (seen.first, seen.last) if seen else (_first_ts(f), f.last_ts)
        count = seen.count if seen else f.count
        users = impact(f, insights)
        who = (
            f"server-wide: every user of '{md_text(f.server)}' ({users} seen)"
            if f.server_wide
            else f"{users} user{'s' if users != 1 else ''} affected"
            if users
            else "no user named"
        )
        lines += [
            # "server: CODE" would read as an assignment to the redactor when a server is called `password`.
            f"**{number}. {md_text(info.code)} on '{md_text(f.server)}'** ({md_text(info.title)})",
            "",
            f"- Impact: {_NAMES.get(f.rank, 'error')}; {count:,} {_noun(f.code, count)} from "
            f"{_when(first, day)} to {_when(last, day)} ({duration(_span(first, last))}); {who}; "
            f"{_outcome(f, insights, last, day)}.",
        ]
        if f.details:
            quote, times = f.details.most_common(1)[0]
            lines.append(
                f"- Decisive detail: “{md_text(quote)}” (in {times} of the {f.samples} events read)."
            )
        if f.tools:
            tools = ", ".join(f"{md_text(t)} ({n})" for t, n in f.tools.most_common(3))
            lines.append(f"- Tools: {tools}.")
        if f.first is not None or f.before is not None:
            lines.append(f"- At the onset: {_onset(f, first, day)}.")
        lines.append(f"- {explain(info.code)}")
        checks = CHECKS.get(info.code, CHECKS["MCP_INTERNAL_ERROR"])
        lines.append("- Check next: " + "; ".join(f"({i}) {c}" for i, c in enumerate(checks, 1)) + ".")
        trace = (f.first or {}).get("traceId")
        if isinstance(trace, str):
            lines.append(f"- Debug ID of the first: {md_text(trace)} (`mcpdiag search` it).")
        lines += [f"- Guide: {GUIDE.format(code=info.code)}.", ""]
    if len(findings) > MAX_FINDINGS:
        lines += [f"{len(findings) - MAX_FINDINGS} more findings are in the sections per server below.", ""]
    return lines


def headline(stats: BundleStats, day: str) -> str | None:
    """One sentence: the most severe finding, for the top of analysis.md."""
    findings = ranked(stats)
    if not findings:
        return None
    f = findings[0]
    seen = _seen(stats, f)
    start = seen.first if seen else _first_ts(f)
    since = f" since {_when(start, day)}" if start else ""
    users = impact(f, stats.insights)
    return (
        f"Most severe: {md_text(code_info(f.code).code)} on '{md_text(f.server)}'{since}"
        + (f", {users} user{'s' if users != 1 else ''} affected" if users else "")
        + "."
    )


def _seen(stats: BundleStats, f: Finding) -> Seen | None:
    """The server's failure record of the finding's code; None for what is not a failure (a tool's own
    error: `counts_as_failure`), which the finding itself counts."""
    failures = stats.failures.get(f.server)
    return failures.codes.get(f.code) if failures is not None else None


def _first_ts(f: Finding) -> str:
    first = f.first.get("ts") if f.first else None
    return first if isinstance(first, str) else f.last_ts


def _noun(code: str, count: int) -> str:
    noun = "tool error" if code == TOOL_ERROR else "failure"
    return noun if count == 1 else noun + "s"
