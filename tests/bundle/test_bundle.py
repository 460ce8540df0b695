"""The bundle exporter end to end on a real SQLite store: sanitization, the leak gate, manifest, scopes."""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mcpdiag.bundle import (
    BundleOutputError,
    BundleResult,
    BundleScope,
    BundleStoreError,
    LeakDetectedError,
    export_bundle,
    scan_bundle,
)
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store import EventQuery, SQLiteEventStore, StoreUnavailableError
from tests.api.support import NOW, T0, kill_helpers
from tests.factories import DAY, FakeClock, make_event

WINDOW = {"from_": f"{DAY}T00:00:00Z", "to": f"{DAY}T12:00:00Z"}


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


class Sentinels:
    """Secrets generated at runtime and planted everywhere a bundle could pick them up."""

    def __init__(self) -> None:
        self.known = f"kn0wn-{secrets.token_hex(12)}"
        self.ingest = f"ingest-{secrets.token_hex(12)}"
        self.db_password = f"dbpw{secrets.token_hex(10)}"
        self.jwt_secret = f"jwts{secrets.token_hex(16)}"
        self.env_secret = f"envs{secrets.token_hex(12)}"
        self.api_key_attr = rand(24)
        self.url_password = f"P{rand(18)}"
        self.query_token = rand(32)
        self.bearer = f"{rand(28)}9"
        self.jwt = f"eyJ{rand(20)}.eyJ{rand(40)}.{rand(43)}"
        self.github = "ghp_" + rand(36)
        self.anthropic = "sk-ant-api03-" + rand(40)
        self.aws = "AKIA" + rand(16, string.ascii_uppercase + string.digits)

    def values(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if isinstance(v, str)}

    def settings(self) -> dict[str, Any]:
        return {
            "collector": {
                "store_url": f"mongodb://mcpdiag:{self.db_password}@db.internal:27017/mcpdiag",
                "known_secrets": frozenset({self.known}),
                "ingest_keys": frozenset({self.ingest}),
                "retention_days": 7.0,
            },
            "api": {"jwt_secret": SecretStr(self.jwt_secret), "jwt_audience": "mcpdiag"},
        }

    def environ(self) -> dict[str, str]:
        return {"MCPDIAG_OAUTH_CLIENT_SECRET": self.env_secret, "HOME": "/home/x", "PWD": "/work"}

    def events(self) -> list[DiagnosticEvent]:
        s = self
        return [
            make_event(
                code="MCP_AUTH_REQUIRED",
                ts=T0,
                user_id="ursula",
                detail=f"401 from https://mcp.example.com/mcp?access_token={s.query_token} "
                f"Authorization: Bearer {s.bearer}",
                attrs={"apiKey": s.api_key_attr, "note": f"known {s.known}", "jwt": s.jwt},
            ),
            make_event(
                code="MCP_PROXY_SSE_ISSUE",
                ts=T0 + timedelta(minutes=5),
                message_safe=f"proxy said {s.ingest} and {s.env_secret}",
                detail=f"GET https://bob:{s.url_password}@mcp.example.com/sse -> 502 ({s.github})",
                attrs={"upstream": f"mongodb://mcpdiag:{s.db_password}@db.internal", "key": s.anthropic},
            ),
            make_event(
                server="jira",
                code="MCP_TIMEOUT",
                ts=T0 + timedelta(minutes=7),
                detail=f"aws {s.aws} and jwt secret {s.jwt_secret}",
            ),
            make_event(server="jira", code="MCP_CONNECTED", ts=T0 + timedelta(minutes=8)),
        ]


async def export(
    store: SQLiteEventStore, out: Path, scope: BundleScope | None = None, **kwargs: Any
) -> BundleResult:
    out.mkdir(exist_ok=True)  # noqa: ASYNC240
    kwargs.setdefault("settings_snapshot", {})
    kwargs.setdefault("environ", {})
    return await export_bundle(
        store,
        scope or BundleScope.parse(**WINDOW, now=NOW),
        out_dir=out,
        app_version="9.9.9",
        now=NOW,
        **kwargs,
    )


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def assert_no_sentinel(files: dict[str, bytes], sentinels: Sentinels) -> None:
    for name, data in files.items():
        text = data.decode()
        for label, value in sentinels.values().items():
            assert value not in text and value not in name, f"{label} leaked into {name}"


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_sentinel_secrets_never_reach_the_bundle(
    store: SQLiteEventStore, tmp_path: Path, helper: bool
) -> None:
    """Secrets from settings, environment, detail, attrs, messageSafe, URLs, headers and tokens: all gone,
    whichever process runs the final scan. (The API and CLI variants: test_bundle_http, test_cli.)"""
    s = Sentinels()
    await store.append(s.events())
    result = await export(
        store, tmp_path / "out", settings_snapshot=s.settings(), environ=s.environ(), scan_helper=helper
    )
    assert result.scanned_by == ("helper" if helper else "exporter")
    files = members(result.path)
    assert_no_sentinel(files, s)
    assert result.event_count == 4
    events = [json.loads(line) for line in files["events/github.jsonl"].decode().splitlines()]
    assert [e["code"] for e in events] == ["MCP_AUTH_REQUIRED", "MCP_PROXY_SSE_ISSUE"]
    assert events[0]["attrs"]["apiKey"] == "[REDACTED:secret_key]"
    settings = json.loads(files["settings.json"])
    assert settings["collector"]["store_url"] == "mongodb://db.internal:27017/mcpdiag"
    assert "known_secrets" not in settings["collector"] and "jwt_secret" not in settings["api"]
    redactions = json.loads(files["redactions.json"])
    rules = {r["rule"] for entry in redactions if entry["file"].startswith("events/") for r in entry["rules"]}
    assert {"known_secret", "secret_key", "url_password", "jwt", "github_token", "aws_access_key_id"} <= rules


