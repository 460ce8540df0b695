"""The MCP doctor: test a server configuration layer by layer (dns → tcp → tls → http → mcp → oauth →
tools) before saving it, SSRF-safe, with every run emitted under a Debug ID."""

from __future__ import annotations

from mcpdiag.doctor.netguard import AddressPolicy, AddressRefusedError, Resolver, system_resolver
from mcpdiag.doctor.options import DoctorOptions, DoctorTransport, Target, TargetError, policy_from
from mcpdiag.doctor.report import STEP_NAMES, DoctorReport, Step, StepName, StepStatus
from mcpdiag.doctor.runner import run_doctor

__all__ = [
    "STEP_NAMES",
    "AddressPolicy",
    "AddressRefusedError",
    "DoctorOptions",
    "DoctorReport",
    "DoctorTransport",
    "Resolver",
    "Step",
    "StepName",
    "StepStatus",
    "Target",
    "TargetError",
    "policy_from",
    "run_doctor",
    "system_resolver",
]
