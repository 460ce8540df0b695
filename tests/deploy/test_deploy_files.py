"""The deployment files agree with the code and with each other (no Docker engine here, so they are parsed):
env names are real settings, probes hit real routes, ports line up, the image runs as non-root with a
health check, MongoDB runs as a replica set with its init, the OTel Collector forwards to `/v1/logs` with an
ingest key, and no secret is written down."""

from __future__ import annotations

import math
import re
import secrets
import shlex
import string
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from mcpdiag.api import ApiSettings, create_app
from mcpdiag.collector import CollectorSettings
from mcpdiag.emitters import redact_text
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import asgi_client, new_key

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PLACEHOLDER = "REPLACE_ME"
ENV_NAME = re.compile(r"\bMCPDIAG_[A-Z0-9_]+\b")


# -- helpers ------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One `FROM` stage of a Dockerfile: its base and its instructions (continuations joined)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def dockerfile_stages(text: str) -> list[Stage]:
    """The stages of a Dockerfile (comments dropped, `\\` continuations joined, ARG defaults applied)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            stages.append(Stage(base, parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def exec_form(args: str) -> list[str]:
    """The argv of an exec-form (JSON array) CMD/HEALTHCHECK CMD; shell form is split like a shell."""
    args = args.strip()
    if args.startswith("["):
        parsed = yaml.safe_load(args)  # a JSON array is valid YAML
        assert isinstance(parsed, list)
        return [str(item) for item in parsed]
    return shlex.split(args)


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def k8s_docs() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def k8s(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_docs() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container() -> dict[str, Any]:
    containers = k8s("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return doc


def otel_config() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    return doc


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    pairs = (line.split("=", 1) for line in lines)
    return {name.strip(): value.strip() for name, value in pairs}


def setting_names() -> set[str]:
    fields = {**ApiSettings.model_fields, **CollectorSettings.model_fields}
    return {f"MCPDIAG_{name.upper()}" for name in fields}


def secret_setting_names() -> set[str]:
    """Settings that hold secrets: SecretStr values and fields kept out of their repr."""
    secret = set()
    for name, info in {**ApiSettings.model_fields, **CollectorSettings.model_fields}.items():
        if not info.repr or "SecretStr" in str(info.annotation):
            secret.add(f"MCPDIAG_{name.upper()}")
    return secret


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    tmp = tmp_path_factory.mktemp("deploy")
    return create_app(api_settings(Tokens()), collector_settings(tmp))


def routes(app: FastAPI) -> dict[str, set[str]]:
    """Path → methods of the app: the documented operations plus top-level routes kept out of /docs."""
    found = {path: {m.upper() for m in ops} for path, ops in app.openapi()["paths"].items()}
    for route in app.routes:
        if isinstance(route, APIRoute):
            found.setdefault(route.path, set()).update(route.methods)
    return found


def url_port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def image_port() -> int:
    stage = dockerfile_stages((DEPLOY / "Dockerfile").read_text())[-1]
    return int(stage.last("EXPOSE").split("/")[0])


# -- settings and routes ------------------------------------------------------------------------------


def test_every_mcpdiag_env_name_in_deploy_is_a_real_setting() -> None:
    known = setting_names()
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert len(files) >= 9
    for path in files:
        unknown = set(ENV_NAME.findall(path.read_text())) - known
        assert not unknown, f"{path.relative_to(ROOT)} names settings that do not exist: {sorted(unknown)}"


def test_every_config_value_is_accepted_by_the_settings(tmp_path: Path) -> None:
    """The ConfigMap and the compose environment (with placeholders filled in) build valid settings."""
    secret_values = {name: "x" * 40 for name in secret_setting_names()}
    configmap = k8s("ConfigMap")["data"]
    compose_env = {
        name: re.sub(r"\$\{[^}]*\}", "x" * 40, str(value))
        for name, value in compose()["services"]["mcpdiag"]["environment"].items()
    }
    for env in (configmap, compose_env):
        values = {k.removeprefix("MCPDIAG_").lower(): v for k, v in {**secret_values, **env}.items()}
        ApiSettings(_env_file=None, **values)
        CollectorSettings(_env_file=None, **values)


def test_probes_and_the_image_health_check_hit_real_get_routes(app: FastAPI) -> None:
    paths = routes(app)
    spec = container()
    kinds = ("livenessProbe", "readinessProbe", "startupProbe")
    probes = {kind: spec[kind]["httpGet"]["path"] for kind in kinds}
    assert probes["readinessProbe"] == "/readyz" and probes["livenessProbe"] == "/healthz"
    stage = dockerfile_stages((DEPLOY / "Dockerfile").read_text())[-1]
    check = " ".join(exec_form(stage.last("HEALTHCHECK").split("CMD", 1)[1]))
    health_url = re.search(r"https?://[^'\" ]+", check)
    assert health_url is not None
    for path in [*probes.values(), urlsplit(health_url.group()).path]:
        assert "GET" in paths.get(path, set()), f"{path} is not a GET route of the app"


# -- Dockerfile ---------------------------------------------------------------------------------------


def test_the_image_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    stages = dockerfile_stages((DEPLOY / "Dockerfile").read_text())
    assert len(stages) >= 2
    assert all(stage.base == "python:3.11-slim" for stage in stages)
    final = stages[-1]
    user = final.last("USER").split(":")[0]
    assert user not in ("root", "0"), "the image must not run as root"
    assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
    healthcheck = final.last("HEALTHCHECK")
    assert "CMD" in healthcheck and "curl" not in healthcheck and "wget" not in healthcheck
    assert exec_form(final.last("CMD")) == ["mcpdiag", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert any("--from=" in copy for copy in final.all("COPY")), "the runtime stage copies the built venv"
    installs = " ".join(stages[0].all("RUN"))
    assert re.search(r"pip install \"?\.\[server", installs)


def test_the_image_gets_every_package_folder_and_the_build_context_keeps_them() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = {p.split("/")[0] for p in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]}
    build = dockerfile_stages((DEPLOY / "Dockerfile").read_text())[0]
    copied = {copy.split()[0].rstrip("/") for copy in build.all("COPY")}
    copied |= {part for copy in build.all("COPY") for part in copy.split()[:-1]}
    # What the wheel force-includes from outside the package folders (the guides) must be in the image too.
    forced = set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"].get("force-include", {}))
    assert folders | forced | {"pyproject.toml", "README.md"} <= copied
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for name in folders | forced | {"pyproject.toml", "README.md"}:
        assert f"!{name}" in ignore, f".dockerignore leaves {name} out of the build context"
    assert (ROOT / compose()["services"]["mcpdiag"]["build"]["dockerfile"]).is_file()


def test_serve_takes_the_host_and_port_the_image_passes() -> None:
    from mcpdiag.cli.app import app as cli

    command = typer.main.get_command(cli)
    serve = getattr(command, "commands", {}).get("serve")
    assert serve is not None, "the image runs `mcpdiag serve`"
    options = {opt for param in serve.params for opt in getattr(param, "opts", [])}
    assert {"--host", "--port"} <= options


# -- ports --------------------------------------------------------------------------------------------


def test_ports_agree_across_the_image_compose_and_kubernetes() -> None:
    port = image_port()
    stage = dockerfile_stages((DEPLOY / "Dockerfile").read_text())[-1]
    assert int(option(exec_form(stage.last("CMD")), "--port")) == port
    assert f"127.0.0.1:{port}/" in stage.last("HEALTHCHECK")

    spec = container()
    (container_port,) = spec["ports"]
    assert container_port["containerPort"] == port
    assert int(option(spec["command"], "--port")) == port
    assert spec["command"] == exec_form(stage.last("CMD"))
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert spec[kind]["httpGet"]["port"] in (port, container_port["name"])
    (service_port,) = k8s("Service")["spec"]["ports"]
    assert service_port["targetPort"] in (port, container_port["name"])

    published = compose()["services"]["mcpdiag"]["ports"]
    assert any(str(p).split(":")[-1] == str(port) for p in published)


# -- compose ------------------------------------------------------------------------------------------


def test_compose_runs_mongodb_7_as_a_replica_set_with_its_init() -> None:
    services = compose()["services"]
    mongo = services["mongo"]
    assert mongo["image"] == "mongo:7"
    command = mongo["command"] if isinstance(mongo["command"], list) else shlex.split(mongo["command"])
    replica_set = option(command, "--replSet")
    init = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in init and f"_id: '{replica_set}'" in init
    assert "mongo:27017" in init, "the member host must be the name other containers resolve"

    mcpdiag = services["mcpdiag"]
    assert mcpdiag["depends_on"]["mongo"]["condition"] == "service_healthy"
    store = urlsplit(mcpdiag["environment"]["MCPDIAG_STORE_URL"])
    assert store.scheme == "mongodb" and store.hostname == "mongo"
    assert parse_qs(store.query)["replicaSet"] == [replica_set]


def test_compose_sends_the_service_telemetry_to_the_collector_it_runs() -> None:
    services = compose()["services"]
    endpoint = urlsplit(services["mcpdiag"]["environment"]["MCPDIAG_OTLP_ENDPOINT"])
    assert endpoint.hostname == "otel-collector" and endpoint.hostname in services
    http_receiver = otel_config()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert url_port(f"http://{http_receiver}") == endpoint.port
    mounted = {v.split(":")[1] for v in services["otel-collector"]["volumes"]}
    config_arg = next(a for a in services["otel-collector"]["command"] if a.startswith("--config="))
    assert config_arg.removeprefix("--config=") in mounted


# -- the OpenTelemetry Collector ----------------------------------------------------------------------


def _mcpdiag_exporter() -> tuple[str, dict[str, Any]]:
    config = otel_config()
    exporters = {name: ex for name, ex in config["exporters"].items() if name.startswith("otlphttp")}
    assert len(exporters) == 1
    return next(iter(exporters.items()))


def test_the_collector_forwards_logs_to_mcpdiag_v1_logs_in_a_logs_pipeline(app: FastAPI) -> None:
    name, exporter = _mcpdiag_exporter()
    target = urlsplit(exporter["logs_endpoint"])
    assert target.hostname == "mcpdiag" and target.hostname in compose()["services"]
    assert target.port == image_port()
    assert "POST" in routes(app)[target.path] and target.path == "/v1/logs"
    pipelines = otel_config()["service"]["pipelines"]
    logs = [p for key, p in pipelines.items() if key.split("/")[0] == "logs" and name in p["exporters"]]
    assert len(logs) == 1
    assert all(name not in p["exporters"] for key, p in pipelines.items() if not key.startswith("logs"))
    # The loop guard: mcpdiag's own log records (service.name=mcpdiag) never go back into /v1/logs.
    filters = [otel_config()["processors"][p] for p in logs[0]["processors"] if p.startswith("filter")]
    conditions = [c for f in filters for c in f["logs"]["log_record"]]
    assert 'resource.attributes["service.name"] == "mcpdiag"' in conditions
    # Records are dropped for naming no server only when no name `/v1/logs` reads as the server is set.
    from mcpdiag.emitters.otel import FIELD_NAMES

    no_server = [c for c in conditions if "service.name" not in c]
    assert len(no_server) == 1
    named = re.findall(r'attributes\["([^"]+)"\] == nil', no_server[0])
    assert set(named) == {*FIELD_NAMES["server"], "server.address"} and no_server[0].count(" and ") == 2


async def test_the_collector_s_ingest_key_header_is_one_mcpdiag_accepts(tmp_path: Path) -> None:
    """The header the exporter sends, with a key from MCPDIAG_INGEST_KEYS, gets through /v1/logs."""
    _, exporter = _mcpdiag_exporter()
    ((header, value),) = exporter["headers"].items()
    variable = re.fullmatch(r"\$\{env:(\w+)\}", value)
    assert variable, "the key comes from the environment, never written in the file"
    collector_env = compose()["services"]["otel-collector"]["environment"]
    assert variable.group(1) in collector_env
    keys_from = compose()["services"]["mcpdiag"]["environment"]["MCPDIAG_INGEST_KEYS"]
    assert f"${{{collector_env[variable.group(1)].removeprefix('${').split(':')[0]}" in keys_from

    key = new_key()
    app = create_app(api_settings(Tokens()), collector_settings(tmp_path, key))
    async with asgi_client(app) as client:
        body = ExportLogsServiceRequest().SerializeToString()
        headers = {"content-type": "application/x-protobuf"}
        accepted = await client.post("/v1/logs", content=body, headers={**headers, header: key})
        refused = await client.post("/v1/logs", content=body, headers={**headers, header: "ik_wrong"})
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 401


# -- Kubernetes ---------------------------------------------------------------------------------------


def test_kubernetes_manifests_hang_together() -> None:
    kinds = Counter(doc["kind"] for _, doc in k8s_docs())
    assert kinds == {
        "Deployment": 1,
        "Service": 1,
        "ConfigMap": 1,
        "Secret": 1,
        "HorizontalPodAutoscaler": 1,
        "Kustomization": 1,
    }
    listed = set(k8s("Kustomization")["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}

    deployment = k8s("Deployment")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert k8s("Service")["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    sources = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container()["envFrom"]}
    assert sources == {
        "configMapRef": k8s("ConfigMap")["metadata"]["name"],
        "secretRef": k8s("Secret")["metadata"]["name"],
    }
    hpa = k8s("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert low >= 2 and high > low, "at least two replicas, room to scale out"


def test_the_pod_is_bounded_non_root_and_spools_to_a_volume_bigger_than_its_spool() -> None:
    spec = container()
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][kind]), f"resources.{kind}"
    pod = k8s("Deployment")["spec"]["template"]["spec"]
    dockerfile_user = dockerfile_stages((DEPLOY / "Dockerfile").read_text())[-1].last("USER").split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == dockerfile_user
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True

    config = k8s("ConfigMap")["data"]
    mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
    spool_volume = mounts[config["MCPDIAG_SPOOL_DIR"]]
    (volume,) = [v for v in pod["volumes"] if v["name"] == spool_volume]
    size = volume["emptyDir"]["sizeLimit"]
    assert size.endswith("Gi")
    assert float(config["MCPDIAG_SPOOL_MAX_MB"]) < float(size[:-2]) * 1024


# -- no secrets written down --------------------------------------------------------------------------


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    """A run of 16+ characters mixing letters and digits with high entropy (not words joined by `_`)."""
    return any(
        len(part) >= 16 and re.search(r"\d", part) and re.search(r"[A-Za-z]", part) and _entropy(part) > 3.5
        for part in re.split(r"[_.:/=-]", token)
    )


def test_secrets_are_placeholders_or_come_from_the_environment() -> None:
    secret = k8s("Secret")
    assert "data" not in secret, "stringData keeps the placeholders readable"
    for name, value in secret["stringData"].items():
        assert PLACEHOLDER in value, f"Secret {name} must be a {PLACEHOLDER} placeholder"
    assert secret_setting_names() & set(secret["stringData"]) == {
        "MCPDIAG_INGEST_KEYS",
        "MCPDIAG_JWT_SECRET",
    }
    assert not secret_setting_names() & set(k8s("ConfigMap")["data"]), "secrets belong in the Secret"

    for service in compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if name in secret_setting_names() or re.search(r"KEY|SECRET|PASSWORD|TOKEN", name):
                assert re.fullmatch(r"(\$\{[^}]+\},?)+", str(value)), f"compose {name} must be ${{...}}"
    for name, value in env_file(DEPLOY / ".env.example").items():
        if re.search(r"KEY|SECRET|PASSWORD|TOKEN", name) and value:
            assert PLACEHOLDER in value, f".env.example {name}"


def test_no_file_holds_a_real_looking_secret() -> None:
    """Neither the project's redaction rules nor an entropy check find a credential outside placeholders."""
    alphabet = string.ascii_letters + string.digits
    sample = "ik_" + "".join(secrets.choice(alphabet) for _ in range(40)) + "9a"  # base62: entropy ~5 bits
    assert _looks_random(sample) and not _looks_random("PYTHONUNBUFFERED=1")
    for path in [p for p in DEPLOY.rglob("*") if p.is_file()] + [ROOT / ".dockerignore"]:
        text = path.read_text()
        for line, redacted in zip(text.splitlines(), redact_text(text).splitlines(), strict=False):
            rules = set(re.findall(r"\[REDACTED:(\w+)\]", redacted)) - {"assignment"}
            assert not rules or PLACEHOLDER in line, f"{path.name}: {rules} in {line.strip()!r}"
        for token in re.findall(r"[A-Za-z0-9+/_=.:-]{16,}", text):
            looks_secret = PLACEHOLDER not in token and _looks_random(token)
            assert not looks_secret, f"{path.name}: {token!r} looks like a secret"