async def test_manifest_lists_every_member_with_its_hash(store: SQLiteEventStore, tmp_path: Path) -> None:
    """MANIFEST.json names every other member with the size and SHA-256 of its bytes; MANIFEST.sha256, the
    trailer after it, holds the SHA-256 of the manifest's own bytes (sha256sum's format)."""
    await store.append([make_event(ts=T0), make_event(server="my server/ü", ts=T0)])
    result = await export(store, tmp_path / "out")
    files = members(result.path)
    raw_manifest = files.pop("MANIFEST.json")
    digest = hashlib.sha256(raw_manifest).hexdigest()
    assert files.pop("MANIFEST.sha256") == f"{digest}  MANIFEST.json\n".encode()
    assert list(zipfile.ZipFile(result.path).namelist())[-2:] == ["MANIFEST.json", "MANIFEST.sha256"]
    manifest = json.loads(raw_manifest)
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(files)
    for name, data in files.items():
        assert listed[name]["size"] == len(data)
        assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["counts"]["events"] == 2 and manifest["bundle_version"] == 1
    assert manifest["scope"]["from"] == f"{DAY}T00:00:00.000Z"
    assert manifest["coverage"]["earliest_retained"].startswith(f"{DAY}T09:00")
    assert "Review" in manifest["warning"]
    assert any(n.startswith("events/my_server-") for n in files)
    assert result.filename == f"mcpdiag-support-{DAY}-120000.zip"
    assert result.path.stat().st_size == result.size


async def test_empty_scope_is_a_bundle_that_says_so(store: SQLiteEventStore, tmp_path: Path) -> None:
    """No events is not an error: the bundle holds no event files and its texts say there were none."""
    result = await export(store, tmp_path / "out")
    files = members(result.path)
    assert result.event_count == 0
    assert not [n for n in files if n.startswith("events/")]
    assert "No events matched this scope" in files["analysis.md"].decode()
    assert json.loads(files["MANIFEST.json"])["empty"] is True
    assert "no events matched" in files["README.md"].decode().lower()


@pytest.mark.parametrize("mode", ["scan-in-process", "scan-helper", "scan-helper-killed"])
async def test_a_secret_registered_during_the_export_blocks_it(
    store: SQLiteEventStore, tmp_path: Path, mode: str
) -> None:
    """Leak gate: a secret known only after the events were written is caught by the scan, whichever process
    runs it (a helper killed at that moment leaves it to the exporter); no file stays."""
    late = f"late{secrets.token_hex(12)}"
    await store.append([make_event(ts=T0, detail=f"upstream said {late}")])
    environ: dict[str, str] = {}

    def register(phase: str, done: int) -> None:
        if phase == "scan":
            environ["MCPDIAG_PARTNER_TOKEN"] = late
            if mode == "scan-helper-killed":
                assert kill_helpers() == 1

    out = tmp_path / "out"
    with pytest.raises(LeakDetectedError) as caught:
        await export(store, out, environ=environ, progress=register, scan_helper=mode != "scan-in-process")
    assert caught.value.file == "events/github.jsonl" and caught.value.rule == "known_secret"
    assert (caught.value.status, caught.value.code) == (422, "leak_detected")  # not an internal error
    assert late not in str(caught.value)
    assert list(out.iterdir()) == []


def test_leak_scan_names_file_and_rule_for_a_planted_token(tmp_path: Path) -> None:
    """The scan reads every member: a token shape in any file is reported by file and rule, never by value."""
    token = "ghp_" + rand(36)
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("events/a.jsonl", '{"detail": "fine"}\n' * 3000)
        zf.writestr("analysis.md", f"# x\n\nsee {token}\n")
    with pytest.raises(LeakDetectedError) as caught:
        scan_bundle(path, [])
    assert (caught.value.file, caught.value.rule) == ("analysis.md", "github_token")
    assert token not in str(caught.value)


