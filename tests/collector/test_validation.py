"""The collector's intake redacts with the one walker: encoded secrets, secret keys and token keys go before
an event is stored, and the work is linear in the size of the event."""

from __future__ import annotations

import json
import time
from typing import Any

from mcpdiag.collector import EventValidator
from mcpdiag.emitters import Redactor
from tests.emitters.secret_forms import context_cases, token_cases
from tests.factories import NOW


def _wire(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{n}",
        "ts": NOW.isoformat().replace("+00:00", "Z"),
        "server": "github",
        "touchpoint": "connect",
        "code": "MCP_TIMEOUT",
        "traceId": f"{n + 1:032x}",
        **fields,
    }


def test_every_encoded_secret_is_gone_from_what_the_collector_stores() -> None:
    validator = EventValidator(clock=lambda: NOW)
    cases = [*token_cases(), *context_cases()]
    events = [
        _wire(i, detail=case.text[:4000], attrs={"note": case.text[:2000]}) for i, case in enumerate(cases)
    ]
    intake = validator.check(events)
    assert not intake.rejected
    leaked = [
        case.name
        for case, event in zip(cases, intake.events, strict=True)
        if case.secret.body in event.model_dump_json() and case.secret.body in case.text[:2000]
    ]
    assert not leaked, "\n".join(leaked[:40])


def test_a_token_used_as_an_attrs_key_is_not_stored() -> None:
    token = "ghp_" + "a1B2" * 9
    intake = EventValidator(clock=lambda: NOW).check([_wire(1, attrs={token: "value", "doctor.oauth": "ok"})])
    [event] = intake.events
    assert token not in event.model_dump_json()
    assert event.attrs == {"[REDACTED:github_token]": "value", "doctor.oauth": "[REDACTED:secret_key]"}
    assert intake.redactions == {"github_token": 1, "secret_key": 1}


def test_the_validator_redacts_exactly_what_the_redactor_gives() -> None:
    validator, redactor = EventValidator(), Redactor()
    for case in [*token_cases(), *context_cases()][::7]:
        event = _wire(1, detail=case.text, attrs={case.text: [case.text, {"password": case.text}]})
        counts: dict[str, int] = {}
        assert validator.redact(event, counts) == redactor.value(event, {})
        assert (validator.redact(event, {}), counts) == redactor.event(event)


def test_intake_work_is_linear_in_the_size_of_an_event() -> None:
    """A detail and a tool name of `"key" * N`: four times the size costs about four times the work."""
    validator = EventValidator(clock=lambda: NOW)

    def cost(n: int) -> float:
        events = [
            _wire(i, detail="key" * n, tool="key" * (n // 4), attrs={"k": "token" * n}) for i in range(4)
        ]
        best = float("inf")
        for _ in range(3):
            start = time.thread_time()
            validator.check(json.loads(json.dumps(events)))
            best = min(best, time.thread_time() - start)
        return best

    small, large = cost(1300), cost(5200)
    assert large <= 10 * max(small, 1e-3), (small, large)


def test_a_refusal_names_every_problem_of_the_event_not_only_the_first() -> None:
    """A sender fixes every field at once: the rejection's field is the first problem's, its message lists
    the others with their fields (at most three, then a count)."""
    validator = EventValidator(())
    two = _wire(1)
    del two["id"], two["traceId"]
    many = {**_wire(2), "id": None, "traceId": None, "server": "", "touchpoint": "nowhere", "code": 5}
    intake = validator.check([two, many, _wire(3)])
    assert len(intake.events) == 1
    first, second = intake.rejected
    assert first.field == "id" and first.message == "Field required; also traceId: Field required", first
    parts = second.message.split("; ")
    assert parts[0] == "Input should be a valid string" and parts[1].startswith("also server: "), parts
    assert [p.split(":")[0] for p in parts[2:4]] == ["touchpoint", "code"] and parts[
        4
    ] == "and 3 more problems"
