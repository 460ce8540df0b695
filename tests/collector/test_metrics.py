"""`/metrics` counts what the fleet is doing, per server, code and severity, within a bounded number of
series: invented server names and codes past their caps are counted under `other`, never dropped."""

from __future__ import annotations

import secrets
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


def _apps(tmp_path: Path, token: str | None) -> list[Any]:
    """The standalone collector and the one-process API app, `/metrics` behind `token` (None: open)."""
    from mcpdiag.api import create_app
    from tests.api.support import Tokens, api_settings

    key = new_key()
    collector = create_collector_app(settings_for(tmp_path / "c", key, metrics_token=token))
    api = create_app(
        api_settings(Tokens(), None, tmp_path / "a"), settings_for(tmp_path / "a", key, metrics_token=token)
    )
    return [collector, api]


async def test_metrics_are_open_unless_a_token_is_set(tmp_path: Path) -> None:
    """Found by an adversarial pass: `/metrics` names every server and code to anyone who reaches the port,
    where the API answers 404 for a server the caller may not see. `MCPDIAG_METRICS_TOKEN` closes it."""
    for app in _apps(tmp_path / "open", None):
        async with asgi_client(app) as client:
            assert (await client.get("/metrics")).status_code == 200
    token = secrets.token_urlsafe(24)
    for app in _apps(tmp_path / "closed", token):
        async with asgi_client(app) as client:
            for headers in ({}, {"authorization": f"Bearer {token}x"}, {"authorization": token}):
                refused = await client.get("/metrics", headers=headers)
                assert refused.status_code == 401, refused.text
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert "mcpdiag_" not in refused.text and token not in refused.text
            answered = await client.get("/metrics", headers={"authorization": f"Bearer {token}"})
            assert answered.status_code == 200 and "mcpdiag_" in answered.text


def test_the_metrics_token_is_a_redacted_secret_and_a_bad_one_is_refused_unshown(tmp_path: Path) -> None:
    import pydantic

    token = secrets.token_urlsafe(24)
    assert token in settings_for(tmp_path, new_key(), metrics_token=token).redacted_secrets
    # An env file's empty placeholder means unset (found by a review: it failed the start).
    assert settings_for(tmp_path, new_key(), metrics_token="  ").metrics_token is None
    for bad in (secrets.token_hex(4), "a b" + secrets.token_hex(8), "é" + secrets.token_hex(8)):
        try:
            settings_for(tmp_path, new_key(), metrics_token=bad)
        except pydantic.ValidationError as refused:
            assert bad not in str(refused) and "MCPDIAG_METRICS_TOKEN" in str(refused)
        else:
            raise AssertionError(f"accepted {len(bad)} characters as a metrics token")
