"""analysis.md: plain-words findings per server from the bundle's aggregates."""

from __future__ import annotations

import statistics
from datetime import datetime

from mcpdiag.bundle.aggregate import BundleStats, ServerFailures
from mcpdiag.bundle.findings import headline, ranked, render_findings
from mcpdiag.bundle.markdown import md_text
from mcpdiag.emitters import Action, code_info

SPIKE_FACTOR = 3
MIN_SPIKE_HOURS = 3
MIN_SHARE = 0.05
MAX_CODES = 5
GUIDE = "`mcpdiag explain {code}` (docs/codes/{code}.md)"
"""How a finding cites the troubleshooting guide of its code (unknown codes: MCP_INTERNAL_ERROR's)."""

CAUSES: dict[str, str] = {
    "MCP_AUTH_REQUIRED": (
        "the server wants a sign-in: the token is missing, expired, revoked or lacks a scope"
    ),
    "MCP_OAUTH_TIMEOUT": (
        "the sign-in window was left open or closed, or an OAuth endpoint answered too slowly"
    ),
    "MCP_DNS_FAILURE": ("the server's host name does not resolve: a typo in the URL or a DNS/VPN problem"),
    "MCP_CONNECTION_REFUSED": (
        "nothing is listening at the address: the server is down, restarting or on another port"
    ),
    "MCP_PROXY_SSE_ISSUE": (
        "a proxy is buffering or cutting the event stream, or answering with its own page"
    ),
    "MCP_DOMAIN_NOT_ALLOWED": ("the host's domain allow-list or a network block refuses this server"),
    "MCP_INSPECTION_FAILED": (
        "the server answers but not as a valid MCP server (protocol version or capabilities)"
    ),
    "MCP_INTERNAL_ERROR": (
        "an error the classifier does not recognise yet; the Debug IDs lead to the details"
    ),
    "MCP_OAUTH_FAILED": (
        "the server's OAuth setup is broken: discovery, client registration or token exchange"
    ),
    "MCP_TLS_ERROR": (
        "the server's certificate is not trusted (self-signed, expired or a TLS-inspecting proxy)"
    ),
    "MCP_TIMEOUT": ("the server or the network path is too slow: overload, a long tool call or packet loss"),
    "MCP_ENDPOINT_NOT_FOUND": ("the URL points at a web server with no MCP endpoint at that path"),
    "MCP_SESSION_EXPIRED": (
        "the server dropped its sessions, usually after a restart or behind a load balancer"
    ),
    "MCP_RATE_LIMITED": ("too many requests for the server's or the provider's rate limit"),
    "MCP_SERVER_ERROR": ("the MCP server itself is failing (500/503): a bug or an unavailable dependency"),
    "MCP_STDIO_SPAWN_FAILED": ("the stdio command is missing, not executable or not on the PATH of the host"),
    "MCP_PROCESS_EXITED": (
        "the stdio server process crashed or exited; its stderr tail is in the event detail"
    ),
    "MCP_TOOL_ERROR": ("the tool ran and reported an error about its input or its own work"),
    # The connection's lifecycle is a failure only when the host marked it warning or worse.
    "MCP_CONNECTED": ("the host connected but marked the connection as a problem; its detail says why"),
    "MCP_DISCONNECTED": (
        "the connection ended unexpectedly: the server closed it, restarted or crashed, or a proxy's idle "
        "timeout cut it"
    ),
    "MCP_OAUTH_STARTED": ("a sign-in began and the host marked it as a problem: it may never have completed"),
    "MCP_OAUTH_COMPLETED": ("a sign-in completed but the host marked it as a problem; its detail says why"),
}

ACTIONS: dict[Action, str] = {
    Action.AUTHENTICATE: "sign in to the server again",
    Action.EDIT_SERVER: "fix the server's URL or command in its settings",
    Action.RETRY: "retry; if it keeps happening, check the server's health",
    Action.DOCS: "read the proxy and streaming guide; let the MCP endpoint stream without buffering",
    Action.CONTACT_ADMIN: "an administrator needs to check the server or the host's configuration",
    Action.NONE: "nothing to change in the host; look at the tool's input and output",
}
_LIFECYCLE_ACTIONS: dict[str, str] = {
    "MCP_CONNECTED": "read the Debug IDs' detail: the host saw something wrong with a connection that worked",
    "MCP_DISCONNECTED": ACTIONS[Action.RETRY],
    "MCP_OAUTH_STARTED": "sign in to the server again and finish the sign-in",
    "MCP_OAUTH_COMPLETED": "read the Debug IDs' detail: the host saw something wrong with a finished sign-in",
}
"""What to do about a lifecycle event that is a failure (their catalog action is none: they are news)."""


def action_text(code: str) -> str:
    """What to do about failures of `code`, in a sentence's words."""
    return _LIFECYCLE_ACTIONS.get(code) or ACTIONS[code_info(code).action]


def _when(ts: str, day: str) -> str:
    """`HH:MM UTC`, with the date in front when it is not `day` (`YYYY-MM-DD`)."""
    hhmm = f"{ts[11:16]} UTC"
    return hhmm if ts[:10] == day else f"{ts[:10]} {hhmm}"


