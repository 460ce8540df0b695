"""What a doctor run returns: one result per layer of the ladder, and the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StepName = Literal["dns", "tcp", "tls", "http", "mcp", "oauth", "tools"]
StepStatus = Literal["ok", "fail", "skipped", "warn"]
STEP_NAMES: tuple[StepName, ...] = ("dns", "tcp", "tls", "http", "mcp", "oauth", "tools")
GUIDE_PATH = "docs/codes/{code}.md"
"""Where a code's troubleshooting guide lives (`mcpdiag explain CODE` prints it)."""
SLOW_INITIALIZE_S = 2.0
EXPIRY_WARNING_DAYS = 14


@dataclass(slots=True)
class Step:
    """One layer's outcome: `summary` is safe for anyone, `detail` is for support and admins."""

    name: StepName
    status: StepStatus
    duration_ms: float | None = None
    summary: str = ""
    detail: str | None = None

    def to_dict(self, *, include_detail: bool = True) -> dict[str, Any]:
        """The step on the wire (camelCase)."""
        return {
            "name": self.name,
            "status": self.status,
            "durationMs": None if self.duration_ms is None else round(self.duration_ms, 1),
            "summary": self.summary,
            "detail": self.detail if include_detail else None,
        }


@dataclass(slots=True)
class DoctorReport:
    """The ladder of a run, the first failure's catalog code and action, and the run's Debug ID."""

    url: str
    transport: str
    debug_id: str
    steps: list[Step] = field(default_factory=list)
    code: str | None = None
    action: str | None = None
    refused: bool = False
    """The run failed because its own address policy refused an address (`MCPDIAG_DOCTOR_ALLOW`), not
    because of the server: the server was not tested."""

    @property
    def ok(self) -> bool:
        """No step failed (warnings allowed)."""
        return self.code is None and all(step.status != "fail" for step in self.steps)

    @property
    def failed_step(self) -> StepName | None:
        """The first step that failed, if any."""
        return next((step.name for step in self.steps if step.status == "fail"), None)

    @property
    def warnings(self) -> list[Step]:
        """Steps that work but will hurt."""
        return [step for step in self.steps if step.status == "warn"]

    @property
    def guide(self) -> str | None:
        """The troubleshooting guide of the failure's code, if a step failed."""
        return GUIDE_PATH.format(code=self.code) if self.code else None

    def step(self, name: StepName) -> Step:
        """The step called `name` (every run lists all seven)."""
        return next(step for step in self.steps if step.name == name)

    def to_dict(self, *, include_detail: bool = True) -> dict[str, Any]:
        """The result on the wire: `detail` is left out (null) for callers who may not read it."""
        return {
            "ok": self.ok,
            "code": self.code,
            "failedStep": self.failed_step,
            "steps": [step.to_dict(include_detail=include_detail) for step in self.steps],
            "debugId": self.debug_id,
            "action": self.action,
            "guide": self.guide,
            "refused": self.refused,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step that did not fail found: `ok`, `warn` (works, but will hurt) or `skipped`."""

    summary: str
    detail: str | None = None
    status: StepStatus = "ok"


class StepFailed(Exception):
    """A layer failed: the catalog code, what a user may read, and what support may read."""

    def __init__(
        self,
        code: str,
        summary: str,
        detail: str | None = None,
        *,
        http_status: int | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(summary)
        self.code = code
        self.summary = summary
        self.detail = detail
        self.http_status = http_status
        self.refused = refused
        """The connection test's own address policy stopped it: it says nothing about the server."""
