"""The OpenTelemetry mapping gives every field of the wire event exactly one carrier in a log record."""

from __future__ import annotations

from collections import Counter

from mcpdiag.emitters.event import WIRE_FIELDS, Source
from mcpdiag.emitters.otel import ATTRIBUTE_FIELDS, LOG_RECORD_FIELDS, RESOURCE_FIELDS


def test_every_wire_field_has_exactly_one_carrier() -> None:
    """What fails when a field is added to `DiagnosticEvent` without an OTLP attribute (or record part)."""
    carriers = Counter([*ATTRIBUTE_FIELDS.values(), *LOG_RECORD_FIELDS, "attrs", "source"])
    assert set(carriers) == set(WIRE_FIELDS)
    assert max(carriers.values()) == 1
    assert sorted(RESOURCE_FIELDS.values()) == sorted(Source.model_fields)