def _share(count: int, total: int) -> str:
    return f"{round(100 * count / total)}%"


def _top_codes(failures: ServerFailures) -> list[str]:
    ranked = sorted(failures.codes, key=lambda c: (-failures.codes[c].count, c))
    kept = [c for i, c in enumerate(ranked) if i < 1 or failures.codes[c].count / failures.total >= MIN_SHARE]
    return kept[:MAX_CODES]


def spikes(failures: ServerFailures) -> list[tuple[str, int, float]]:
    """Hours with at least 3x the median hourly failure count (zero hours included): (hour, count, median)."""
    if not failures.hours:
        return []
    first, last = min(failures.hours), max(failures.hours)
    start, end = (
        datetime.fromisoformat(first[:13] + ":00+00:00"),
        datetime.fromisoformat(last[:13] + ":00+00:00"),
    )
    span = int((end - start).total_seconds() // 3600) + 1
    if span < MIN_SPIKE_HOURS:
        return []
    counts = [failures.hours[h] for h in failures.hours]
    median = statistics.median(counts + [0] * (span - len(counts)))
    bar = SPIKE_FACTOR * max(median, 1)
    return [(hour, n, median) for hour, n in sorted(failures.hours.items()) if n >= bar]


def _explain(code: str) -> str:
    cause = CAUSES.get(code, CAUSES["MCP_INTERNAL_ERROR"])
    return f"Likely cause: {cause}. Action: {action_text(code)}."


def _server_section(server: str, events: int, failures: ServerFailures | None, day: str) -> list[str]:
    # Server names and codes are the senders' words: every one goes through md_text.
    name = md_text(server)
    lines = [f"## {name}", ""]
    if failures is None or failures.total == 0:
        return [*lines, f"No failures: {events:,} events, none of them a warning or worse.", ""]
    top = _top_codes(failures)
    lead = top[0]
    seen = failures.codes[lead]
    lines += [
        f"{_share(seen.count, failures.total)} of {failures.total:,} failures on '{name}' since "
        f"{_when(seen.first, day)} are {md_text(lead)}: {CAUSES.get(lead, CAUSES['MCP_INTERNAL_ERROR'])}. "
        f"Action: {action_text(lead)}.",
        "",
    ]
    for code in top:
        seen = failures.codes[code]
        action = action_text(code)
        lines.append(
            f"- **{md_text(code)}** ({code_info(code).title}): {seen.count:,} of {failures.total:,} "
            f"({_share(seen.count, failures.total)}), first {_when(seen.first, day)}, last "
            f"{_when(seen.last, day)}. Likely cause: {CAUSES.get(code, CAUSES['MCP_INTERNAL_ERROR'])}. "
            f"Action: {action}. Guide: {GUIDE.format(code=code_info(code).code)}."
        )
    rest = failures.total - sum(failures.codes[c].count for c in top)
    if rest:
        lines.append(
            f"- {rest:,} other failures ({_share(rest, failures.total)}) under "
            f"{len(failures.codes) - len(top)} more codes."
        )
    for hour, count, median in spikes(failures):
        mostly = max(
            (c for c, h in failures.code_hours if h == hour), key=lambda c: (failures.code_hours[c, hour], c)
        )
        lines.append(
            f"- Spike at {_when(hour, day)}: {count:,} failures in that hour, {SPIKE_FACTOR}x or more the "
            f"median hour ({median:g}); mostly {md_text(mostly)}."
        )
    return [*lines, ""]


def render_analysis(stats: BundleStats, *, scope_text: str, day: str) -> str:
    """analysis.md for the aggregates of one bundle; `day` is the scope's last UTC date (`YYYY-MM-DD`)."""
    stats.settle()
    failing = stats.failure_count
    lines = ["# Analysis", "", f"Scope: {md_text(scope_text)}.", ""]
    if stats.total == 0:
        return "\n".join([*lines, "No events matched this scope: nothing to analyse.", ""])
    servers = sorted(stats.by_server)
    # Occurrences: a stored event that stands for coalesced repeats counts as every one of them.
    stored = "" if stats.occurrences == stats.total else f" ({stats.total:,} stored: repeats coalesced)"
    tools = stats.tool_errors
    also = f"; {tools:,} tool errors (a tool answered with an error: the server worked)" if tools else ""
    lines += [
        f"{stats.occurrences:,} events{stored} on {len(servers)} server(s); {failing:,} of them failures "
        f"(warning or worse; tools' own errors excluded){also}.",
        "",
    ]
    if not failing:
        lines += ["No failures in this scope.", ""]
    if (lead := headline(stats, day)) is not None:
        lines += [lead, ""]
    lines += render_findings(stats, day=day, explain=_explain)
    # Servers in the order of their most severe finding; those without failures after, by name.
    order = {f.server: i for i, f in reversed(list(enumerate(ranked(stats))))}
    for server in sorted(servers, key=lambda s: (order.get(s, len(order)), s)):
        lines += _server_section(server, stats.by_server[server], stats.failures.get(server), day)
    return "\n".join(lines)
