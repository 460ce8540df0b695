"""A doctor run as one `inspection` event under its Debug ID: the API route hands it to the collector's
pipeline, the CLI to the configured store; either way `mcpdiag search <Debug ID>` finds it."""

from __future__ import annotations

from mcpdiag.doctor.bounded import clip
from mcpdiag.doctor.report import DoctorReport
from mcpdiag.emitters import Emitter

UNNAMED_RUN_ATTR = "doctor.unnamed"
"""Marks the event of a run that names no server: `mcpdiag.api.status` keeps it off the server cards."""
UNNAMED_RUNS = "doctor:runs"
"""The one server name every run that names no server is stored under, whatever it tested (what it tested
is its `endpoint` and detail): a name made of the host a caller typed would let anyone who may run the
doctor add server names to the store, the staff views and the metrics, past `MCPDIAG_MAX_SERVERS`."""
SIGN_IN_ATTR = "doctor.signIn"
"""`untested` on a run without credentials that reached the server's sign-in: the server answered as it
should (it asks who you are), so the event is no failure (severity info), only what it says."""
REFUSED_ATTR = "doctor.refused"
"""True on a run its own address policy stopped (`DoctorReport.refused`): the server was not tested, so the
event is kept at severity debug, below what cards and counts read (a re-check the service may not make
turned a healthy card red), and its Debug ID still finds it."""
_DETAIL_LINES_PER_STEP = 12
_DETAIL_CHARS = 8 * 1024  # the event keeps 4 KiB of it (after redaction): no need to hand over more


def emit_inspection(
    emitter: Emitter,
    report: DoctorReport,
    *,
    where: str,
    server: str | None,
    user_id: str | None,
    duration_ms: float,
    http_status: int | None = None,
    endpoint: str | None = None,
    credentials: bool = True,
) -> None:
    """Emit `report` as `server`'s inspection, or (no server named) under `UNNAMED_RUNS` with the
    `UNNAMED_RUN_ATTR` mark. `where` opens the detail: what was tested, never a header or a query;
    `endpoint` (the URL without userinfo or query) is named as the sessions name theirs. A run without
    `credentials` that ends at the server's sign-in is stored at severity info with `SIGN_IN_ATTR`, and a run
    its own address policy refused at severity debug with `REFUSED_ATTR`."""
    failed = report.failed_step
    untested = not credentials and report.code == "MCP_AUTH_REQUIRED"
    lines = [f"doctor {where}"]
    for step in report.steps:
        lines.append(f"{step.name}: {step.status} — {step.summary}")
        lines += [f"  {line}" for line in (step.detail or "").splitlines()[:_DETAIL_LINES_PER_STEP]]
    attrs: dict[str, object] = {"doctor": True, "doctor.failedStep": failed}
    if server is None:
        attrs[UNNAMED_RUN_ATTR] = True
    if endpoint is not None:
        attrs["endpoint"] = endpoint
    if untested:
        attrs[SIGN_IN_ATTR] = "untested"
    if report.refused:
        attrs[REFUSED_ATTR] = True
    attrs["doctor.warnings"] = len(report.warnings)
    # Step names are values (`oauth=fail`): as keys, `doctor.oauth` would read as a secret field.
    attrs["doctor.steps"] = " ".join(f"{step.name}={step.status}" for step in report.steps)
    emitter.emit_event(
        report.code or "MCP_CONNECTED",
        server=(server or UNNAMED_RUNS)[:128],
        touchpoint="inspection",
        trace_id=report.debug_id,
        user_id=user_id,
        transport=report.transport,
        severity="debug" if report.refused else "info" if report.ok or untested else None,
        message_safe=(report.step(failed).summary if failed else "Connection test passed.")[:500],
        detail=clip("\n".join(lines), _DETAIL_CHARS),
        http_status=http_status,
        duration_ms=round(duration_ms, 1),
        attrs={k: v for k, v in attrs.items() if v is not None},
    )
