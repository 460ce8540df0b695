"""The monitoring files in deploy/ work with the service as it is: the alert rules pass `promtool check rules`
and their unit tests (`promtool test rules`), the Prometheus config is valid, every PromQL expression of the
Grafana dashboard parses, and every metric the rules and panels read is one a running collector exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mcpdiag.collector import create_collector_app
from tests.collector.support import asgi_client, new_key, settings_for, wire_events

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "mcpdiag.json"
METRIC = re.compile(r"\bmcpdiag_[a-z_]+")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_alert_rules_check_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", "alerts.yaml", cwd=PROMETHEUS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts.test.yaml", cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yaml").read_text())["tests"]
    fired = {
        case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")
    }
    groups = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())["groups"]
    assert fired == {rule["alert"] for group in groups for rule in group["rules"]}


def test_the_prometheus_config_is_valid_with_its_rule_file(tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]  # where compose mounts it
    config["rule_files"] = ["alerts.yaml"]
    shutil.copy(PROMETHEUS / "alerts.yaml", tmp_path / "alerts.yaml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_expression_is_valid_promql(tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables given values, as a recording rule promtool parses."""
    rules = [
        {
            "record": f"dashboard:expr_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$server", ".*"),
        }
        for i, expr in enumerate(dashboard_exprs())
    ]
    (tmp_path / "dashboard.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]})
    )
    checked = promtool("check", "rules", "dashboard.rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_is_well_formed_and_wired_to_the_provisioned_datasource() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["title"]
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    uid = source["datasources"][0]["uid"]
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == uid and target["refId"]
    assert any("$server" in expr for expr in dashboard_exprs())  # the server picker filters the panels
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    mounts = " ".join(compose["grafana"]["volumes"] + compose["prometheus"]["volumes"])
    assert "./grafana/mcpdiag.json" in mounts and "./prometheus/alerts.yaml" in mounts
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/mcpdiag.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] in mounts


async def test_rules_and_panels_read_only_metrics_the_service_exports(tmp_path: Path) -> None:
    key = new_key()
    async with asgi_client(create_collector_app(settings_for(tmp_path, key)), key) as client:
        events = wire_events(3)
        await client.post("/v1/events", json={"events": [*events, {"id": "bad"}]})
        await client.post("/v1/events", json={"events": events}, headers={"x-api-key": "wrong"})
        text = (await client.get("/metrics")).text
    exported = {family.name for family in text_string_to_metric_families(text)}
    for expr in [*rule_exprs(), *dashboard_exprs()]:
        for name in METRIC.findall(expr):
            family = next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)
            assert family in exported, (name, expr)


@pytest.mark.parametrize("name", ["alerts.yaml", "alerts.test.yaml", "prometheus.yml"])
def test_monitoring_files_parse_as_yaml(name: str) -> None:
    assert yaml.safe_load((PROMETHEUS / name).read_text())
