"""The MCP doctor: test a server configuration layer by layer (dns → tcp → tls → http → mcp → oauth →
tools) before saving it, SSRF-safe, bounded in what it reads, with every run emitted under a Debug ID."""

from __future__ import annotations

from mcpdiag.doctor.bounded import MAX_BODY_BYTES, MAX_RUN_BYTES, BodyTooLargeError
from mcpdiag.doctor.inspection import UNNAMED_RUN_ATTR, emit_inspection
from mcpdiag.doctor.netguard import AddressPolicy, AddressRefusedError, Resolver, system_resolver
from mcpdiag.doctor.options import DoctorOptions, DoctorTransport, Target, TargetError, policy_from
from mcpdiag.doctor.report import STEP_NAMES, DoctorReport, Step, StepName, StepStatus
from mcpdiag.doctor.runner import run_doctor, run_doctor_in_thread

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_RUN_BYTES",
    "STEP_NAMES",
    "UNNAMED_RUN_ATTR",
    "AddressPolicy",
    "AddressRefusedError",
    "BodyTooLargeError",
    "DoctorOptions",
    "DoctorReport",
    "DoctorTransport",
    "Resolver",
    "Step",
    "StepName",
    "StepStatus",
    "Target",
    "TargetError",
    "emit_inspection",
    "policy_from",
    "run_doctor",
    "run_doctor_in_thread",
    "system_resolver",
]
