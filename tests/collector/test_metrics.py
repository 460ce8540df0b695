"""`/metrics` counts what the fleet is doing, per server, code and severity, within a bounded number of
series: invented server names and codes past their caps are counted under `other`, never dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mcpdiag.collector import create_collector_app
from mcpdiag.collector.metrics import MAX_EXTRA_CODE_LABELS, MAX_SERVER_LABELS, OTHER
from tests.collector.support import asgi_client, new_key, settings_for, wire_events


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def event(server: str, code: str, severity: str = "error") -> dict[str, Any]:
    (one,) = wire_events(1)
    one.update(server=server, code=code, severity=severity)
    return one


async def test_events_total_counts_by_server_code_and_severity(tmp_path: Path) -> None:
    key = new_key()
    async with asgi_client(create_collector_app(settings_for(tmp_path, key)), key) as client:
        batch = [
            event("github", "MCP_TIMEOUT"),
            event("github", "MCP_TIMEOUT"),
            event("github", "MCP_CONNECTED", "info"),
            event("jira", "MCP_DNS_FAILURE"),
        ]
        assert (await client.post("/v1/events", json={"events": batch})).json()["accepted"] == 4
        text = (await client.get("/metrics")).text
    counted = samples(text, "mcpdiag_events_total")
    assert counted[(("code", "MCP_TIMEOUT"), ("server", "github"), ("severity", "error"))] == 2
    assert counted[(("code", "MCP_CONNECTED"), ("server", "github"), ("severity", "info"))] == 1
    assert counted[(("code", "MCP_DNS_FAILURE"), ("server", "jira"), ("severity", "error"))] == 1
    healthy = samples(text, "mcpdiag_store_healthy")
    assert list(healthy.values()) == [1.0]


async def test_servers_and_codes_past_their_caps_are_counted_as_other(tmp_path: Path) -> None:
    key = new_key()
    servers = [f"srv-{i:04d}" for i in range(MAX_SERVER_LABELS + 25)]
    codes = [f"MCP_VENDOR_{i:03d}" for i in range(MAX_EXTRA_CODE_LABELS + 5)]
    async with asgi_client(create_collector_app(settings_for(tmp_path, key)), key) as client:
        for start in range(0, len(servers), 100):
            chunk = [event(s, "MCP_TIMEOUT") for s in servers[start : start + 100]]
            assert (await client.post("/v1/events", json={"events": chunk})).json()["accepted"] == len(chunk)
        odd = [event("github", code) for code in codes]
        assert (await client.post("/v1/events", json={"events": odd})).json()["accepted"] == len(codes)
        text = (await client.get("/metrics")).text
    counted = samples(text, "mcpdiag_events_total")
    server_labels = {dict(labels)["server"] for labels in counted}
    code_labels = {dict(labels)["code"] for labels in counted}
    assert OTHER in server_labels and len(server_labels) <= MAX_SERVER_LABELS + 1
    assert OTHER in code_labels and len(code_labels - {OTHER, "MCP_TIMEOUT"}) <= MAX_EXTRA_CODE_LABELS
    assert sum(counted.values()) == len(servers) + len(codes)  # every occurrence counted somewhere
