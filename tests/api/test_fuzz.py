"""Property-based fuzzing of the OpenAPI contract (schemathesis): no generated request gets a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.python import asgi

from tests.api.conftest import ACL
from tests.api.support import Tokens, build_app
from tests.collector.support import new_key, wire_events

EXAMPLES = 30


def fuzzed_operations(schema: Any) -> list[Any]:
    """Every query operation of the API (ingest is fuzzed by the collector's own tests)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if not op.path.startswith("/v1/")]


def test_no_generated_request_gets_a_5xx(tmp_path: Path) -> None:
    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, ACL, key)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    callers = [
        tokens.header(tokens.mint("ada", roles=["admin"])),
        tokens.header(tokens.mint("ursula", groups=["eng"], mcp_servers=["github"])),
        {},
    ]
    try:
        known: list[tuple[str, str]] = []
        with asgi.get_client(app) as client:
            for server in ("github", "jira", "payroll"):
                for user in ("ursula", None):
                    events = wire_events(20, server=server, user_id=user)
                    known.extend((server, e["traceId"][: 8 + len(known) % 25]) for e in events[:2])
                    posted = client.post("/v1/events", json={"events": events}, headers={"x-api-key": key})
                    assert posted.status_code == 202, posted.text
        operations = fuzzed_operations(schema)
        assert len(operations) >= 7
        failures: list[str] = []
        for operation in operations:
            strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
                generation_mode=GenerationMode.NEGATIVE
            )

            @given(case=strategy, headers=st.sampled_from(callers), real=st.none() | st.sampled_from(known))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any, headers: dict[str, str], real: tuple[str, str] | None) -> None:
                # Half the cases aim at a server and trace that exist, so the handlers past the 404 run too.
                if real is not None and case.path_parameters:
                    case.path_parameters = {
                        name: real[0] if name == "server" else real[1] for name in case.path_parameters
                    }
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {response.request.url} -> {response.status_code}")
                elif response.status_code >= 400:
                    # Errors are JSON whatever the endpoint returns on success (a bundle is a ZIP).
                    body = response.json()
                    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])

            check()
        assert not failures, failures[:10]
    finally:
        asgi.shutdown_lifespans()
