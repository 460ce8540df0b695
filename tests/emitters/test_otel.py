"""The OpenTelemetry mapping gives every field of the wire event exactly one carrier in a log record."""

from __future__ import annotations

from collections import Counter

from mcpdiag.emitters.event import WIRE_FIELDS, Source
from mcpdiag.emitters.otel import ATTRIBUTE_FIELDS, FIELD_NAMES, LOG_RECORD_FIELDS, RESOURCE_FIELDS


def test_every_wire_field_has_exactly_one_carrier() -> None:
    """What fails when a field is added to `DiagnosticEvent` without an OTLP attribute (or record part)."""
    carriers = Counter([*FIELD_NAMES, *LOG_RECORD_FIELDS, "attrs", "source"])
    assert set(carriers) == set(WIRE_FIELDS)
    assert max(carriers.values()) == 1
    # Every attribute name (ours, the conventions', an earlier one) reads into one field only.
    names = [name for field_names in FIELD_NAMES.values() for name in field_names]
    assert len(names) == len(set(names)) == len(ATTRIBUTE_FIELDS)
    assert all(FIELD_NAMES[field][rank] == name for name, (field, rank) in ATTRIBUTE_FIELDS.items())
    assert sorted(RESOURCE_FIELDS.values()) == sorted(Source.model_fields)