def test_leak_scan_finds_a_known_secret_across_a_chunk_boundary(tmp_path: Path) -> None:
    """A known secret split between two 1 MiB reads is still found."""
    secret = f"s{secrets.token_hex(16)}"
    path = tmp_path / "b.zip"
    pad = (1 << 20) - 10
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("README.md", "a" * pad + secret + "\n")
    with pytest.raises(LeakDetectedError):
        scan_bundle(path, [secret])
    assert scan_bundle(path, []) == 1


async def test_debug_id_scope_holds_the_trace_and_its_related_window(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    """A Debug ID bundle: the traced events, the same user's events ±10 min, nothing else."""
    trace = secrets.token_hex(16)
    await store.append(
        [
            make_event(ts=T0, user_id="u1", trace_id=trace, code="MCP_TIMEOUT"),
            make_event(ts=T0 + timedelta(minutes=5), user_id="u1", code="MCP_SERVER_ERROR"),
            make_event(ts=T0 + timedelta(minutes=5), user_id="u2", code="MCP_SERVER_ERROR"),
            make_event(ts=T0 + timedelta(minutes=30), user_id="u1", code="MCP_SERVER_ERROR"),
            make_event(ts=T0 - timedelta(days=2), user_id="u1", server="jira"),
        ]
    )
    scope = BundleScope.parse(debug_id=trace, now=NOW)
    files = members((await export(store, tmp_path / "out", scope)).path)
    lines = files["events/github.jsonl"].decode().splitlines()
    assert [json.loads(x)["userId"] for x in lines] == ["u1", "u1"]
    assert json.loads(files["MANIFEST.json"])["scope"]["debugId"] == trace


async def test_no_detail_and_filters(store: SQLiteEventStore, tmp_path: Path) -> None:
    """includeDetail=false drops detail; severity, server and user filters narrow the events."""
    await store.append(
        [
            make_event(ts=T0, user_id="u1"),
            make_event(ts=T0, user_id="u2"),
            make_event(ts=T0, code="MCP_CONNECTED"),
            make_event(ts=T0, server="jira"),
        ]
    )
    scope = BundleScope.parse(
        servers=["github"], user_id="u1", severity="warning", include_detail="false", **WINDOW, now=NOW
    )
    files = members((await export(store, tmp_path / "out", scope)).path)
    events = [json.loads(x) for x in files["events/github.jsonl"].decode().splitlines()]
    assert [(e["userId"], e["detail"]) for e in events] == [("u1", None)]
    assert "events/jira.jsonl" not in files


async def test_unwritable_output_directory_is_a_clear_error(store: SQLiteEventStore, tmp_path: Path) -> None:
    """A missing output directory raises BundleOutputError naming it."""
    with pytest.raises(BundleOutputError, match="does not exist or is not writable"):
        await export_bundle(
            store,
            BundleScope.parse(now=NOW),
            out_dir=tmp_path / "missing",
            settings_snapshot={},
            app_version="x",
        )


def test_leak_scan_sees_every_value_of_a_repeated_key(tmp_path: Path) -> None:
    """`{"msg": token, "msg": "ok"}` parses to "ok" alone; the scan still reads the first value."""
    token = "ghp_" + rand(36)
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("events/a.jsonl", f'{{"msg":"{token}","msg":"ok"}}\n')
    with pytest.raises(LeakDetectedError) as caught:
        scan_bundle(path, [])
    assert (caught.value.file, caught.value.rule) == ("events/a.jsonl", "github_token")


class StoreFailingMidway(SQLiteEventStore):
    """A store whose disk goes away after the first chunk of a walk (the boundary, failing for real)."""

    async def iter_json_batches(
        self, query: EventQuery, *, chunk_size: int = 1000
    ) -> AsyncIterator[list[str]]:
        async for batch in super().iter_json_batches(query, chunk_size=chunk_size):
            yield batch
            raise StoreUnavailableError("SQLite store at events.db: disk I/O error")


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_a_store_failing_mid_member_is_a_store_error_and_leaves_nothing(
    tmp_path: Path, helper: bool
) -> None:
    store = StoreFailingMidway(tmp_path / "events.db", clock=FakeClock(NOW))
    await store.ensure_schema()
    await store.append([make_event(ts=T0 + timedelta(seconds=i)) for i in range(1500)])
    out = tmp_path / "out"
    with pytest.raises(BundleStoreError, match="disk I/O error"):
        await export(store, out, scan_helper=helper)
    assert list(out.iterdir()) == []
    await store.close()
